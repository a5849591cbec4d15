"""PostgreSQL through psycopg 3 and psycopg_pool.

Connections are not in autocommit mode: psycopg opens a transaction at the first
statement, and jobu commits or rolls back at the end of each block. Timestamps
are ``timestamptz`` and come back as aware datetimes, converted to UTC here.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from jobu.errors import (
    ConnectionPoolExhaustedError,
    DatabaseError,
    DatabaseUnavailableError,
    IntegrityError,
    QueryExecutionError,
    SchemaError,
    TransactionError,
)
from jobu.model import DatabaseSpec

#: SQLSTATEs after which the same transaction may well succeed when run again.
TRANSIENT_STATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available
#: SQLSTATEs that mean the server or the connection went away.
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
        self._pool = psycopg_pool.ConnectionPool(
            "", kwargs=connect_kwargs(spec), min_size=1, max_size=spec.pool_size,
            timeout=spec.pool_timeout_seconds, name=f"jobu-{spec.name}", open=True,
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
        try:
            conn = self._pool.getconn()
        except psycopg_pool.PoolTimeout as exc:
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


class PostgresDialect:
    name = "postgres"
    update_returning = True
    supports_notify = True
    supports_two_phase = True

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
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None:
        return rows[0][0] if rows else None
