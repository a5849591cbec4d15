"""Wake-ups from PostgreSQL's LISTEN/NOTIFY, so daemons need not poll.

Inserting executions notifies ``jobu_executions`` (workers listen) and changing a
cron notifies ``jobu_crons`` (dispatchers listen), in the same transaction: the
notification arrives when the change is committed. A Listener holds one dedicated
connection in autocommit mode and waits on its socket and on a pipe of its own,
which stop() writes to, so that stopping it is immediate on every psycopg version
(3.1 has no timeout on notifies()).
On other databases there is nothing to listen to and daemons poll instead, except
that on SQLite, whose writers all share one file on one host, a LocalChangeWatcher
sees every commit of any process (``PRAGMA data_version``) and wakes the worker:
an enqueue starts within milliseconds without a claim query per poll. MySQL/MariaDB
has neither; a RunnableProbe asks it, in one cheap lock-free query every 50 ms,
whether anything is runnable, so a worker starts work within tens of milliseconds
while an idle one costs about 1 % of a CPU (mostly the cost of waking up).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any

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


class _Poller:
    """A thread that asks a question every `interval_seconds` and calls `on_yes()` when the
    answer is yes. `_ask(conn)` asks it on a connection of the poller's own, made by
    `_connect()`; a failure drops the connection, and the next try, a second later, makes
    another (the worker's own poll covers the gap)."""

    thread_name = "jobu-poller"

    def __init__(self, on_yes: Callable[[], None], interval_seconds: float) -> None:
        self._on_yes = on_yes
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)

    def start(self) -> _Poller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5)

    def _connect(self) -> Any:
        raise NotImplementedError

    def _ask(self, conn: Any) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = self._connect()
                yes = self._ask(conn)
            except Exception as error:  # noqa: BLE001 - a driver's error: reconnect later
                log.debug("%s: %s", self.thread_name, error)
                self._close(conn)
                conn = None
                self._stop.wait(1.0)
                continue
            if yes:
                self._on_yes()
            self._stop.wait(self._interval)
        self._close(conn)

    @staticmethod
    def _close(conn: Any) -> None:
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class LocalChangeWatcher(_Poller):
    """Calls `on_change()` when another connection has committed to a SQLite file.

    ``PRAGMA data_version`` on a connection of its own changes whenever any other
    connection, in this process or another, has committed. Reading it costs
    microseconds and takes no lock, so it can be read every few milliseconds where a
    claim query (which takes SQLite's write lock) could not.
    """

    thread_name = "jobu-sqlite-watch"

    def __init__(self, path: str, on_change: Callable[[], None],
                 interval_seconds: float = 0.04) -> None:
        super().__init__(on_change, interval_seconds)
        self._path = path
        self._seen: int | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._seen = conn.execute("PRAGMA data_version").fetchone()[0]
        return conn

    def _ask(self, conn: sqlite3.Connection) -> bool:
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        changed, self._seen = version != self._seen, version
        return changed


class RunnableProbe(_Poller):
    """Calls `on_runnable()` while executions are runnable in `queues` (MySQL/MariaDB).

    Every `interval_seconds` it runs the store's ``execution_runnable_probe`` on a
    connection of its own in autocommit mode: one round trip that takes no lock and opens
    no transaction, about half the cost of the empty claim an idle worker would otherwise
    make. The worker claims when woken.
    """

    thread_name = "jobu-mysql-probe"

    def __init__(self, connect: Callable[[], Any], query: str, queues: Iterable[str],
                 on_runnable: Callable[[], None], interval_seconds: float = 0.05) -> None:
        super().__init__(on_runnable, interval_seconds)
        self._connect_driver = connect
        self._query = query
        self._params = {"queues": tuple(queues)}
        self._statement = ""

    def _connect(self) -> Any:
        conn = self._connect_driver()
        conn.autocommit(True)
        # The statement never changes: rendered once, it is sent as it is (PyMySQL then
        # skips escaping the parameters on each of the twenty probes a second).
        with conn.cursor() as cursor:
            self._statement = cursor.mogrify(self._query, self._params)
        return conn

    def _ask(self, conn: Any) -> bool:
        with conn.cursor() as cursor:
            cursor.execute(self._statement)
            return cursor.fetchone() is not None
