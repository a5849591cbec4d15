"""What the sample handlers share: checking their databases, creating their tables."""

from __future__ import annotations

from collections.abc import Mapping

from jobu.db import Database, transactional
from jobu.errors import ConfigError, PermanentError
from jobu.handlers import JobContext

KINDS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}


def require_database(ctx: JobContext, name: str, driver: str) -> Database:
    """The database `name`, which must be a `driver` database; PermanentError if it is not
    configured, or is of another kind: running the job again cannot help."""
    try:
        database = ctx.db(name)
    except ConfigError as error:
        raise PermanentError(
            f"handler {ctx.handler_name} needs a {KINDS[driver]} database named {name!r}: "
            f"add it to database.yaml `databases:` (the shipped file has it commented out) "
            f"and to worker.yaml `databases:` if that lists names ({error})") from error
    if database.dialect.name != driver:
        raise PermanentError(f"handler {ctx.handler_name} needs {name!r} to be a "
                             f"{KINDS[driver]} database; database.yaml makes it "
                             f"{KINDS.get(database.dialect.name, database.dialect.name)}")
    return database


def create_tables(database: str, statements: Mapping[str, str], prefix: str = "create_") -> None:
    """Run the statements named `prefix`… (CREATE TABLE IF NOT EXISTS), in a transaction of
    their own: MySQL commits DDL at once, and refuses it inside a multi-database one."""
    with transactional(database) as conn:
        for name, sql in statements.items():
            if name.startswith(prefix):
                conn.execute(sql)
