"""Handlers' toolkit on the real servers: parameters, read-only, pool limits, threads.

tests/integration/test_db.py proves the same properties for jobu.db.Database; these
prove them through what handlers use: transactional, get_connection, ctx.db.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from jobu.db import (
    DatabaseRegistry,
    get_connection,
    transactional,
    transactional_readonly,
    use_databases,
)
from jobu.errors import ConnectionPoolExhaustedError, QueryExecutionError
from jobu.handlers import JobContext

NAME = "target"


@pytest.fixture
def registry(db_spec) -> Iterator[DatabaseRegistry]:
    """The test's database, as a worker gives it to handlers, under the name "target"."""
    databases = DatabaseRegistry({NAME: dataclasses.replace(db_spec, name=NAME)})
    with databases.get(NAME).transaction() as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(40))")
    use_databases(databases)
    yield databases
    use_databases(None)
    assert databases.get(NAME).pool.stats()["lent"] == 0, "a connection leaked"
    databases.close()


def test_parameters_are_named_the_same_way_on_every_database(registry, dialect):
    with transactional(NAME) as conn:
        conn.execute("INSERT INTO notes (id, body) VALUES (:id, :body)", {"id": 1, "body": "50%"})
        conn.execute("INSERT INTO notes (id, body) VALUES (:id, ':not_a_parameter')", {"id": 2})
    with transactional_readonly(NAME):
        conn = get_connection(NAME)
        assert conn.fetch_value("SELECT body FROM notes WHERE body LIKE '%!%' ESCAPE '!' "
                                "AND id = :id", {"id": 1}) == "50%"
        assert conn.fetch_all("SELECT id, body FROM notes WHERE id >= :low ORDER BY id",
                              {"low": 1}) == [{"id": 1, "body": "50%"},
                                              {"id": 2, "body": ":not_a_parameter"}]
        if dialect == "postgres":
            assert conn.fetch_value("SELECT :n::int + 1 AS n", {"n": "41"}) == 42
        with pytest.raises(QueryExecutionError, match=":missing"):
            conn.fetch_value("SELECT :missing AS m", {})


def test_ctx_db_and_transactional_reach_the_same_database(registry):
    ctx = JobContext(execution_id=1, handler_name="h", attempt=1, databases=registry)
    assert ctx.db(NAME) is registry.get(NAME)
    with transactional(ctx.db(NAME)) as conn:
        assert get_connection(NAME) is conn
        conn.execute("INSERT INTO notes (id, body) VALUES (:id, :body)", {"id": 7, "body": "x"})
    with ctx.db(NAME).transaction(write=False) as conn:  # :name here too
        assert conn.fetch_value("SELECT body FROM notes WHERE id = :id", {"id": 7}) == "x"


def test_a_readonly_transaction_refuses_writes(registry):
    with pytest.raises(QueryExecutionError, match="read-only") as caught, \
            transactional_readonly(NAME):
        get_connection(NAME).execute("INSERT INTO notes (id, body) VALUES (1, 'no')")
    assert caught.value.database == NAME and "INSERT INTO notes" in caught.value.statement
    with transactional(NAME) as conn:  # and the pooled connection writes again afterwards
        conn.execute("INSERT INTO notes (id, body) VALUES (1, 'yes')")


def test_more_threads_than_connections_get_pool_exhausted_after_the_timeout(db_spec):
    timeout = 0.5
    spec = dataclasses.replace(db_spec, name=NAME, pool_size=2, pool_timeout_seconds=timeout)
    databases = DatabaseRegistry({NAME: spec})
    use_databases(databases)
    holding, release = threading.Semaphore(0), threading.Event()

    def hold() -> None:
        with transactional_readonly(NAME):
            holding.release()
            release.wait(30)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    try:
        for thread in holders:  # one at a time: each has its connection before the next asks
            thread.start()
            assert holding.acquire(timeout=30)
        started = time.monotonic()
        with pytest.raises(ConnectionPoolExhaustedError, match="pool_size") as caught, \
                transactional_readonly(NAME):
            pass
        waited = time.monotonic() - started
        assert caught.value.database == NAME
        assert timeout * 0.9 <= waited < timeout + 10, "it waits pool_timeout, not for ever"
    finally:
        release.set()
        for thread in holders:
            thread.join()
        use_databases(None)
        assert databases.get(NAME).pool.stats()["lent"] == 0
        databases.close()


def test_eight_threads_in_eight_transactions_never_share_a_connection(registry, dialect):
    connection_id = {"postgres": "SELECT pg_backend_pid() AS id",
                     "mysql": "SELECT CONNECTION_ID() AS id"}.get(dialect)
    barrier, lock = threading.Barrier(8), threading.Lock()
    seen: list[tuple[int, object]] = []
    errors: list[BaseException] = []

    def work(number: int) -> None:
        try:
            # SQLite has one writer at a time: eight at once must be readers there.
            block = transactional_readonly if dialect == "sqlite" else transactional
            with block(NAME) as conn:
                if dialect != "sqlite":
                    conn.execute("INSERT INTO notes (id, body) VALUES (:id, 'mine')",
                                 {"id": number})
                    # Its own uncommitted row, and none of the others'.
                    assert conn.fetch_value("SELECT COUNT(*) AS n FROM notes") == 1
                barrier.wait(timeout=20)  # all eight inside their transaction at once
                server_id = conn.fetch_value(connection_id) if connection_id else None
                assert get_connection(NAME) is conn
                with lock:
                    seen.append((id(conn.connection), server_id))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({raw for raw, _ in seen}) == 8
    if connection_id:
        assert len({server for _, server in seen}) == 8
