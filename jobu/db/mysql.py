"""MySQL 8 and MariaDB 10.6+ through PyMySQL.

Each connection runs with ``time_zone = '+00:00'`` (timestamps are DATETIME(6) in
UTC, written and read as naive UTC) and READ COMMITTED, which spares a job queue
the gap locks of InnoDB's default REPEATABLE READ.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pymysql

from jobu.db.pool import ConnectionPool
from jobu.errors import (
    DatabaseError,
    DatabaseUnavailableError,
    IntegrityError,
    QueryExecutionError,
    SchemaError,
    TransactionError,
    ValueOutOfRangeError,
)
from jobu.model import DatabaseSpec

TRANSIENT_CODES = {1205, 1213}  # lock wait timeout, deadlock
UNAVAILABLE_CODES = {1040, 1053, 1927, 2002, 2003, 2006, 2013, 2014, 2055}
SCHEMA_CODES = {1146, 1054}  # no such table, unknown column
READ_ONLY_CODES = {1792}
OUT_OF_RANGE_CODES = {1264, 1690}  # out of range value for column, value out of range
XA_UNKNOWN_XID = 1397  # XAER_NOTA: no such XA transaction (or it is still a live session's)


class MysqlDialect:
    name = "mysql"
    update_returning = False
    supports_notify = False
    supports_two_phase = True
    binary_results = False
    tpc_begin_required = True

    def __init__(self, spec: DatabaseSpec) -> None:
        self.spec = spec

    def connect(self) -> pymysql.connections.Connection:
        spec = self.spec
        options = dict(spec.options)
        conn = pymysql.connect(
            host=spec.host or "localhost", port=spec.port or 3306, user=spec.user,
            password=spec.password or "", database=spec.dbname,
            connect_timeout=spec.connect_timeout_seconds, autocommit=False,
            charset="utf8mb4", init_command="SET time_zone = '+00:00'", **options,
        )
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return conn

    def open_pool(self) -> ConnectionPool:
        def connect() -> pymysql.connections.Connection:
            try:
                return self.connect()
            except pymysql.Error as exc:
                error = self.translate(exc, None)
                if isinstance(error, DatabaseUnavailableError):
                    raise error from exc
                # Refused at the door (unknown database, access denied): no connection can
                # be had until the settings or the server change, whatever the error's code.
                reason = exc.args[1] if len(exc.args) > 1 else exc
                raise DatabaseUnavailableError(
                    f"cannot connect to {self.spec.describe()}: {reason}; check the "
                    "settings in database.yaml and the server's users and databases",
                    database=self.spec.name) from exc

        def ping(conn: pymysql.connections.Connection) -> bool:
            conn.ping(reconnect=False)
            return True

        return ConnectionPool(
            name=self.spec.name, connect=connect, close=lambda c: c.close(), ping=ping,
            max_size=self.spec.pool_size, timeout=self.spec.pool_timeout_seconds,
        )

    def begin(self, raw: Any, *, write: bool, readonly: bool) -> None:
        # With autocommit off the server opens a transaction at the first statement;
        # only a read-only one has to be asked for.
        if readonly:
            with raw.cursor() as cursor:
                cursor.execute("START TRANSACTION READ ONLY")

    def commit(self, raw: Any) -> None:
        raw.commit()

    def rollback(self, raw: Any) -> None:
        raw.rollback()

    def is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, pymysql.Error)

    def translate(self, exc: BaseException, statement: str | None) -> DatabaseError:
        name = self.spec.name
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        if code in TRANSIENT_CODES:
            return TransactionError(text, database=name, statement=statement, transient=True)
        if isinstance(exc, pymysql.IntegrityError):
            return IntegrityError(text, database=name, statement=statement)
        if code in OUT_OF_RANGE_CODES:
            return ValueOutOfRangeError(text, database=name, statement=statement)
        if code in SCHEMA_CODES:
            return SchemaError(f"{text}; run `jobu migrate`", database=name, statement=statement)
        if code in READ_ONLY_CODES:
            return QueryExecutionError(f"write refused in a read-only transaction: {text}",
                                       database=name, statement=statement)
        if code in UNAVAILABLE_CODES or isinstance(exc, pymysql.InterfaceError):
            return DatabaseUnavailableError(f"{text or 'connection lost'} ({self.spec.describe()})",
                                            database=name, statement=statement)
        return QueryExecutionError(text, database=name, statement=statement)

    def adapt(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r} given to the database; use UTC")
            return value.astimezone(UTC).replace(tzinfo=None)
        if isinstance(value, list | set | frozenset):
            return tuple(value)  # PyMySQL renders a tuple as (a, b, …) for `IN %(ids)s`
        return value

    def parse_time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # value.replace(tzinfo=UTC), at a third of the cost (on the claim's path).
            return datetime.combine(value, value.time(), UTC)
        return value.astimezone(UTC)

    def insert_id(self, cursor: Any, rows: list[tuple]) -> int | None:
        # INSERT … ON DUPLICATE KEY UPDATE id = id reports 0 rows for a duplicate.
        return cursor.lastrowid if cursor.rowcount > 0 else None

    def settle_deferred_constraints(self, raw: Any) -> None:
        """Nothing to do: InnoDB checks every constraint at the statement."""

    # --- two-phase commit: XA transactions ---------------------------------------------------

    def tpc_probe(self, raw: Any) -> tuple[bool, str]:
        # XA itself needs no privilege; listing prepared transactions for recovery may
        # (MySQL 8: XA_RECOVER_ADMIN), and a branch nobody can recover must not be prepared.
        try:
            self._execute(raw, "XA RECOVER")
        except pymysql.Error as exc:
            return False, (f"XA RECOVER is refused to this user ({exc.args[-1]}); grant it "
                           "(MySQL 8: XA_RECOVER_ADMIN) for two-phase commit")
        finally:
            raw.rollback()
        return True, "MySQL/MariaDB XA transactions"

    def tpc_begin(self, raw: Any, gid: str) -> None:
        # With autocommit off any earlier statement opened a transaction, and XA START
        # must come first ("XAER_OUTSIDE"): end it (it holds no work of this branch).
        raw.rollback()
        self._execute(raw, f"XA START '{gid}'")

    def tpc_prepare(self, raw: Any, gid: str) -> None:
        self._execute(raw, f"XA END '{gid}'")
        self._execute(raw, f"XA PREPARE '{gid}'")

    def tpc_commit_one_phase(self, raw: Any, gid: str) -> None:
        self._execute(raw, f"XA END '{gid}'")
        self._execute(raw, f"XA COMMIT '{gid}' ONE PHASE")

    def tpc_rollback_unprepared(self, raw: Any, gid: str) -> None:
        # It may be ended already (IDLE): the rollback below is what matters.
        with contextlib.suppress(pymysql.OperationalError):
            self._execute(raw, f"XA END '{gid}'")
        self._execute(raw, f"XA ROLLBACK '{gid}'")

    def tpc_finish(self, raw: Any, gid: str, *, commit: bool, own_session: bool) -> bool:
        """XA COMMIT or XA ROLLBACK of a prepared branch; False if the server has none such.

        The session that prepared it finishes it as it is. Any other session must be
        in autocommit mode: with autocommit off the server counts it as inside a
        transaction and answers XAER_OUTSIDE. A branch still attached to a live
        session is unknown to the others (XAER_NOTA), so recovery cannot finish a
        live coordinator's branch behind its back.
        """
        statement = f"XA {'COMMIT' if commit else 'ROLLBACK'} '{gid}'"
        if own_session:
            self._execute(raw, statement)
            return True
        raw.rollback()
        raw.autocommit(True)
        try:
            self._execute(raw, statement)
        except pymysql.OperationalError as exc:
            if exc.args and exc.args[0] == XA_UNKNOWN_XID:
                return False
            raise
        finally:
            raw.autocommit(False)
        return True

    def tpc_recover(self, raw: Any, prefix: str) -> list[str]:
        """The prepared XA transactions of the server whose gid starts with `prefix`.

        XA is server-wide, not per database: the gid's prefix tells jobu's apart.
        """
        try:
            rows = self._execute(raw, "XA RECOVER")
        finally:
            raw.rollback()
        gids = []
        for _format_id, gtrid_length, _bqual_length, data in rows:
            raw_id = data if isinstance(data, bytes) else str(data).encode()
            gid = raw_id[:gtrid_length].decode("ascii", "replace")
            if gid.startswith(prefix):
                gids.append(gid)
        return gids

    @staticmethod
    def _execute(raw: Any, statement: str) -> list[tuple]:
        with raw.cursor() as cursor:
            cursor.execute(statement)
            return list(cursor.fetchall())
