"""The admin's /metrics on every database: Prometheus' text format, whose numbers are those a
known workload put in the jobs database, and who may read it (signed in, an API token, or
everyone with admin.yaml's metrics_public)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobu.admin import create_app
from jobu.clock import FakeClock
from jobu.model import NewExecution, Status, WorkerInfo
from jobu.operations.metrics import collect_metrics
from jobu.operations.users import Role, add_user, issue_api_token
from tests.conftest import spec_url
from tests.support.admin_site import PASSWORD, config_dir

#: The clock of every test here: the workload is placed around it.
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """NOW plus `seconds` (negative: before)."""
    return NOW + timedelta(seconds=seconds)


def run(store, *, run_after: float, started: float, ended: float | None,
        status: Status = Status.SUCCESS) -> None:
    """One execution of the queue `batch`, enqueued at `run_after` (its scheduled time),
    claimed at `started` and ended at `ended` (None: still running); seconds from NOW."""
    store.execution_insert(NewExecution(handler_name="report", queue="batch",
                                        run_after=at(run_after)), now=at(run_after))
    [claimed] = store.execution_claim("w-test", ["batch"], 1, 600, now=at(started))
    if ended is None:
        return
    if status is Status.SUCCESS:
        store.execution_complete(claimed.id, claimed.lease_token, None, now=at(ended))
    else:
        store.execution_fail(claimed.id, claimed.lease_token, "boom", status=status,
                             now=at(ended))


def wait(store, queue: str, run_after: float) -> None:
    store.execution_insert(NewExecution(handler_name="report", queue=queue,
                                        run_after=at(run_after)), now=at(min(run_after, 0)))


def workload(store) -> None:
    """What the numbers below describe; `batch` holds the runs, `default` and `reports` wait."""
    run(store, run_after=-3600, started=-3590, ended=-3500)  # ended before the window
    run(store, run_after=-300, started=-290, ended=-280)  # 10 s long, 10 s late
    run(store, run_after=-200, started=-198, ended=-168)  # 30 s long, 2 s late
    run(store, run_after=-100, started=-95, ended=-40, status=Status.FAILED)  # 55 s, 5 s late
    run(store, run_after=-50, started=-20, ended=None)  # still RUNNING
    # one RETRY in reports: its attempt failed at -70, runnable again 10 s later
    store.execution_insert(NewExecution(handler_name="report", queue="reports", max_retry=1,
                                        run_after=at(-90)), now=at(-90))
    [retried] = store.execution_claim("w-test", ["reports"], 1, 600, now=at(-80))
    store.execution_retry(retried.id, retried.lease_token, 10, "again", now=at(-70))
    for seconds in (-60, -30, -10):
        wait(store, "default", seconds)
    for seconds in (-120, -5, 600):  # the last is not runnable yet
        wait(store, "reports", seconds)
    for ident, kind, heartbeat in (("w1", "worker", -5), ("w2", "worker", -600),
                                   ("d1", "dispatcher", -1)):
        store.worker_register(WorkerInfo(id=ident, kind=kind, hostname="h", pid=1),
                              now=at(heartbeat))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by (name, labels), through Prometheus' own text parser."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def make_app(db_spec, tmp_path, **admin):
    return create_app({"JOBU_CONFIG_DIR": config_dir(tmp_path, spec_url(db_spec), **admin),
                       "TESTING": True, "JOBU_CLOCK": FakeClock(NOW)})


@pytest.fixture
def app(store, db_spec, tmp_path):
    app = make_app(db_spec, tmp_path)
    yield app
    app.extensions["jobu"]["store"].close()


def test_the_numbers_are_those_of_the_workload(app, store):
    workload(store)
    token = issue_api_token(store, add_user(store, "prometheus", PASSWORD, Role.VIEWER).name)

    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(response.get_data(as_text=True))
    expected = {
        ("jobu_database_up", ()): 1,
        ("jobu_executions", (("status", "PENDING"),)): 6,
        ("jobu_executions", (("status", "RUNNING"),)): 1,
        ("jobu_executions", (("status", "RETRY"),)): 1,
        ("jobu_queue_depth", (("queue", "default"),)): 3,
        ("jobu_queue_depth", (("queue", "reports"),)): 3,
        ("jobu_queue_oldest_waiting_seconds", (("queue", "default"),)): 60,
        ("jobu_queue_oldest_waiting_seconds", (("queue", "reports"),)): 120,
        ("jobu_recent_window_seconds", ()): 300,
        ("jobu_recent_executions", (("status", "SUCCESS"),)): 2,
        ("jobu_recent_executions", (("status", "FAILED"),)): 1,
        ("jobu_recent_executions", (("status", "TIMEOUT"),)): 0,
        ("jobu_recent_runs", ()): 3,
        ("jobu_recent_duration_p95_seconds", ()): 55,
        ("jobu_recent_start_lateness_p95_seconds", ()): 10,
        ("jobu_daemons", (("kind", "worker"),)): 1,
        ("jobu_daemons", (("kind", "dispatcher"),)): 1,
        ("jobu_daemons", (("kind", "queued"),)): 0,
    }
    assert {key: got.get(key) for key in expected} == expected
    assert got[("jobu_recent_duration_avg_seconds", ())] == pytest.approx(95 / 3, abs=1e-3)
    assert got[("jobu_recent_start_lateness_avg_seconds", ())] == pytest.approx(17 / 3, abs=1e-3)
    assert ("jobu_queue_depth", (("queue", "batch"),)) not in got  # nothing waits there
    assert not any(name == "jobu_dead_letters" for name, _ in got)  # no intake, no letter


def test_an_empty_database_reports_zeros_and_no_statistics(app, store):
    token = issue_api_token(store, add_user(store, "prometheus", PASSWORD, Role.VIEWER).name)

    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})

    got = samples(response.get_data(as_text=True))
    assert got[("jobu_queue_depth", (("queue", "default"),))] == 0  # worker.yaml's queue
    assert got[("jobu_executions", (("status", "PENDING"),))] == 0
    assert got[("jobu_recent_runs", ())] == 0
    assert not any(name.startswith("jobu_recent_duration") for name, _ in got)


def test_dead_letters_are_counted_when_intake_is_on(store):
    assert collect_metrics(store, FakeClock(NOW)).dead_letters is None
    assert collect_metrics(store, FakeClock(NOW), queue_intake_enabled=True).dead_letters == 0


def test_it_needs_a_session_or_a_token_unless_metrics_public(store, db_spec, tmp_path):
    add_user(store, "viewer", PASSWORD, Role.VIEWER)
    token = issue_api_token(store, "viewer")
    app = make_app(db_spec, tmp_path)
    try:
        client = app.test_client()
        refused = client.get("/metrics")
        assert refused.status_code == 401  # a scraper is refused, not sent to a sign-in page
        assert "jobu_" not in refused.get_data(as_text=True)
        assert client.get("/metrics", headers={"Authorization": "Bearer jobu_wrong"}
                          ).status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 200
        page = client.get("/login").get_data(as_text=True)
        csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf_token": csrf})
        assert client.get("/metrics").status_code == 200
    finally:
        app.extensions["jobu"]["store"].close()

    open_app = make_app(db_spec, tmp_path / "public", metrics_public=True)
    try:
        response = open_app.test_client().get("/metrics")
        assert response.status_code == 200
        assert ("jobu_database_up", ()) in samples(response.get_data(as_text=True))
    finally:
        open_app.extensions["jobu"]["store"].close()


def test_a_scrape_while_the_database_is_down_says_so(tmp_path):
    app = create_app({"JOBU_CONFIG_DIR": config_dir(
        tmp_path, "postgresql://jobu:x@127.0.0.1:1/jobu", metrics_public=True), "TESTING": True})
    try:
        response = app.test_client().get("/metrics")
        assert response.status_code == 200
        assert samples(response.get_data(as_text=True)) == {("jobu_database_up", ()): 0}
    finally:
        app.extensions["jobu"]["store"].close()
