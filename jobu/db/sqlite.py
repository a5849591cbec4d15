"""SQLite: the embedded default, for one host.

The sqlite3 module runs in autocommit mode (``isolation_level=None``) and jobu
issues BEGIN itself: BEGIN IMMEDIATE for writers, so that concurrent writers wait
on the busy timeout at BEGIN rather than fail later on a lock upgrade, which
SQLite's busy handler cannot wait out. WAL lets readers run beside the writer.

Timestamps are stored as ISO 8601 text in UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``,
which sorts in time order and compares correctly with SQLite's own
``strftime('%Y-%m-%d %H:%M:%f', 'now')`` (millisecond precision).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, date, datetime
from typing import Any

from jobu.db.pool import ConnectionPool
from jobu.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    IntegrityError,
    QueryExecutionError,
    SchemaError,
    TransactionError,
)
from jobu.model import DatabaseSpec

TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
#: Page cache per connection (SQLite's default is 2 MiB), and memory-mapped reads.
CACHE_KIB = 16 * 1024
MMAP_BYTES = 256 * 1024 * 1024


class SqliteDialect:
    name = "sqlite"
    update_returning = True
    supports_notify = False
    supports_two_phase = False
    binary_results = False

    def __init__(self, spec: DatabaseSpec) -> None:
        self.spec = spec
        self._writers: WriterQueue | None = None
        self._holding: set[int] = set()

    def open_pool(self) -> ConnectionPool:
        spec = self.spec
        path = spec.path or ":memory:"
        memory = path == ":memory:"
        if memory:
            # Each connection to ":memory:" would see its own empty database: share one
            # in-memory database between the pool's connections through a named URI.
            target, uri = f"file:jobu-{spec.name}-{id(self)}?mode=memory&cache=shared", True
        else:
            directory = os.path.dirname(path)
            if directory and not os.path.isdir(directory):
                raise DatabaseUnavailableError(
                    f"the directory {directory} of {path} does not exist; create it or "
                    "change path / state_directory in database.yaml", database=spec.name)
            target, uri = path, False
            self._writers = WriterQueue(path, spec.busy_timeout_seconds)

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(target, uri=uri, isolation_level=None,
                                   check_same_thread=False,
                                   timeout=spec.busy_timeout_seconds)
            conn.execute(f"PRAGMA busy_timeout = {int(spec.busy_timeout_seconds * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if not memory:
                conn.execute("PRAGMA journal_mode = WAL")
                # In WAL mode NORMAL is durable against application crashes; only a power
                # loss may roll back the last transactions (SQLite's documented trade-off).
                conn.execute("PRAGMA synchronous = NORMAL")
                # A big history must not push the claim index out of memory: SQLite's default
                # page cache is 2 MiB per connection. Memory-mapped reads share the OS's page
                # cache (no copy per connection) and save a system call per page.
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            return conn

        pool = ConnectionPool(
            name=spec.name, connect=self._guard_connect(connect), close=lambda c: c.close(),
            ping=lambda c: c.execute("SELECT 1").fetchone() is not None,
            # A shared in-memory database locks whole tables without waiting on the busy
            # timeout, so its users queue on one connection instead.
            max_size=1 if memory else spec.pool_size, timeout=spec.pool_timeout_seconds,
            ping_after_idle=float("inf"),  # a local file cannot drop the connection
        )
        if memory:
            # The shared in-memory database lives while one connection to it is open.
            keeper = pool.acquire()
            pool.release(keeper)
        return pool

    def _guard_connect(self, connect):
        def guarded() -> sqlite3.Connection:
            try:
                return connect()
            except sqlite3.Error as exc:
                raise self.translate(exc, None) from exc
        return guarded

    def begin(self, raw: sqlite3.Connection, *, write: bool, readonly: bool) -> None:
        if write and not readonly and self._writers is not None:
            if not self._writers.acquire():
                raise sqlite3.OperationalError(
                    "database is locked (jobu writers queued longer than busy_timeout)")
            self._holding.add(id(raw))
        try:
            raw.execute("BEGIN IMMEDIATE" if write and not readonly else "BEGIN")
        except BaseException:
            self._release(raw)
            raise
        if readonly:
            raw.execute("PRAGMA query_only = ON")

    def commit(self, raw: sqlite3.Connection) -> None:
        try:
            if raw.in_transaction:
                raw.execute("COMMIT")
        finally:
            if not raw.in_transaction:
                self._release(raw)
        raw.execute("PRAGMA query_only = OFF")

    def rollback(self, raw: sqlite3.Connection) -> None:
        try:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
        finally:
            self._release(raw)
        raw.execute("PRAGMA query_only = OFF")

    def _release(self, raw: sqlite3.Connection) -> None:
        if id(raw) in self._holding:
            self._holding.discard(id(raw))
            self._writers.release()

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def translate(self, exc: BaseException, statement: str | None) -> DatabaseError:
        text = str(exc)
        name = self.spec.name
        if isinstance(exc, sqlite3.IntegrityError):
            return IntegrityError(text, database=name, statement=statement)
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                return TransactionError(
                    f"{text} (another writer held the database longer than busy_timeout_seconds)",
                    database=name, statement=statement, transient=True)
            if "unable to open" in text or "disk I/O" in text:
                return DatabaseUnavailableError(text, database=name, statement=statement)
            if "no such table" in text or "no such column" in text:
                return SchemaError(f"{text}; run `jobu migrate`", database=name,
                                   statement=statement)
            if "readonly" in text or "query_only" in text:
                return QueryExecutionError(f"write refused in a read-only transaction: {text}",
                                           database=name, statement=statement)
        return QueryExecutionError(text, database=name, statement=statement)

    def adapt(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r} given to the database; use UTC")
            return value.astimezone(UTC).strftime(TIME_FORMAT)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, list | tuple | set | frozenset):
            # Lists reach SQLite as JSON text, read back with json_each(:param).
            return json.dumps([self.adapt(item) for item in value])
        return value

    def parse_time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        # jobu's text has no offset; naming UTC in the text is the cheap way to an aware
        # datetime (on the claim's path: replace(tzinfo=…) costs five times the parse).
        try:
            parsed = datetime.fromisoformat(value + "+00:00")
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            return parsed
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None:
        return rows[0][0] if rows else None

    def settle_deferred_constraints(self, raw: sqlite3.Connection) -> None:
        """Nothing: SQLite cannot check deferred foreign keys before COMMIT (only scan
        for them, which costs a pass over every table)."""


class WriterQueue:
    """Queues jobu's writers to one SQLite file, across threads and processes, on a lock file.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps
    1, 2, 5, 10 … up to 100 ms between tries. Two busy jobu processes on one file would lose
    most of their time in those sleeps. jobu's writers first take an exclusive lock on
    ``<database>-jobu-lock`` (a thread lock within the process, ``flock`` between
    processes), which passes from one writer to the next within a fraction of a
    millisecond, and so reach BEGIN IMMEDIATE one after the other. Other programs writing
    to the file still meet SQLite's own lock. When the lock file cannot be opened (a
    directory jobu may not write to), writers queue on SQLite's lock alone.
    """

    #: Waits between two tries for the lock file, from the first to the longest.
    FIRST_WAIT_SECONDS = 0.0001
    LONGEST_WAIT_SECONDS = 0.002

    def __init__(self, database_path: str, timeout_seconds: float) -> None:
        self._path = f"{database_path}-jobu-lock"
        self._timeout = timeout_seconds
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._opened = False

    def acquire(self) -> bool:
        """Become the next writer; False after timeout_seconds of waiting."""
        deadline = time.monotonic() + self._timeout
        if not self._thread_lock.acquire(timeout=self._timeout):
            return False
        self._depth += 1
        if self._depth > 1:
            return True  # a second write transaction of the same thread: SQLite decides
        fd = self._file()
        if fd is None:
            return True
        wait = self.FIRST_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._depth -= 1
                    self._thread_lock.release()
                    return False
                time.sleep(wait)
                wait = min(wait * 2, self.LONGEST_WAIT_SECONDS)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def _file(self) -> int | None:
        if not self._opened:
            self._opened = True
            try:
                # Read-only is enough for flock, so a file made by another user still serves.
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                self._fd = None
        return self._fd
