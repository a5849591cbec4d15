"""jobu.Client, the Python API, against SQLite, PostgreSQL and MariaDB.

`store` (tests/conftest.py) migrates a fresh database of the test's dialect; the client under
test connects to it by URL, as a program using jobu would, and the store is used to look at the
rows it wrote.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import jobu
import jobu.operations.enqueuing
import jobu.validation
from jobu import Client
from jobu.errors import DatabaseError, ExecutionNotFoundError, InvalidInputError
from jobu.model import ExecutionFilter, Isolation, ParamSource, Status
from tests.conftest import spec_url


@pytest.fixture
def client(store, db_spec):
    with Client(database_url=spec_url(db_spec)) as client:
        yield client


def all_rows(store):
    return store.execution_list(ExecutionFilter(), limit=1000).items


def test_client_is_importable_from_the_package():
    assert jobu.Client is Client


def test_enqueue_returns_an_id_and_get_returns_the_execution_as_given(client, store):
    run_after = datetime(2030, 5, 17, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    execution_id = client.enqueue(
        "send_report", {"to": "ops", "pages": [1, 2], "draft": False, "note": None},
        priority=7, queue="reports", max_retry=3, retry_backoff_seconds=2.5,
        timeout_seconds=90.5, run_after=run_after, dedupe_key="report-2030-05-17",
        isolation="process")

    assert isinstance(execution_id, int)
    execution = client.get(execution_id)
    assert execution.id == execution_id
    assert execution.handler_name == "send_report"
    assert execution.params == {"to": "ops", "pages": [1, 2], "draft": False, "note": None}
    assert execution.param_source is ParamSource.MANUAL
    assert execution.job_id is None
    assert execution.cron_name is None
    assert execution.status is Status.PENDING
    assert execution.attempt == 0
    assert execution.priority == 7
    assert execution.queue == "reports"
    assert execution.max_retry == 3
    assert execution.retry_backoff_seconds == 2.5
    assert execution.timeout_seconds == 90.5
    assert execution.run_after == run_after
    assert execution.run_after.utcoffset() == timedelta(0), "times come back in UTC"
    assert execution.dedupe_key == "report-2030-05-17"
    assert execution.isolation is Isolation.PROCESS
    # The store reads the same row.
    assert store.execution_get(execution_id) == execution


def test_enqueue_defaults(client, store):
    before = store.database_now()
    execution = client.get(client.enqueue("noop"))

    assert execution.params == {}
    assert execution.priority == 0
    assert execution.queue == "default"
    assert execution.max_retry == 0
    assert execution.retry_backoff_seconds == 10.0
    assert execution.timeout_seconds is None
    assert execution.dedupe_key is None
    assert execution.isolation is Isolation.THREAD
    assert execution.status is Status.PENDING
    # No run_after means "now", by the database's clock: claimable at once.
    assert before - timedelta(seconds=1) <= execution.run_after <= store.database_now()
    [claimed] = store.execution_claim("w1", ["default"], 5, 30)
    assert claimed.id == execution.id


def test_enqueue_accepts_the_isolation_enum_and_a_none_params(client):
    execution = client.get(client.enqueue("noop", None, isolation=Isolation.PROCESS))
    assert execution.params == {}
    assert execution.isolation is Isolation.PROCESS


def test_enqueue_many_creates_one_execution_per_params_with_shared_options(client, store):
    ids = client.enqueue_many("resize", [{"image": 1}, {"image": 2}, None],
                              priority=3, queue="images", max_retry=2)

    assert len(ids) == 3 and len(set(ids)) == 3
    executions = [client.get(i) for i in ids]
    assert [e.params for e in executions] == [{"image": 1}, {"image": 2}, {}]
    assert {(e.handler_name, e.priority, e.queue, e.max_retry) for e in executions} == {
        ("resize", 3, "images", 2)}
    assert sorted(e.id for e in all_rows(store)) == sorted(ids)


def test_enqueue_many_of_nothing_inserts_nothing(client, store):
    assert client.enqueue_many("resize", []) == []
    assert all_rows(store) == []


def test_enqueue_many_is_one_transaction(client, store):
    client.enqueue("before")
    # The first two are valid and would be inserted first; the third cannot be stored as JSON,
    # so the transaction inserts none of them.
    with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
        client.enqueue_many("resize", [{"image": 1}, {"image": 2}, {"ids": {1, 2}}])
    with pytest.raises(InvalidInputError, match="not JSON-serialisable"):
        client.enqueue_many("resize", [{"image": 1}, {"ratio": math.nan}])

    assert [e.handler_name for e in all_rows(store)] == ["before"]


def test_enqueue_many_is_bounded(client, store, monkeypatch):
    monkeypatch.setattr(jobu.operations.enqueuing, "MAX_ENQUEUE_COUNT", 3)
    monkeypatch.setattr(jobu.validation, "MAX_ENQUEUE_COUNT", 3)
    assert len(client.enqueue_many("resize", [{"image": n} for n in range(3)])) == 3
    endless = ({"image": n} for n in itertools.count())  # read no further than the limit
    with pytest.raises(InvalidInputError, match=r"^len\(params_list\) must be at most 3, got 4"):
        client.enqueue_many("resize", endless)
    assert next(endless) == {"image": 4}
    assert len(all_rows(store)) == 3


def test_enqueue_many_checks_every_item_before_writing(client, store):
    with pytest.raises(InvalidInputError, match="params must be a mapping"):
        client.enqueue_many("resize", [{"image": 1}, ["not", "a", "mapping"]])
    with pytest.raises(InvalidInputError, match="dedupe_key"):
        client.enqueue_many("resize", [{"image": 1}], dedupe_key="k")
    assert all_rows(store) == []


def test_dedupe_key_makes_enqueue_idempotent(client, store):
    first = client.enqueue("charge", {"order": 42}, dedupe_key="order-42")
    again = client.enqueue("charge", {"order": 42}, dedupe_key="order-42")
    # The key wins even if the rest differs: the first execution is the one that exists.
    third = client.enqueue("charge", {"order": 43}, priority=9, dedupe_key="order-42")
    other = client.enqueue("charge", {"order": 43}, dedupe_key="order-43")

    assert first == again == third
    assert other != first
    assert client.get(first).params == {"order": 42}
    assert sorted(e.id for e in all_rows(store)) == sorted([first, other])


def test_the_same_dedupe_key_from_two_clients_makes_one_row(store, db_spec):
    url = spec_url(db_spec)
    with Client(database_url=url) as one, Client(database_url=url) as two:
        assert one.enqueue("charge", dedupe_key="k") == two.enqueue("charge", dedupe_key="k")
    assert len(all_rows(store)) == 1


@pytest.mark.parametrize(("handler", "params", "options", "match"), [
    ("send report", {}, {}, "handler name 'send report' is not valid"),
    ("", {}, {}, "handler name '' is not valid"),
    ("report", {}, {"max_retry": -1}, "max_retry must be at least 0, got -1"),
    ("report", {}, {"queue": "a b"}, "queue name 'a b' is not valid"),
    ("report", {}, {"timeout_seconds": 0}, "timeout must be more than 0 seconds"),
    ("report", {}, {"run_after": datetime(2030, 1, 1)}, "run_after must be timezone-aware"),
    ("report", {}, {"isolation": "fork"}, "isolation must be 'thread' or 'process'"),
    ("report", [1, 2], {}, "params must be a mapping, got list"),
    ("report", "{}", {}, "params must be a mapping, got str"),
    ("report", {"s": {1}}, {}, "params is not JSON-serialisable"),
])
def test_invalid_input_is_refused_and_nothing_is_inserted(client, store, handler, params,
                                                          options, match):
    with pytest.raises(InvalidInputError, match=match) as excinfo:
        client.enqueue(handler, params, **options)
    assert isinstance(excinfo.value, ValueError)
    assert all_rows(store) == []


# Fails on every dialect: check_execution_options lets NaN and infinity through (NaN compares
# false with 0), so SQLite stores a NaN timeout as NULL (no timeout at all), PostgreSQL stores
# NaN, and MariaDB refuses with a QueryExecutionError instead of the InvalidInputError the
# client promises for bad input.
@pytest.mark.parametrize("timeout", [math.nan, math.inf], ids=["nan", "inf"])
def test_a_non_finite_timeout_is_refused(client, store, timeout):
    with pytest.raises(InvalidInputError, match="timeout"):
        client.enqueue("report", timeout_seconds=timeout)
    assert all_rows(store) == []


def test_get_of_an_unknown_id_raises_not_found(client):
    with pytest.raises(ExecutionNotFoundError, match="no execution with id 987654"):
        client.get(987654)


def test_client_reads_the_jobs_database_from_a_config_dir(store, db_spec, tmp_path, monkeypatch):
    # Nothing from the caller's environment may point the client elsewhere.
    monkeypatch.delenv("JOBU_DATABASE_URL", raising=False)
    monkeypatch.delenv("JOBU_CONFIG_DIR", raising=False)
    monkeypatch.setenv("JOBU_STATE_DIR", str(tmp_path / "state"))
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "database.yaml").write_text(
        "jobs_database: main\n"
        "databases:\n"
        "  unused:\n"
        "    driver: sqlite\n"
        "    path: unused.db\n"
        "  main:\n"
        f"    url: '{spec_url(db_spec)}'\n"
        "    pool_size: 2\n", encoding="utf-8")

    with Client(config_dir=config_dir) as client:
        execution_id = client.enqueue("from_config", {"x": 1})
        assert client.get(execution_id).params == {"x": 1}
    with Client(config_dir=str(config_dir)) as client:  # a str does as well as a Path
        assert client.get(execution_id).handler_name == "from_config"
    assert [e.id for e in all_rows(store)] == [execution_id]
    assert not (tmp_path / "state" / "unused.db").exists()


def test_client_config_dir_with_a_bad_config_raises_config_error(tmp_path, monkeypatch):
    from jobu.errors import ConfigError
    monkeypatch.delenv("JOBU_DATABASE_URL", raising=False)
    (tmp_path / "database.yaml").write_text("jobs_database: missing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="database.yaml"):
        Client(config_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        Client(config_dir=Path(tmp_path / "nowhere"))


def test_context_manager_closes_the_client(store, db_spec):
    with Client(database_url=spec_url(db_spec)) as client:
        execution_id = client.enqueue("noop")
        assert client.get(execution_id).id == execution_id
    with pytest.raises(DatabaseError):
        client.get(execution_id)
    with pytest.raises(DatabaseError):
        client.enqueue("noop")
    assert [e.id for e in all_rows(store)] == [execution_id]


def test_the_context_manager_closes_the_client_when_the_block_raises(store, db_spec):
    with pytest.raises(RuntimeError, match="boom"), Client(
            database_url=spec_url(db_spec)) as client:
        client.enqueue("noop")
        raise RuntimeError("boom")
    with pytest.raises(DatabaseError):
        client.enqueue("noop")
    assert len(all_rows(store)) == 1


def test_close_is_idempotent(store, db_spec):
    client = Client(database_url=spec_url(db_spec))
    client.enqueue("noop")
    client.close()
    client.close()


def test_enqueued_executions_are_claimed_in_priority_order(client, store):
    low = client.enqueue("noop", priority=0)
    high = client.enqueue("noop", priority=10)
    later = client.enqueue("noop", priority=99,
                           run_after=datetime.now(UTC) + timedelta(hours=1))
    other_queue = client.enqueue("noop", priority=50, queue="other")

    claimed = store.execution_claim("w1", ["default"], 10, 30)
    assert [e.id for e in claimed] == [high, low]
    assert {later, other_queue}.isdisjoint(e.id for e in claimed)
