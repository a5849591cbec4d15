"""jobu.db.transactional on SQLite: blocks, nesting, read-only, threads and refusals.

The two-phase path needs servers that can prepare; tests/integration/test_twophase.py
covers it on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from jobu.db import (
    DatabaseRegistry,
    get_connection,
    load_sql,
    transactional,
    transactional_readonly,
    use_databases,
)
from jobu.errors import (
    ConfigError,
    MultiCommitRefusedError,
    PermanentError,
    QueryExecutionError,
    TransactionError,
)
from jobu.model import DatabaseSpec
from jobu.store import open_store


@pytest.fixture
def databases(tmp_path) -> Iterator[DatabaseRegistry]:
    specs = {name: DatabaseSpec(name=name, driver="sqlite", path=str(tmp_path / f"{name}.db"))
             for name in ("one", "two")}
    registry = DatabaseRegistry(specs)
    for name in specs:
        with registry.get(name).transaction() as conn:
            conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
    use_databases(registry)
    yield registry
    use_databases(None)
    for name in specs:
        assert registry.get(name).pool.stats()["lent"] == 0, f"{name}: a connection leaked"
    registry.close()


def labels(registry: DatabaseRegistry, name: str) -> list[str]:
    with registry.get(name).transaction(write=False) as conn:
        return [row["label"] for row in conn.fetch_all("SELECT label FROM items ORDER BY id")]


def add(name: str, label: str) -> None:
    get_connection(name).execute("INSERT INTO items (label) VALUES (:label)", {"label": label})


def test_a_decorated_function_commits_when_it_returns_and_rolls_back_when_it_raises(databases):
    @transactional("one")
    def work(label: str, fail: bool = False) -> str:
        add("one", label)
        if fail:
            raise RuntimeError("the work failed")
        return label

    assert work("kept") == "kept"
    with pytest.raises(RuntimeError):
        work("dropped", fail=True)
    assert labels(databases, "one") == ["kept"]


def test_a_with_block_gives_its_connection_and_get_connection_finds_it(databases):
    with transactional("one") as conn:
        assert get_connection("one") is conn
        conn.execute("INSERT INTO items (label) VALUES (:label)", {"label": "a"})
        assert conn.fetch_value("SELECT COUNT(*) AS n FROM items") == 1
    with transactional_readonly("one", "two") as (one, two):
        assert (one, two) == (get_connection("one"), get_connection("two"))
    assert labels(databases, "one") == ["a"]


def test_get_connection_outside_a_block_or_for_a_database_not_in_it_is_an_error(databases):
    with pytest.raises(TransactionError, match="no transaction is open in this thread"):
        get_connection("one")
    with transactional("one"), pytest.raises(TransactionError, match="does not include 'two'"):
        get_connection("two")


def test_an_inner_block_joins_the_outer_one_and_commits_only_with_it(databases):
    @transactional("one")
    def inner() -> None:
        add("one", "inner")
        assert labels(databases, "one") == [], "the inner block committed on its own"

    with transactional("one") as outer:
        inner()
        assert get_connection("one") is outer
    assert labels(databases, "one") == ["inner"]


def test_an_inner_block_may_add_a_database_to_the_outer_transaction(databases):
    use_databases(databases, allow_best_effort_multi_commit=True)  # two SQLite writers
    with transactional("one"):
        add("one", "outer")
        with transactional("two"):
            add("two", "inner")
        assert get_connection("two") is not None, "still open in the outer transaction"
        assert labels(databases, "two") == []
    assert labels(databases, "one") == ["outer"] and labels(databases, "two") == ["inner"]


def test_a_failed_inner_block_dooms_the_whole_transaction_even_if_caught(databases):
    with pytest.raises(TransactionError, match="an inner transactional block failed") as caught, \
            transactional("one"):
        add("one", "outer")
        try:
            with transactional("one"):
                add("one", "inner")
                raise ValueError("half a step")
        except ValueError:
            pass
    assert isinstance(caught.value.__cause__, ValueError)
    assert labels(databases, "one") == []


def test_a_readonly_block_refuses_writes(databases):
    with pytest.raises(QueryExecutionError, match="read-only"), transactional_readonly("one"):
        add("one", "nope")
    assert labels(databases, "one") == []


def test_readonly_inside_a_writing_block_joins_it_but_writing_inside_readonly_is_refused(
        databases):
    with transactional("one"):
        add("one", "written")
        with transactional_readonly("one") as conn:
            assert conn.fetch_value("SELECT COUNT(*) AS n FROM items") == 1
    refused = "writing transactional block inside a read-only"
    with transactional_readonly("one"), pytest.raises(TransactionError, match=refused), \
            transactional("one"):
        pass
    assert labels(databases, "one") == ["written"]


def test_two_sqlite_writers_are_refused_before_any_work_runs(databases):
    ran = []

    @transactional("one", "two")
    def both() -> None:
        ran.append(True)

    with pytest.raises(MultiCommitRefusedError, match="allow_best_effort_multi_commit") as caught:
        both()
    assert ran == []
    assert isinstance(caught.value, PermanentError), "the worker must not retry it"
    assert "'one', 'two'" in str(caught.value)


def test_a_reader_and_a_writer_need_no_two_phase_commit(databases):
    with transactional_readonly("two"), transactional("one"):
        add("one", "fine")
    assert labels(databases, "one") == ["fine"]


def test_best_effort_commits_two_sqlite_databases_when_allowed(databases):
    use_databases(databases, allow_best_effort_multi_commit=True)
    with transactional("one", "two"):
        add("one", "a")
        add("two", "b")
    with pytest.raises(RuntimeError), transactional("one", "two"):
        add("one", "x")
        add("two", "y")
        raise RuntimeError("rolled back on both")
    assert labels(databases, "one") == ["a"] and labels(databases, "two") == ["b"]


def test_threads_started_inside_a_block_have_no_transaction(databases):
    seen: list[BaseException] = []

    def elsewhere() -> None:
        try:
            get_connection("one")
        except TransactionError as error:
            seen.append(error)

    with transactional("one"):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert len(seen) == 1


def test_names_and_databases_are_checked(databases):
    with pytest.raises(TypeError, match="at least one database"):
        transactional()
    with pytest.raises(TypeError, match="a string or given as a Database"):
        transactional(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no database named 'three'"), transactional("three"):
        pass
    with transactional(databases.get("one")):  # a Database, as ctx.db("one") gives
        add("one", "by object")
    assert labels(databases, "one") == ["by object"]
    use_databases(None)
    with pytest.raises(TransactionError, match="no databases are set up"), transactional("one"):
        pass


def test_a_missing_parameter_is_named(databases):
    with pytest.raises(QueryExecutionError, match="label"), transactional("one") as conn:
        conn.execute("INSERT INTO items (label) VALUES (:label)", {})


def test_load_sql_reads_the_named_statements_beside_a_module(tmp_path):
    module = tmp_path / "orders.py"
    (tmp_path / "orders.sql").write_text(
        "-- name: create\n-- the table\nCREATE TABLE t (id INT);\n\n"
        "-- name: one\nSELECT id FROM t\nWHERE id = :id;\n")
    assert load_sql(module) == {"create": "CREATE TABLE t (id INT)",
                                "one": "SELECT id FROM t\nWHERE id = :id"}
    (tmp_path / "other.sql").write_text("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")
    with pytest.raises(ValueError, match="defined twice"):
        load_sql(module, "other.sql")


def test_the_sqlite_jobs_database_cannot_be_written_beside_another_database(databases,
                                                                             tmp_path):
    jobs = open_store(DatabaseSpec(name="jobs", driver="sqlite", path=str(tmp_path / "one.db")))
    jobs.migrate()
    try:
        use_databases(databases, decision_log=jobs, allow_best_effort_multi_commit=True)
        with pytest.raises(TransactionError, match="the commit decision is written there"), \
                transactional("one", "two"):
            pass
        with transactional("two"):  # alone, it is a database like any other
            add("two", "fine")
    finally:
        jobs.close()
