"""Versioned schema migrations, one ordered set per dialect.

``sql/<dialect>/migrations/NNNN_name.sql`` files are applied in order and recorded
in ``schema_migrations``. Running ``migrate`` is idempotent and safe from several
hosts at the same moment: PostgreSQL takes an advisory lock and applies everything
in one transaction (its DDL is transactional), SQLite does the same under its
single write lock, and MySQL, whose DDL commits at once, holds a named lock
(GET_LOCK) while it applies one migration at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from jobu.db import Connection, Database
from jobu.errors import SchemaError
from jobu.store.queries import load_queries

FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def split_statements(text: str) -> list[str]:
    """Statements of a migration file: split at a semicolon that ends a line."""
    statements = []
    for chunk in re.split(r";\s*$", text, flags=re.MULTILINE):
        code = "\n".join(line for line in chunk.splitlines()
                         if line.strip() and not line.strip().startswith("--"))
        if code.strip():
            statements.append(code.strip())
    return statements


def load_migrations(dialect: str) -> list[Migration]:
    folder = resources.files("jobu.store").joinpath("sql", dialect, "migrations")
    migrations = []
    for entry in folder.iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match.group(1)), match.group(2),
                                        tuple(split_statements(entry.read_text()))))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"migrations of {dialect} are not numbered 1..n: {versions}")
    return migrations


def applied_versions(db: Database) -> list[int]:
    """The versions recorded in the database (none when the table is not there yet)."""
    queries = load_queries(db.dialect.name)
    try:
        rows = db.run(lambda conn: conn.fetch_all(queries["migration_applied"]), write=False)
    except SchemaError:
        return []
    return [row["version"] for row in rows]


def pending_migrations(db: Database, target: int | None = None) -> list[Migration]:
    """What `migrate` would apply, in order."""
    done = set(applied_versions(db))
    return [m for m in load_migrations(db.dialect.name)
            if m.version not in done and (target is None or m.version <= target)]


def migrate(db: Database, target: int | None = None) -> list[Migration]:
    """Apply the pending migrations (up to `target`); return those applied here."""
    if db.dialect.name == "mysql":
        return _migrate_one_by_one(db, target)
    return db.run(lambda conn: _migrate_in_transaction(conn, target))


def _migrate_in_transaction(conn: Connection, target: int | None) -> list[Migration]:
    queries = load_queries(conn.database.dialect.name)
    conn.execute(queries["migration_lock"])
    conn.execute(queries["migration_table"])
    done = {row["version"] for row in conn.fetch_all(queries["migration_applied"])}
    applied = []
    for migration in load_migrations(conn.database.dialect.name):
        if migration.version in done or (target is not None and migration.version > target):
            continue
        for statement in migration.statements:
            conn.execute(statement)
        conn.execute(queries["migration_record"],
                     {"version": migration.version, "name": migration.name})
        applied.append(migration)
    return applied


def _migrate_one_by_one(db: Database, target: int | None) -> list[Migration]:
    queries = load_queries(db.dialect.name)
    applied = []
    with db.connection() as conn:
        if not conn.fetch_value(queries["migration_lock"]):
            raise SchemaError("another `jobu migrate` held the migration lock for 120 s",
                              database=db.name)
        try:
            conn.execute(queries["migration_table"])
            done = {row["version"] for row in conn.fetch_all(queries["migration_applied"])}
            conn.connection.commit()
            for migration in load_migrations(db.dialect.name):
                if migration.version in done or (target is not None and migration.version > target):
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(queries["migration_record"],
                             {"version": migration.version, "name": migration.name})
                conn.connection.commit()
                applied.append(migration)
        finally:
            conn.fetch_value(queries["migration_unlock"])
            conn.connection.commit()
    return applied
