"""Fresh databases for the benchmarks: a SQLite file, a PostgreSQL schema or a MariaDB database.

The servers are the test servers `make test` provisions, unless JOBU_BENCH_POSTGRES_URL /
JOBU_BENCH_MYSQL_URL name others.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from jobu.model import DatabaseSpec

POSTGRES_URL = os.environ.get("JOBU_BENCH_POSTGRES_URL",
                              "postgresql://jobu_test:jobu_test@127.0.0.1:5432/jobu_test")
MYSQL_URL = os.environ.get("JOBU_BENCH_MYSQL_URL",
                           "mysql://jobu_test:jobu_test@127.0.0.1:3306/jobu_test")


@contextmanager
def fresh_database(dialect: str, folder: Path, *, pool_size: int = 8,
                   busy_timeout_seconds: float = 5.0) -> Iterator[tuple[DatabaseSpec, str]]:
    """A new empty database, dropped afterwards: its spec and the URL a `jobu` process is given."""
    label = f"bench_{uuid.uuid4().hex[:10]}"
    if dialect == "sqlite":
        path = folder / f"{label}.db"
        yield (DatabaseSpec(name="jobs", driver="sqlite", path=str(path), pool_size=pool_size,
                            busy_timeout_seconds=busy_timeout_seconds), f"sqlite:///{path}")
        return
    url = POSTGRES_URL if dialect == "postgres" else MYSQL_URL
    parts = urlsplit(url)
    base = DatabaseSpec(name="jobs", driver=dialect, host=parts.hostname, port=parts.port,
                        user=parts.username, password=parts.password,
                        dbname=parts.path.lstrip("/"), pool_size=pool_size)
    if dialect == "postgres":
        import psycopg
        admin = psycopg.connect(host=base.host, port=base.port, user=base.user,
                                password=base.password, dbname=base.dbname, autocommit=True)
        admin.execute(f"CREATE SCHEMA {label}")
        search_path = f"-c search_path={label}"
        try:
            yield (DatabaseSpec(**{**base.__dict__, "options": {"options": search_path}}),
                   f"{url}?options={quote(search_path)}")
        finally:
            admin.execute(f"DROP SCHEMA {label} CASCADE")
            admin.close()
        return
    import pymysql
    admin = pymysql.connect(host=base.host, port=base.port, user=base.user,
                            password=base.password, autocommit=True)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {label}")
    try:
        yield (DatabaseSpec(**{**base.__dict__, "dbname": label}),
               url.rsplit("/", 1)[0] + f"/{label}")
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {label}")
        admin.close()
