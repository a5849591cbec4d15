"""jobu.db on the real databases: pools, reconnects, transactions and error translation."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from jobu.db import open_database
from jobu.errors import (
    ConnectionPoolExhaustedError,
    DatabaseUnavailableError,
    IntegrityError,
    QueryExecutionError,
    SchemaError,
)
from jobu.model import DatabaseSpec
from tests.conftest import _mysql_admin, _postgres_admin
from tests.servers import wait_until

TABLE = "CREATE TABLE probe (id INTEGER PRIMARY KEY, label VARCHAR(20) UNIQUE)"


def param(dialect: str, name: str) -> str:
    return f":{name}" if dialect == "sqlite" else f"%({name})s"


@pytest.fixture
def database(db_spec):
    db = open_database(db_spec)
    db.run(lambda c: c.execute(TABLE))
    yield db
    db.close()


def test_transaction_commits_or_rolls_back(database, dialect):
    insert = f"INSERT INTO probe (id, label) VALUES ({param(dialect, 'id')}, {param(dialect, 'l')})"
    database.run(lambda c: c.execute(insert, {"id": 1, "l": "kept"}))
    with pytest.raises(RuntimeError), database.transaction() as conn:
        conn.execute(insert, {"id": 2, "l": "rolled back"})
        raise RuntimeError("the block failed")
    labels = database.run(lambda c: [r["label"] for r in c.fetch_all("SELECT label FROM probe")])
    assert labels == ["kept"]
    assert database.pool.stats()["lent"] == 0


def test_driver_errors_become_jobu_errors(database, dialect):
    insert = f"INSERT INTO probe (id, label) VALUES ({param(dialect, 'id')}, 'same')"
    database.run(lambda c: c.execute(insert, {"id": 1}))
    with pytest.raises(IntegrityError) as caught:
        database.run(lambda c: c.execute(insert, {"id": 2}))
    assert caught.value.database == "jobs" and "probe" in caught.value.statement
    with pytest.raises(SchemaError, match="jobu migrate"):
        database.run(lambda c: c.fetch_all("SELECT * FROM no_such_table"))
    with pytest.raises(QueryExecutionError):
        database.run(lambda c: c.execute("THIS IS NOT SQL"))
    assert database.pool.stats()["lent"] == 0


def test_pool_exhaustion_fails_after_the_timeout_instead_of_hanging(db_spec):
    spec = dataclasses.replace(db_spec, pool_size=2, pool_timeout_seconds=0.5)
    db = open_database(spec)
    try:
        with db.transaction(write=False), db.transaction(write=False):
            started = time.monotonic()
            with pytest.raises(ConnectionPoolExhaustedError, match="pool_size"), \
                    db.transaction(write=False):
                pass
            assert time.monotonic() - started < 5
        with db.transaction(write=False) as conn:  # released connections are lent again
            assert conn.fetch_value("SELECT 1 AS one") == 1
    finally:
        db.close()


def test_threads_never_share_a_connection(database):
    seen, lock, barrier = [], threading.Lock(), threading.Barrier(8)

    def work():
        with database.transaction(write=False) as conn:
            barrier.wait(timeout=20)  # all eight hold their connection at the same moment
            with lock:
                seen.append(id(conn.connection))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 8


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_connections_killed_by_the_server_are_replaced(dialect, fresh_database):
    db = open_database(fresh_database(dialect))
    if dialect == "postgres":
        pid_query, admin = "SELECT pg_backend_pid() AS pid", _postgres_admin()
        kill = "SELECT pg_terminate_backend({})"
        alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = {}"
    else:
        pid_query, admin = "SELECT CONNECTION_ID() AS pid", _mysql_admin()
        kill, alive = "KILL {}", "SELECT count(*) FROM information_schema.processlist WHERE id = {}"

    def admin_value(sql):
        if dialect == "postgres":
            row = admin.execute(sql).fetchone()
        else:
            with admin.cursor() as cursor:
                cursor.execute(sql)
                row = cursor.fetchone()
        return row[0] if row else None

    try:
        with db.transaction(write=False) as one, db.transaction(write=False) as two:
            victims = [one.fetch_value(pid_query), two.fetch_value(pid_query)]
        for pid in victims:  # both now sit idle in the pool
            admin_value(kill.format(pid))
        for pid in victims:
            wait_until(lambda pid=pid: admin_value(alive.format(pid)) == 0,
                       message=f"server connection {pid} to end")
        db.pool.ping_after_idle = 0.0
        for _ in range(4):
            assert db.run(lambda c: c.fetch_value("SELECT 1 AS one"), write=False) == 1
        assert db.pool.stats()["lent"] == 0
    finally:
        admin.close()
        db.close()


@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_an_unreachable_server_is_reported_as_unavailable(driver):
    spec = DatabaseSpec(name="down", driver=driver, host="127.0.0.1", port=1, user="x",
                        dbname="x", pool_timeout_seconds=1, connect_timeout_seconds=1)
    db = open_database(spec)
    try:
        with pytest.raises(DatabaseUnavailableError, match="down"):
            db.run(lambda c: c.fetch_value("SELECT 1"))
    finally:
        db.close()


def test_sqlite_runs_with_wal_busy_timeout_and_foreign_keys(fresh_database):
    db = open_database(fresh_database("sqlite"))
    try:
        with db.transaction(write=False) as conn:
            assert conn.fetch_value("PRAGMA journal_mode") == "wal"
            assert conn.fetch_value("PRAGMA foreign_keys") == 1
            assert conn.fetch_value("PRAGMA busy_timeout") == 30000
    finally:
        db.close()


@pytest.mark.parametrize("dialect", ["postgres", "mysql", "sqlite"])
def test_readonly_transactions_refuse_writes(dialect, fresh_database):
    db = open_database(fresh_database(dialect))
    try:
        db.run(lambda c: c.execute(TABLE))
        with pytest.raises(QueryExecutionError, match="read-only"), \
                db.transaction(readonly=True) as conn:
            conn.execute("INSERT INTO probe (id, label) VALUES (1, 'x')")
        with db.transaction() as conn:  # the connection is writable again afterwards
            conn.execute("INSERT INTO probe (id, label) VALUES (1, 'x')")
    finally:
        db.close()
