"""A small thread-safe connection pool, for the drivers that have none of their own.

PostgreSQL uses psycopg_pool; SQLite and MySQL/MariaDB use this. The pool is
bounded (`max_size`), lends a connection to one thread at a time, waits at most
`timeout` seconds for one to come back, and pings a connection that sat idle
before lending it, so that a server restart costs a reconnect instead of a failed
job.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from jobu.errors import ConnectionPoolExhaustedError


class ConnectionPool:
    """Lend up to `max_size` connections made by `connect`.

    `ping(conn)` returns False (or raises) for a connection that is dead; it is
    called on connections idle for more than `ping_after_idle` seconds (a public
    attribute: tests set it to 0 to ping every time).
    """

    def __init__(self, *, name: str, connect: Callable[[], Any], close: Callable[[Any], None],
                 ping: Callable[[Any], bool], max_size: int, timeout: float,
                 ping_after_idle: float = 1.0) -> None:
        self.name = name
        self._connect = connect
        self._close = close
        self._ping = ping
        self._max_size = max_size
        self._timeout = timeout
        self.ping_after_idle = ping_after_idle
        self._idle: deque[tuple[Any, float]] = deque()  # (connection, monotonic time returned)
        self._lent = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def max_size(self) -> int:
        return self._max_size

    def stats(self) -> dict[str, int]:
        """Counts for health pages and leak checks in tests."""
        with self._cond:
            return {"max_size": self._max_size, "lent": self._lent, "idle": len(self._idle)}

    def acquire(self) -> Any:
        """A connection for this thread's exclusive use; give it back with release()."""
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while True:
                if self._closed:
                    raise ConnectionPoolExhaustedError("the pool is closed", database=self.name)
                if self._idle:
                    conn, returned_at = self._idle.pop()  # the most recently used is warmest
                    self._lent += 1
                    break
                if self._lent < self._max_size:
                    self._lent += 1
                    conn, returned_at = None, 0.0
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConnectionPoolExhaustedError(
                        f"all {self._max_size} connections stayed busy for "
                        f"{self._timeout:g} s (pool_size / pool_timeout_seconds)",
                        database=self.name,
                    )
                self._cond.wait(remaining)
        # Connecting and pinging happen outside the lock: they may take a while.
        try:
            if conn is not None and time.monotonic() - returned_at > self.ping_after_idle:
                conn = self._checked(conn)
            if conn is None:
                conn = self._connect()
        except BaseException:
            self._forget_one()
            raise
        return conn

    def release(self, conn: Any, *, broken: bool = False) -> None:
        """Take back a connection; a broken one is closed instead of kept."""
        with self._cond:
            self._lent -= 1
            if broken or self._closed:
                keep = False
            else:
                self._idle.append((conn, time.monotonic()))
                keep = True
            self._cond.notify()
        if not keep:
            self._close_quietly(conn)

    def close(self) -> None:
        """Close every idle connection; lent ones are closed as they come back."""
        with self._cond:
            self._closed = True
            idle = [conn for conn, _ in self._idle]
            self._idle.clear()
            self._cond.notify_all()
        for conn in idle:
            self._close_quietly(conn)

    def _checked(self, conn: Any) -> Any | None:
        try:
            if self._ping(conn):
                return conn
        except Exception:  # noqa: BLE001 - any failure of a ping means "dead"
            pass
        self._close_quietly(conn)
        return None

    def _forget_one(self) -> None:
        with self._cond:
            self._lent -= 1
            self._cond.notify()

    def _close_quietly(self, conn: Any) -> None:
        # A connection being dropped may already be dead: closing it may fail.
        with contextlib.suppress(Exception):
            self._close(conn)
