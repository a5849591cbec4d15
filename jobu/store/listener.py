"""Wake-ups from PostgreSQL's LISTEN/NOTIFY, so daemons need not poll.

Inserting executions notifies ``jobu_executions`` (workers listen) and changing a
cron notifies ``jobu_crons`` (dispatchers listen), in the same transaction: the
notification arrives when the change is committed. A Listener holds one dedicated
connection in autocommit mode and waits on its socket and on a pipe of its own,
which stop() writes to, so that stopping it is immediate on every psycopg version
(3.1 has no timeout on notifies()).
On other databases there is nothing to listen to and daemons poll instead.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from collections.abc import Callable, Iterable

from jobu.model import DatabaseSpec

log = logging.getLogger("jobu.listener")

EXECUTIONS_CHANNEL = "jobu_executions"
CRONS_CHANNEL = "jobu_crons"


class Listener:
    """A thread that calls `on_notify(channel, payload)` for each notification.

    It reconnects after a lost connection (calling `on_notify(None, None)` once it
    is back, since notifications sent meanwhile were lost) and stops with stop().
    """

    def __init__(self, spec: DatabaseSpec, channels: Iterable[str],
                 on_notify: Callable[[str | None, str | None], None],
                 reconnect_seconds: float = 2.0) -> None:
        self._spec = spec
        self._channels = tuple(channels)
        self._on_notify = on_notify
        self._reconnect_seconds = reconnect_seconds
        self._stop = threading.Event()
        self._stop_read, self._stop_write = os.pipe()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="jobu-listener", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; returns once the thread has closed its connection."""
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._stop_write, b"x")
        if self._thread.ident is not None:
            self._thread.join(timeout=5)
        if not self._thread.is_alive():
            os.close(self._stop_read)
            os.close(self._stop_write)

    def _run(self) -> None:
        import psycopg

        from jobu.db.postgres import connect_kwargs

        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(**connect_kwargs(self._spec), autocommit=True) as conn:
                    for channel in self._channels:
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    if lost:
                        log.info("listening for notifications again")
                        self._on_notify(None, None)
                    lost = False
                    self._wait_for_notifications(conn)
            except psycopg.Error as error:
                self.listening.clear()
                if not lost:
                    log.warning("lost the notification connection (%s); polling until it is "
                                "back", str(error).strip().splitlines()[0])
                lost = True
                self._stop.wait(self._reconnect_seconds)

    def _wait_for_notifications(self, conn) -> None:
        pgconn = conn.pgconn
        while not self._stop.is_set():
            readable, _, _ = select.select([conn.fileno(), self._stop_read], [], [], 1.0)
            if conn.fileno() not in readable:
                continue
            pgconn.consume_input()  # raises psycopg.OperationalError if the server went away
            while (notify := pgconn.notifies()) is not None:
                self._on_notify(notify.relname.decode(), notify.extra.decode())
