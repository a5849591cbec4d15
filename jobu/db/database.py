"""One named database: a pool, short transactions, and jobu's errors instead of the driver's.

Everything above this module sees :class:`Database` and :class:`Connection` only.
Driver exceptions are translated here (through the dialect) into the
``DatabaseError`` branch of :mod:`jobu.errors`, with the driver's exception kept
as the cause, and a connection that failed at the network level is dropped from
the pool instead of being lent again.

Parameters are named. jobu's own store writes them in each dialect's style (its
SQL files are per dialect); a Database opened for handlers (``named_params``)
takes ``:name`` on every dialect and converts it (see jobu.db.paramstyle).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from jobu.db.paramstyle import to_pyformat
from jobu.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    QueryExecutionError,
    TransactionError,
    ValueOutOfRangeError,
)
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
    #: The driver can ask for results in the server's binary format (psycopg), which it
    #: decodes with less work than text; Connection.fetch_all(binary=True) uses it.
    binary_results: bool

    def open_pool(self) -> Any: ...
    def begin(self, raw: Any, *, write: bool, readonly: bool) -> None: ...
    def commit(self, raw: Any) -> None: ...
    def rollback(self, raw: Any) -> None: ...
    def translate(self, exc: BaseException, statement: str | None) -> DatabaseError: ...
    def is_driver_error(self, exc: BaseException) -> bool: ...
    def adapt(self, value: Any) -> Any: ...
    def parse_time(self, value: Any) -> datetime | None: ...
    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None: ...
    def settle_deferred_constraints(self, raw: Any) -> None: ...


class TwoPhaseDialect(Dialect, Protocol):
    """A dialect whose transactions can be prepared: PostgreSQL and MySQL/MariaDB.

    `gid` is the global transaction id jobu chose (letters, digits and ':' only, so
    it is safe to write into the statement: neither PREPARE TRANSACTION nor XA
    takes a bound parameter). Driver errors propagate; callers translate them.
    """

    #: A branch must be started as two-phase before its first statement (MySQL's
    #: XA START); PostgreSQL can prepare any transaction.
    tpc_begin_required: bool

    def tpc_probe(self, raw: Any) -> tuple[bool, str]: ...
    def tpc_begin(self, raw: Any, gid: str) -> None: ...
    def tpc_prepare(self, raw: Any, gid: str) -> None: ...
    def tpc_commit_one_phase(self, raw: Any, gid: str) -> None: ...
    def tpc_rollback_unprepared(self, raw: Any, gid: str) -> None: ...
    def tpc_finish(self, raw: Any, gid: str, *, commit: bool, own_session: bool) -> bool: ...
    def tpc_recover(self, raw: Any, prefix: str) -> list[str]: ...


class Connection:
    """A pooled connection inside one transaction, lent to one thread.

    Parameters are named: ``:name`` on every database when `named_params` is set
    (handlers' connections), else in the dialect's own style (``:name`` for
    SQLite, ``%(name)s`` for PostgreSQL and MySQL: jobu's store). Datetimes are
    converted to what the database stores (UTC), and sequences to the dialect's
    list form.

    Errors: QueryExecutionError (and its IntegrityError) for a statement the
    database refused, TransactionError for a lost deadlock or a busy SQLite,
    DatabaseUnavailableError when the connection is gone; each names the
    database and carries the statement.
    """

    def __init__(self, database: Database, raw: Any, *, named_params: bool = False) -> None:
        self.database = database
        self.connection = raw  # the raw DB-API connection, for what this class does not cover
        self.named_params = named_params
        self.broken = False

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement; return the number of rows it changed."""
        cursor = self._run(sql, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def fetch_all(self, sql: str, params: Mapping[str, Any] | None = None, *,
                  binary: bool = False) -> list[dict[str, Any]]:
        """The rows of a query, as dicts by column name.

        `binary` asks for the columns in the server's binary format where the driver can
        (PostgreSQL): cheaper to decode for timestamps and numbers, which is worth it on the
        claim's path. Only for columns of types the driver knows (no bytes come back).
        """
        cursor = self._run(sql, params, binary=binary)
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

    def insert_counted(self, sql: str, params: Mapping[str, Any] | None = None,
                       ) -> tuple[int, int | None]:
        """Run a multi-row INSERT without RETURNING (MySQL): the rows it reported, and the
        first id it generated (the cursor's lastrowid), or None if it generated none."""
        cursor = self._run(sql, params)
        try:
            return cursor.rowcount, cursor.lastrowid or None
        finally:
            cursor.close()

    def call(self, action: Callable[[], T], statement: str) -> T:
        """Run `action` (a driver call on the raw connection), with its errors translated."""
        return self._guard(action, statement)

    def _statement(self, sql: str, params: Mapping[str, Any] | None
                   ) -> tuple[str, dict[str, Any] | None]:
        dialect = self.database.dialect
        args = {key: dialect.adapt(value) for key, value in params.items()} if params else None
        if not self.named_params:
            return sql, args
        if dialect.name == "sqlite":
            # sqlite3 takes :name itself, and given a mapping (even an empty one) it names
            # a missing parameter instead of counting bindings.
            return sql, args or {}
        native, names = to_pyformat(sql, dialect.name)
        missing = sorted(names - set(args or ()))
        if missing:
            raise QueryExecutionError(
                "no value given for " + ", ".join(f":{name}" for name in missing),
                database=self.database.name, statement=sql)
        # Always a mapping, even an empty one: the driver then reads the '%%' the
        # conversion wrote as '%'.
        return native, args or {}

    def _run(self, sql: str, params: Mapping[str, Any] | None, *, binary: bool = False) -> Any:
        sql, args = self._statement(sql, params)
        if binary and self.database.dialect.binary_results:
            cursor = self.connection.cursor(binary=True)
        else:
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
        if isinstance(exc, OverflowError):  # sqlite3 binding an int beyond 64 bits
            return ValueOutOfRangeError(f"a value is out of range: {exc}",
                                        database=self.database.name, statement=sql)
        if not self.database.dialect.is_driver_error(exc):
            return exc
        error = self.database.dialect.translate(exc, sql)
        if isinstance(error, DatabaseUnavailableError):
            self.broken = True
        return error


class Database:
    """A named database from database.yaml: a pool and short transactions on it.

    `named_params`: its connections take ``:name`` parameters on every dialect
    (the databases handlers get); otherwise the dialect's own style (jobu's store).
    """

    #: How often a transaction that lost a deadlock or met a busy SQLite is tried.
    transient_attempts = 5

    def __init__(self, spec: DatabaseSpec, dialect: Dialect, *,
                 named_params: bool = False) -> None:
        self.spec = spec
        self.name = spec.name
        self.dialect = dialect
        self.named_params = named_params
        self._pool = None
        self._pool_lock = threading.Lock()
        self._two_phase: tuple[bool, str] | None = None

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
        return self._translating(self.dialect.open_pool)

    def _translating(self, call: Callable[[], T]) -> T:
        """`call()`, with a driver's exception turned into jobu's (no statement involved)."""
        try:
            return call()
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
        conn = Connection(self, raw, named_params=self.named_params)
        try:
            yield conn
        except BaseException:
            self.give_back(conn)
            raise
        self.give_back(conn, reset=False)

    @contextmanager
    def transaction(self, *, write: bool = True, readonly: bool = False) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        `write` tells SQLite to take the write lock at BEGIN (BEGIN IMMEDIATE), so
        two writers queue on busy_timeout instead of failing on a lock upgrade.
        `readonly` asks the server to refuse writes (PostgreSQL, MySQL).
        Raises ConnectionPoolExhaustedError when no connection is free within
        pool_timeout_seconds, TransactionError when the commit fails.
        """
        conn = self.begin(write=write, readonly=readonly)
        try:
            yield conn
            conn.call(lambda: self.dialect.commit(conn.connection), "COMMIT")
        except BaseException as exc:
            self.give_back(conn)
            if isinstance(exc, DatabaseError) and exc.statement == "COMMIT":
                raise TransactionError(f"commit failed: {exc}", database=self.name,
                                       transient=exc.transient) from exc
            raise
        self.give_back(conn, reset=False)

    def begin(self, *, write: bool = True, readonly: bool = False,
              named_params: bool | None = None) -> Connection:
        """Lend a connection and begin a transaction on it; end it with give_back().

        For code that must act between the end of the work and the commit (the
        two-phase commit of jobu.db.commit); everything else uses transaction().
        """
        raw = self._acquire()
        conn = Connection(self, raw, named_params=self.named_params if named_params is None
                          else named_params)
        try:
            conn.call(lambda: self.dialect.begin(raw, write=write, readonly=readonly), "BEGIN")
        except BaseException:
            self.give_back(conn)
            raise
        return conn

    def give_back(self, conn: Connection, *, reset: bool = True) -> None:
        """Return a lent connection to the pool; `reset` rolls back what it left open.

        A connection that failed at the network level, or cannot roll back, is
        closed instead of being lent again.
        """
        broken = conn.broken or (reset and not self._reset(conn.connection))
        self.pool.release(conn.connection, broken=broken)

    def two_phase_capability(self) -> tuple[bool, str]:
        """Whether this database can prepare a transaction, and why (asked once, then kept).

        SQLite never can; PostgreSQL when max_prepared_transactions > 0; MySQL and
        MariaDB when this user may list prepared XA transactions (recovery needs
        it). Raises DatabaseError when the database cannot be asked.
        """
        if self._two_phase is None:
            if not self.dialect.supports_two_phase:
                self._two_phase = (False, "SQLite has no two-phase commit")
            else:
                with self.connection() as conn:
                    self._two_phase = conn.call(
                        lambda: self.dialect.tpc_probe(conn.connection),
                        "two-phase capability")
        return self._two_phase

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
        return self._translating(self.pool.acquire)

    def _reset(self, raw: Any) -> bool:
        """Roll back whatever the connection was doing; False if it could not."""
        try:
            self.dialect.rollback(raw)
            return True
        except Exception:  # noqa: BLE001 - a connection that cannot roll back is dropped
            return False
