"""One named database: a pool, short transactions, and jobu's errors instead of the driver's.

Everything above this module sees :class:`Database` and :class:`Connection` only.
Driver exceptions are translated here (through the dialect) into the
``DatabaseError`` branch of :mod:`jobu.errors`, with the driver's exception kept
as the cause, and a connection that failed at the network level is dropped from
the pool instead of being lent again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from jobu.errors import DatabaseError, DatabaseUnavailableError, TransactionError
from jobu.model import DatabaseSpec

log = logging.getLogger(__name__)

T = TypeVar("T")


class Dialect(Protocol):
    """What differs between SQLite, PostgreSQL and MySQL/MariaDB at the driver level."""

    #: "sqlite", "postgres" or "mysql": also the folder of the dialect's SQL files.
    name: str
    #: The dialect supports UPDATE … RETURNING (MySQL does not; MariaDB has no
    #: UPDATE … RETURNING either, only INSERT/DELETE … RETURNING).
    update_returning: bool
    #: The dialect has LISTEN/NOTIFY (PostgreSQL), so daemons can be woken, not poll.
    supports_notify: bool
    #: The dialect can take part in two-phase commit.
    supports_two_phase: bool

    def open_pool(self) -> Any: ...
    def begin(self, raw: Any, *, write: bool, readonly: bool) -> None: ...
    def commit(self, raw: Any) -> None: ...
    def rollback(self, raw: Any) -> None: ...
    def translate(self, exc: BaseException, statement: str | None) -> DatabaseError: ...
    def is_driver_error(self, exc: BaseException) -> bool: ...
    def adapt(self, value: Any) -> Any: ...
    def parse_time(self, value: Any) -> datetime | None: ...
    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None: ...


class Connection:
    """A pooled connection inside one transaction, lent to one thread.

    Parameters are named, in the dialect's own style (``:name`` for SQLite,
    ``%(name)s`` for PostgreSQL and MySQL). Datetimes are converted to what the
    database stores (UTC), and sequences to the dialect's list form.
    """

    def __init__(self, database: Database, raw: Any) -> None:
        self.database = database
        self.connection = raw  # the raw DB-API connection, for what this class does not cover
        self.broken = False

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = self._run(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self._run(sql, params)
        try:
            rows = self._guard(cursor.fetchall, sql)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in rows]
        finally:
            cursor.close()

    def fetch_one(self, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def fetch_value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        row = self.fetch_one(sql, params)
        return None if row is None else next(iter(row.values()))

    def insert(self, sql: str, params: Mapping[str, Any] | None = None) -> int | None:
        """Run an INSERT and return the new row's id, or None when it inserted nothing.

        PostgreSQL and SQLite statements end in ``RETURNING id``; MySQL has no
        RETURNING, so its id comes from the cursor.
        """
        cursor = self._run(sql, params)
        try:
            rows = self._guard(cursor.fetchall, sql) if cursor.description else []
            return self.database.dialect.insert_id(cursor, rows)
        finally:
            cursor.close()

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> Any:
        adapt = self.database.dialect.adapt
        args = {key: adapt(value) for key, value in params.items()} if params else None
        cursor = self.connection.cursor()
        try:
            if args is None:
                self._guard(lambda: cursor.execute(sql), sql)
            else:
                self._guard(lambda: cursor.execute(sql, args), sql)
        except BaseException:
            cursor.close()
            raise
        return cursor

    def _guard(self, call: Callable[[], T], sql: str | None) -> T:
        try:
            return call()
        except Exception as exc:
            raise self._translated(exc, sql) from exc

    def _translated(self, exc: BaseException, sql: str | None) -> BaseException:
        if isinstance(exc, DatabaseError):
            return exc
        if not self.database.dialect.is_driver_error(exc):
            return exc
        error = self.database.dialect.translate(exc, sql)
        if isinstance(error, DatabaseUnavailableError):
            self.broken = True
        return error


class Database:
    """A named database from database.yaml: a pool and short transactions on it."""

    #: How often a transaction that lost a deadlock or met a busy SQLite is tried.
    transient_attempts = 5

    def __init__(self, spec: DatabaseSpec, dialect: Dialect) -> None:
        self.spec = spec
        self.name = spec.name
        self.dialect = dialect
        self._pool = None
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Database {self.name} {self.spec.describe()}>"

    @property
    def pool(self) -> Any:
        """The pool, opened on first use (so that a daemon can start before its database)."""
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = self._guarded_open()
        return self._pool

    def _guarded_open(self) -> Any:
        try:
            return self.dialect.open_pool()
        except DatabaseError:
            raise
        except Exception as exc:
            if self.dialect.is_driver_error(exc):
                raise self.dialect.translate(exc, None) from exc
            raise

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection outside any transaction jobu manages (for DDL, locks)."""
        raw = self._acquire()
        conn = Connection(self, raw)
        try:
            yield conn
        except BaseException:
            self.pool.release(raw, broken=conn.broken or not self._reset(raw))
            raise
        self.pool.release(raw, broken=conn.broken)

    @contextmanager
    def transaction(self, *, write: bool = True, readonly: bool = False) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        `write` tells SQLite to take the write lock at BEGIN (BEGIN IMMEDIATE), so
        two writers queue on busy_timeout instead of failing on a lock upgrade.
        `readonly` asks the server to refuse writes (PostgreSQL, MySQL).
        """
        raw = self._acquire()
        conn = Connection(self, raw)
        try:
            conn._guard(lambda: self.dialect.begin(raw, write=write, readonly=readonly), "BEGIN")
            yield conn
            conn._guard(lambda: self.dialect.commit(raw), "COMMIT")
        except BaseException as exc:
            if not conn.broken and not self._reset(raw):
                conn.broken = True
            self.pool.release(raw, broken=conn.broken)
            if isinstance(exc, DatabaseError) and exc.statement == "COMMIT":
                raise TransactionError(f"commit failed: {exc}", database=self.name,
                                       transient=exc.transient) from exc
            raise
        self.pool.release(raw, broken=False)

    def run(self, work: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run `work(conn)` in one transaction, again if it loses a deadlock.

        `work` must be safe to repeat: it runs from the start each time, in a new
        transaction, and only the last run's effects are committed.
        """
        for attempt in range(1, self.transient_attempts + 1):
            try:
                with self.transaction(write=write) as conn:
                    return work(conn)
            except DatabaseError as exc:
                if not exc.transient or attempt == self.transient_attempts:
                    raise
                log.debug("database %s: transient conflict (%s); attempt %d again",
                          self.name, exc, attempt)
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def _acquire(self) -> Any:
        try:
            return self.pool.acquire()
        except DatabaseError:
            raise
        except Exception as exc:
            if self.dialect.is_driver_error(exc):
                raise self.dialect.translate(exc, None) from exc
            raise

    def _reset(self, raw: Any) -> bool:
        """Roll back whatever the connection was doing; False if it could not."""
        try:
            self.dialect.rollback(raw)
            return True
        except Exception:  # noqa: BLE001 - a connection that cannot roll back is dropped
            return False
