"""Fixtures shared by every tier: a fresh database per test on each dialect.

`db_spec` is parametrized over SQLite, PostgreSQL and MariaDB. Each test gets an
empty database of its own: a file under tmp_path for SQLite, a schema (named on
the connection's search_path) for PostgreSQL, a database for MariaDB, dropped
when the test ends. Under CI=true a server that does not answer fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from jobu.model import DatabaseSpec
from jobu.store import Store, open_store
from tests.servers import MYSQL_URL, POSTGRES_URL, require_server

DIALECTS = ["sqlite", "postgres", "mysql"]


def server_spec(url: str, name: str = "jobs") -> DatabaseSpec:
    """A DatabaseSpec for a test server URL (the test suite's own, not jobu's parser)."""
    parts = urlsplit(url)
    driver = "postgres" if parts.scheme.startswith("postgres") else "mysql"
    return DatabaseSpec(name=name, driver=driver, host=parts.hostname, port=parts.port,
                        user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                        dbname=parts.path.lstrip("/"), pool_size=8, pool_timeout_seconds=10)


def spec_url(spec: DatabaseSpec) -> str:
    """A URL for `spec`, as a user would put in JOBU_DATABASE_URL."""
    if spec.driver == "sqlite":
        return f"sqlite:///{spec.path}"
    scheme = "postgresql" if spec.driver == "postgres" else "mysql"
    url = f"{scheme}://{spec.user}:{spec.password}@{spec.host}:{spec.port}/{spec.dbname}"
    if spec.driver == "postgres" and "options" in spec.options:
        url += "?options=" + spec.options["options"].replace(" ", "%20").replace("=", "%3D")
    return url


def _postgres_admin():
    import psycopg
    spec = server_spec(POSTGRES_URL)
    return psycopg.connect(host=spec.host, port=spec.port, user=spec.user, password=spec.password,
                           dbname=spec.dbname, autocommit=True)


def _mysql_admin():
    import pymysql
    spec = server_spec(MYSQL_URL)
    return pymysql.connect(host=spec.host, port=spec.port, user=spec.user, password=spec.password,
                           autocommit=True)


@pytest.fixture
def fresh_database(tmp_path) -> Iterator:
    """A factory: fresh_database(dialect) -> DatabaseSpec of a new empty database."""
    cleanups = []

    def make(dialect: str) -> DatabaseSpec:
        label = f"t_{uuid.uuid4().hex[:12]}"
        if dialect == "sqlite":
            return DatabaseSpec(name="jobs", driver="sqlite", path=str(tmp_path / f"{label}.db"),
                                pool_size=8, busy_timeout_seconds=30)
        if dialect == "postgres":
            require_server(POSTGRES_URL, "PostgreSQL")
            with _postgres_admin() as admin:
                admin.execute(f"CREATE SCHEMA {label}")
            cleanups.append(lambda: _drop_postgres(label))
            base = server_spec(POSTGRES_URL)
            search_path = {"options": f"-c search_path={label}"}
            return DatabaseSpec(**{**base.__dict__, "options": search_path})
        if dialect == "mysql":
            require_server(MYSQL_URL, "MariaDB")
            admin = _mysql_admin()
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {label}")
            admin.close()
            cleanups.append(lambda: _drop_mysql(label))
            return DatabaseSpec(**{**server_spec(MYSQL_URL).__dict__, "dbname": label})
        raise ValueError(dialect)

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


def _drop_postgres(label: str) -> None:
    with _postgres_admin() as admin:
        admin.execute(f"DROP SCHEMA IF EXISTS {label} CASCADE")


def _drop_mysql(label: str) -> None:
    admin = _mysql_admin()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {label}")
    admin.close()


@pytest.fixture(params=DIALECTS)
def dialect(request) -> str:
    return request.param


@pytest.fixture
def db_spec(dialect, fresh_database) -> DatabaseSpec:
    """An empty database of the test's dialect."""
    return fresh_database(dialect)


@pytest.fixture
def store(db_spec) -> Iterator[Store]:
    """A migrated Store; the test fails if it leaves a connection lent out."""
    store = open_store(db_spec)
    store.migrate()
    yield store
    stats = store.database.pool.stats()
    store.close()
    assert stats["lent"] == 0, f"connections leaked: {stats}"
