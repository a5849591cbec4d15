"""Connections to the databases named in database.yaml, and handlers' transactions.

For handlers (see docs/tutorial.md):

* ``transactional(*names)`` / ``transactional_readonly(*names)``: a transaction
  over one or more databases, as a decorator or a ``with`` block; over several,
  committed atomically by two-phase commit where the databases can prepare
  (jobu.db.transactional, jobu.db.commit);
* ``get_connection(name)``: this thread's connection in that transaction, with
  ``execute``, ``fetch_one``, ``fetch_all``, ``fetch_value``, ``insert`` and the
  raw DB-API ``connection``. Parameters are ``:name`` on every database;
* ``load_sql(__file__)``: the named statements of the ``.sql`` file beside a module.

For jobu itself: ``open_database(spec)`` gives a :class:`Database` with a
thread-safe pool and short transactions whose errors are jobu's own;
``DatabaseRegistry`` the databases of a process by name; ``use_databases``
sets the registry and decision log the toolkit uses; ``recover_in_doubt``
resolves two-phase transactions a crash left prepared. The driver module is
imported only when a database of that kind is opened, so a host that uses only
SQLite never needs psycopg or PyMySQL to be importable.
"""

from __future__ import annotations

from jobu.db.database import Connection, Database, Dialect
from jobu.db.decisions import Branch, Decision, DecisionLog
from jobu.db.recovery import RecoveryReport, recover_in_doubt
from jobu.db.registry import DatabaseRegistry
from jobu.db.sqlfile import load_sql
from jobu.db.transactional import (
    Transactional,
    get_connection,
    transactional,
    transactional_readonly,
    use_databases,
)
from jobu.errors import ConfigError
from jobu.model import DatabaseSpec

__all__ = [
    "Branch", "Connection", "Database", "DatabaseRegistry", "Decision", "DecisionLog", "Dialect",
    "RecoveryReport", "Transactional", "get_connection", "load_sql", "open_database",
    "recover_in_doubt", "transactional", "transactional_readonly", "use_databases",
]


def open_database(spec: DatabaseSpec, *, named_params: bool = False) -> Database:
    """A Database for `spec`; nothing connects until the first transaction.

    `named_params`: its connections take ``:name`` parameters on every dialect
    (handlers' databases); otherwise the dialect's own style (jobu's store).
    """
    if spec.driver == "sqlite":
        from jobu.db.sqlite import SqliteDialect
        return Database(spec, SqliteDialect(spec), named_params=named_params)
    if spec.driver == "postgres":
        from jobu.db.postgres import PostgresDialect
        return Database(spec, PostgresDialect(spec), named_params=named_params)
    if spec.driver == "mysql":
        from jobu.db.mysql import MysqlDialect
        return Database(spec, MysqlDialect(spec), named_params=named_params)
    raise ConfigError(f"database {spec.name!r}: unknown driver {spec.driver!r} "
                      "(expected sqlite, postgres or mysql)")
