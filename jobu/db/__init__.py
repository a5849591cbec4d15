"""Connections to the databases named in database.yaml.

``open_database(spec)`` gives a :class:`Database` with a thread-safe pool and
short transactions whose errors are jobu's own. The driver module is imported
only when a database of that kind is opened, so a host that uses only SQLite
never needs psycopg or PyMySQL to be importable.
"""

from __future__ import annotations

from jobu.db.database import Connection, Database, Dialect
from jobu.db.registry import DatabaseRegistry
from jobu.errors import ConfigError
from jobu.model import DatabaseSpec

__all__ = ["Connection", "Database", "DatabaseRegistry", "Dialect", "open_database"]


def open_database(spec: DatabaseSpec) -> Database:
    """A Database for `spec`; nothing connects until the first transaction."""
    if spec.driver == "sqlite":
        from jobu.db.sqlite import SqliteDialect
        return Database(spec, SqliteDialect(spec))
    if spec.driver == "postgres":
        from jobu.db.postgres import PostgresDialect
        return Database(spec, PostgresDialect(spec))
    if spec.driver == "mysql":
        from jobu.db.mysql import MysqlDialect
        return Database(spec, MysqlDialect(spec))
    raise ConfigError(f"database {spec.name!r}: unknown driver {spec.driver!r} "
                      "(expected sqlite, postgres or mysql)")
