"""PostgreSQL through psycopg 3 and psycopg_pool.

Connections are not in autocommit mode: psycopg opens a transaction at the first
statement, and jobu commits or rolls back at the end of each block. Timestamps
are ``timestamptz`` and come back as aware datetimes, converted to UTC here.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.pq import TransactionStatus

from jobu.errors import (
    ConnectionPoolExhaustedError,
    DatabaseError,
    DatabaseUnavailableError,
    IntegrityError,
    QueryExecutionError,
    SchemaError,
    TransactionError,
    ValueOutOfRangeError,
)
from jobu.model import DatabaseSpec

#: SQLSTATEs after which the same transaction may well succeed when run again.
TRANSIENT_STATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available
#: SQLSTATEs that mean the server or the connection went away.
#: How often a caller waiting for a connection checks whether the server refused the pool's
#: last attempt to connect (then it fails at once, with the server's reason).
CONNECT_CHECK_SECONDS = 0.1
UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}  # shutdown, crash, starting, too many
SCHEMA_STATES = {"42P01", "42703"}  # undefined table, undefined column


def connect_kwargs(spec: DatabaseSpec) -> dict[str, Any]:
    """psycopg keyword arguments for a spec; `options` pass through (sslmode, …)."""
    kwargs: dict[str, Any] = {
        "host": spec.host or "localhost",
        "port": spec.port or 5432,
        "dbname": spec.dbname,
        "user": spec.user,
        "password": spec.password,
        "connect_timeout": max(1, round(spec.connect_timeout_seconds)),
        "application_name": "jobu",
    }
    kwargs.update(spec.options)
    return {key: value for key, value in kwargs.items() if value is not None}


class PsycopgPool:
    """psycopg_pool behind the acquire/release interface jobu's Database uses.

    It adds two things: a ping for a connection that sat idle (psycopg_pool 3.1
    has no check hook), and telling "the pool is busy" from "the server is down",
    which psycopg_pool reports with the same PoolTimeout.
    """

    def __init__(self, spec: DatabaseSpec) -> None:
        #: Seconds a connection may sit idle before it is pinged when lent again.
        self.ping_after_idle = 1.0
        self._spec = spec
        self._returned: dict[int, float] = {}
        self._lent = 0  # counted here: psycopg_pool's own statistics include connections
        self._lock = threading.Lock()  # it is still opening in the background
        #: Why the pool's last attempt to connect failed; None once one succeeds.
        self._connect_error: psycopg.Error | None = None
        self._pool = psycopg_pool.ConnectionPool(
            "", kwargs=connect_kwargs(spec), min_size=1, max_size=spec.pool_size,
            timeout=spec.pool_timeout_seconds, name=f"jobu-{spec.name}", open=True,
            connection_class=_connection_class_reporting_to(self),
        )

    @property
    def max_size(self) -> int:
        return self._spec.pool_size

    def stats(self) -> dict[str, int]:
        with self._lock:
            lent = self._lent
        return {"max_size": self._spec.pool_size, "lent": lent,
                "idle": self._pool.get_stats().get("pool_available", 0)}

    def acquire(self) -> psycopg.Connection:
        """A connection of the pool; DatabaseUnavailableError at once (within a tenth of a
        second) when the server refuses connections and the pool holds none, with the
        server's reason, instead of after pool_timeout_seconds."""
        deadline = time.monotonic() + self._spec.pool_timeout_seconds
        while True:
            try:
                conn = self._pool.getconn(timeout=max(0.01, min(
                    CONNECT_CHECK_SECONDS, deadline - time.monotonic())))
                break
            except psycopg_pool.PoolTimeout as exc:
                refused = self._refused()
                if refused is not None:
                    raise refused from exc
                if time.monotonic() >= deadline:
                    raise self._timeout_error() from exc
        with self._lock:
            returned = self._returned.pop(id(conn), None)
        if returned is not None and time.monotonic() - returned > self.ping_after_idle:
            try:
                conn.execute("SELECT 1")
                conn.rollback()
            except psycopg.Error:
                self._pool.putconn(conn)  # closed or broken: the pool discards it
                return self.acquire()
        with self._lock:
            self._lent += 1
        return conn

    def release(self, conn: psycopg.Connection, *, broken: bool = False) -> None:
        if broken and not conn.closed:
            conn.close()
        with self._lock:
            self._lent -= 1
            if not conn.closed:
                self._returned[id(conn)] = time.monotonic()
        self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.close()

    def connect_finished(self, error: psycopg.Error | None) -> None:
        """Called by the pool's connections: how the last attempt to connect ended."""
        self._connect_error = error

    def _refused(self) -> DatabaseError | None:
        """The error to raise when the server refused the pool's last attempt to connect and
        no connection of the pool can come back: none is lent and none is idle."""
        error = self._connect_error
        if error is None:
            return None
        with self._lock:
            lent = self._lent
        if lent or self._pool.get_stats().get("pool_available", 0):
            return None
        reason = " ".join(str(error).split())
        return DatabaseUnavailableError(
            f"cannot connect to {self._spec.describe()}: {reason}; check that PostgreSQL runs "
            "and the settings in database.yaml", database=self._spec.name)

    def _timeout_error(self) -> DatabaseError:
        stats = self._pool.get_stats()
        if stats.get("pool_size", 0) < self._spec.pool_size:
            # The pool had room to grow and still produced no connection: the
            # server did not accept one in time.
            return DatabaseUnavailableError(
                f"no connection to {self._spec.describe()} within "
                f"{self._spec.pool_timeout_seconds:g} s; check that PostgreSQL runs and the "
                "settings in database.yaml",
                database=self._spec.name)
        return ConnectionPoolExhaustedError(
            f"all {self._spec.pool_size} connections stayed busy for "
            f"{self._spec.pool_timeout_seconds:g} s (pool_size / pool_timeout_seconds)",
            database=self._spec.name)


def _connection_class_reporting_to(pool: PsycopgPool) -> type[psycopg.Connection]:
    """A psycopg Connection class that tells `pool` how each attempt to connect ended, so
    that the pool can answer with the server's reason at once (psycopg_pool only retries)."""

    class ReportingConnection(psycopg.Connection):  # type: ignore[type-arg]
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            try:
                conn = super().connect(*args, **kwargs)
            except psycopg.Error as error:
                pool.connect_finished(error)
                raise
            pool.connect_finished(None)
            return conn
    return ReportingConnection


class _QuietPoolConnectErrors(logging.Filter):
    """Drops psycopg_pool's "error connecting in 'jobu-…'" warnings, repeated at each retry:
    jobu reports the failure itself, once, with what to do (PsycopgPool.acquire)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # psycopg_pool 3.2+ logs with arguments, 3.1 (Debian 12) an f-string.
        return not record.getMessage().startswith("error connecting in 'jobu-")


logging.getLogger("psycopg.pool").addFilter(_QuietPoolConnectErrors())


class PostgresDialect:
    name = "postgres"
    update_returning = True
    supports_notify = True
    supports_two_phase = True
    binary_results = True
    tpc_begin_required = False

    def __init__(self, spec: DatabaseSpec) -> None:
        self.spec = spec

    def open_pool(self) -> PsycopgPool:
        return PsycopgPool(self.spec)

    def begin(self, raw: psycopg.Connection, *, write: bool, readonly: bool) -> None:
        if readonly:
            raw.execute("SET TRANSACTION READ ONLY")

    def commit(self, raw: psycopg.Connection) -> None:
        raw.commit()

    def rollback(self, raw: psycopg.Connection) -> None:
        raw.rollback()

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.Error | psycopg_pool.PoolTimeout)

    def translate(self, exc: BaseException, statement: str | None) -> DatabaseError:
        name = self.spec.name
        state = getattr(exc, "sqlstate", None)
        text = str(exc).strip()
        if isinstance(exc, psycopg_pool.PoolTimeout):
            return ConnectionPoolExhaustedError(text, database=name)
        if state in TRANSIENT_STATES:
            return TransactionError(text, database=name, statement=statement, transient=True)
        if isinstance(exc, psycopg.IntegrityError):
            return IntegrityError(text, database=name, statement=statement)
        if state == "22003":  # numeric value out of range
            return ValueOutOfRangeError(text, database=name, statement=statement)
        if state in SCHEMA_STATES:
            return SchemaError(f"{text}; run `jobu migrate`", database=name, statement=statement)
        if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
            return QueryExecutionError(f"write refused in a read-only transaction: {text}",
                                       database=name, statement=statement)
        if (state in UNAVAILABLE_STATES or (state or "").startswith("08")
                or (state is None and isinstance(exc, psycopg.OperationalError
                                                 | psycopg.InterfaceError))):
            return DatabaseUnavailableError(
                f"{text or 'connection lost'} ({self.spec.describe()})",
                database=name, statement=statement)
        return QueryExecutionError(text, database=name, statement=statement)

    def adapt(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; use UTC")
        if isinstance(value, tuple | set | frozenset):
            return list(value)  # psycopg sends lists as arrays: `= ANY(%(ids)s)`
        return value

    def parse_time(self, value: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None:
        return rows[0][0] if rows else None

    def settle_deferred_constraints(self, raw: psycopg.Connection) -> None:
        """Check deferred constraints now: a violation then fails here, while every
        participant of a two-phase commit can still roll back, not at COMMIT."""
        raw.execute("SET CONSTRAINTS ALL IMMEDIATE")

    # --- two-phase commit: prepared transactions -------------------------------------------

    def tpc_probe(self, raw: psycopg.Connection) -> tuple[bool, str]:
        try:
            row = raw.execute("SELECT current_setting('max_prepared_transactions')::int").fetchone()
        finally:
            raw.rollback()
        slots = row[0] if row else 0
        if slots > 0:
            return True, f"PostgreSQL prepared transactions (max_prepared_transactions = {slots})"
        return False, ("PostgreSQL with max_prepared_transactions = 0: set it above 0 (and "
                       "restart the server) for two-phase commit")

    def tpc_begin(self, raw: psycopg.Connection, gid: str) -> None:
        """Nothing: PREPARE TRANSACTION works on any transaction."""

    def tpc_prepare(self, raw: psycopg.Connection, gid: str) -> None:
        # Deferred constraints are checked here; a failure rolls the transaction back.
        raw.execute(sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(gid)))

    def tpc_commit_one_phase(self, raw: psycopg.Connection, gid: str) -> None:
        raw.commit()

    def tpc_rollback_unprepared(self, raw: psycopg.Connection, gid: str) -> None:
        raw.rollback()

    def tpc_finish(self, raw: psycopg.Connection, gid: str, *, commit: bool,
                   own_session: bool) -> bool:
        """COMMIT or ROLLBACK PREPARED; False when no such prepared transaction exists.

        A prepared transaction belongs to the database, not the session, so any
        session can finish it; but not from inside a transaction block, hence
        autocommit for the one statement.
        """
        if raw.info.transaction_status != TransactionStatus.IDLE:
            raw.rollback()
        verb = "COMMIT PREPARED {}" if commit else "ROLLBACK PREPARED {}"
        raw.autocommit = True
        try:
            raw.execute(sql.SQL(verb).format(sql.Literal(gid)))
        except pg_errors.UndefinedObject:
            return False
        finally:
            raw.autocommit = False
        return True

    def tpc_recover(self, raw: psycopg.Connection, prefix: str) -> list[str]:
        """The prepared transactions of this database whose gid starts with `prefix`."""
        try:
            rows = raw.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                "AND starts_with(gid, %s) ORDER BY prepared", (prefix,)).fetchall()
        finally:
            raw.rollback()
        return [row[0] for row in rows]
