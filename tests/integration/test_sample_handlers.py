"""The nine sample handlers of handlers/, run by the real worker against real databases.

The configuration is the example's: database.yaml names `default` (SQLite, jobu's own
database), `sqlite_2` (SQLite), `postgres_1` (PostgreSQL) and `mysql_1` (MariaDB), each a
fresh database of this test; worker.yaml loads handler_modules [handlers]. The worker is
built and started as `jobu worker` builds it (recovery, then the Worker service), and
driven pass by pass with run_once. Each handler runs twice and must end SUCCESS with the
result its docstring documents both times.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from jobu.cli.worker import build_worker, load_handlers
from jobu.config import load_config
from jobu.db import use_databases
from jobu.model import DatabaseSpec, Execution, NewExecution, Status
from jobu.operations.recovery import recover_at_daemon_start
from jobu.store import open_store
from tests.servers import wait_until

ITEMS = [{"name": "apple", "quantity": 3}, {"name": "pear", "quantity": 5}]
NUMBERS = {"count": 100, "sum": 5050}

#: Each handler, and the results of its first and second run.
EXPECTED: dict[str, tuple[Any, Any]] = {
    "sqlite_crud": ({"database": "default", "items": ITEMS, "deleted": 1},) * 2,
    "postgres_crud": ({"database": "postgres_1", "items": ITEMS, "deleted": 1},) * 2,
    "mysql_crud": ({"database": "mysql_1", "items": ITEMS, "deleted": 1},) * 2,
    "sync_sqlite_to_postgres": ({"copied": 3, "in_postgres": 3},
                                {"copied": 0, "in_postgres": 3}),
    "sync_postgres_to_mysql": ({"copied": 4, "in_mysql": 4}, {"copied": 0, "in_mysql": 4}),
    "multi_db_report": ({"offices": {"default": 2000, "sqlite_2": 2000, "postgres_1": 2000,
                                     "mysql_1": 2000}, "total_cents": 8000},) * 2,
    "service_layer": ({"order_key": "restock-demo", "placed": True, "stock": 97},
                      {"order_key": "restock-demo", "placed": False, "stock": 97}),
    "do_work_pattern": ({"processed": 25, "done": 25}, {"processed": 0, "done": 25}),
    "concurrent_queries": ({"sqlite_2": NUMBERS, "postgres_1": NUMBERS, "mysql_1": NUMBERS},) * 2,
}


def database_entry(spec: DatabaseSpec) -> dict[str, Any]:
    """A database.yaml entry for a test database."""
    if spec.driver == "sqlite":
        return {"driver": "sqlite", "path": spec.path}
    entry = {"driver": spec.driver, "host": spec.host, "port": spec.port, "user": spec.user,
             "password": spec.password, "dbname": spec.dbname}
    if spec.options:
        entry["options"] = dict(spec.options)
    return entry


def write_config(directory: Path, databases: dict[str, DatabaseSpec]) -> None:
    (directory / "database.yaml").write_text(yaml.safe_dump({
        "state_directory": str(directory),
        "jobs_database": "default",
        "databases": {name: database_entry(spec) for name, spec in databases.items()},
    }))
    (directory / "worker.yaml").write_text(yaml.safe_dump({
        "handler_modules": ["handlers"], "pool_size": 4, "poll_interval_seconds": 0.1,
    }))


@pytest.fixture
def worker_for(tmp_path) -> Iterator[Callable[[dict[str, DatabaseSpec]], Callable]]:
    """A factory: worker_for(databases) -> run(handler, params) -> the finished Execution."""
    stops: list[Callable[[], None]] = []

    def start(databases: dict[str, DatabaseSpec]) -> Callable[..., Execution]:
        config_dir = tmp_path / f"etc{len(stops)}"
        config_dir.mkdir()
        write_config(config_dir, databases)
        config = load_config(config_dir, environ={})
        store = open_store(config.jobs_database)
        store.migrate()
        recover_at_daemon_start(config, store)
        worker = build_worker(config, store, threading.Event(), registry=load_handlers(config))

        def stop() -> None:
            worker.shutdown(threading.Event())
            use_databases(None)
            worker.executor.databases.close()
            store.close()
        stops.append(stop)

        def run(handler: str, params: dict[str, Any] | None = None) -> Execution:
            execution_id = store.execution_insert(NewExecution(handler_name=handler,
                                                               params=params or {}))

            def finished() -> Execution | None:
                worker.run_once(datetime.now(UTC))
                execution = store.execution_get(execution_id)
                return execution if execution.status.is_final else None
            return wait_until(finished, timeout=60, interval=0.05,
                              message=f"{handler} to finish")
        return run

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def sample_databases(fresh_database) -> dict[str, DatabaseSpec]:
    return {"default": fresh_database("sqlite"), "sqlite_2": fresh_database("sqlite"),
            "postgres_1": fresh_database("postgres"), "mysql_1": fresh_database("mysql")}


@pytest.mark.parametrize("handler", list(EXPECTED))
def test_each_sample_succeeds_twice_with_its_documented_result(worker_for, sample_databases,
                                                               handler):
    run = worker_for(sample_databases)
    for attempt, expected in enumerate(EXPECTED[handler], start=1):
        execution = run(handler)
        assert execution.status is Status.SUCCESS, \
            f"run {attempt}: {execution.status} {execution.error_message}"
        assert execution.result == expected, f"run {attempt}"


@pytest.mark.parametrize(("handler", "says"), [
    ("postgres_crud", "needs a PostgreSQL database named 'postgres_1'"),
    ("sync_postgres_to_mysql", "needs a PostgreSQL database named 'postgres_1'"),
    ("concurrent_queries", "needs a SQLite database named 'sqlite_2'"),
])
def test_a_sample_whose_database_is_not_configured_fails_at_once_saying_so(
        worker_for, fresh_database, handler, says):
    run = worker_for({"default": fresh_database("sqlite")})
    execution = run(handler)
    assert execution.status is Status.FAILED and execution.attempt == 1
    assert says in execution.error_message and "database.yaml" in execution.error_message


def test_a_sample_database_of_the_wrong_kind_is_named(worker_for, fresh_database):
    run = worker_for({"default": fresh_database("sqlite"), "postgres_1": fresh_database("sqlite")})
    execution = run("postgres_crud")
    assert execution.status is Status.FAILED
    assert "needs 'postgres_1' to be a PostgreSQL database" in execution.error_message
