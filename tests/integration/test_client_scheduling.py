"""The scheduling API of jobu.Client on SQLite, PostgreSQL and MariaDB.

Jobs are crons in the jobs database, so they are durable and shared: what one process
declares, every other process that opens the database sees. Start-up code declares its jobs
on every boot with replace_existing=True, and two processes doing it at once leave exactly
one cron per job. stats() is checked against the history a real worker leaves (jobu.worker's
Worker, in-process, with its thread pool and the handlers of tests/support/handler_trees/good).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import mean

import pytest

from jobu import Client
from jobu.config import WorkerConfig
from jobu.errors import CronNotFoundError, InvalidInputError, UnservedHandlerWarning
from jobu.handlers import discover_handlers, handler
from jobu.model import ExecutionFilter, NewExecution, ParamSource, Status, WorkerInfo
from jobu.worker import Worker
from tests.conftest import spec_url
from tests.servers import wait_until

REPO = Path(__file__).resolve().parents[2]
GOOD = REPO / "tests" / "support" / "handler_trees" / "good"

#: The six default jobs of the original scheduler API, declared as its users' start-up code
#: would: argv[1] is the database URL, argv[2] the one-shot's time, argv[3] a file to wait for
#: (so that both processes declare at the same moment).
DECLARE_DEFAULT_JOBS = """
import sys, time
from datetime import datetime
from pathlib import Path
from jobu import Client

url, one_shot_at, go = sys.argv[1], datetime.fromisoformat(sys.argv[2]), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
with Client(database_url=url) as jobu:
    for boot in range(3):  # every boot declares them again
        jobu.add_interval_job("health_check", "health-check", minutes=5,
                              description="is everything up?", replace_existing=True)
        jobu.add_cron_job("cleanup", "cleanup", hour=2, minute=0, replace_existing=True)
        jobu.add_cron_job("backup", "weekly-backup", day_of_week="sun", hour=3, minute=0,
                          timezone="Europe/Berlin", replace_existing=True)
        jobu.add_interval_job("api_sync", "api-sync", minutes=30, params={"api": "crm"},
                              replace_existing=True)
        jobu.add_cron_job("send_notifications", "daily-notification", expression="0 9 * * *",
                          replace_existing=True)
        jobu.add_date_job("one_off", "one-shot", one_shot_at, replace_existing=True)
print("declared")
"""

DEFAULT_JOBS = {
    "health-check": ("health_check", "every 5m", "UTC", "every 5 minutes"),
    "cleanup": ("cleanup", "0 2 * * *", "UTC", "cron '0 2 * * *' in UTC"),
    "weekly-backup": ("backup", "0 3 * * sun", "Europe/Berlin",
                      "cron '0 3 * * sun' in Europe/Berlin"),
    "api-sync": ("api_sync", "every 30m", "UTC", "every 30 minutes"),
    "daily-notification": ("send_notifications", "0 9 * * *", "UTC", "cron '0 9 * * *' in UTC"),
}


@handler("nightly_report")
def nightly_report(ctx, params):
    return {"pages": 3}


@pytest.fixture
def client(store, db_spec):
    with Client(database_url=spec_url(db_spec)) as client:
        yield client


def test_two_processes_declaring_the_six_default_jobs_at_once_make_six_crons(
        store, db_spec, tmp_path):
    one_shot_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    go = tmp_path / "go"
    processes = [subprocess.Popen(
        [sys.executable, "-c", DECLARE_DEFAULT_JOBS, spec_url(db_spec), one_shot_at.isoformat(),
         str(go)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)]
    time.sleep(0.5)  # both have imported jobu and wait for the file
    go.touch()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, out.strip()) == (0, "declared"), err

    crons = {cron.name: cron for cron in store.cron_list()}
    assert sorted(crons) == sorted([*DEFAULT_JOBS, "one-shot"])
    for name, (handler_name, schedule, zone, _) in DEFAULT_JOBS.items():
        assert (crons[name].handler_name, crons[name].schedule, crons[name].timezone) == (
            handler_name, schedule, zone)
    assert crons["api-sync"].handler_params == {"api": "crm"}
    assert crons["one-shot"].schedule == one_shot_at.isoformat()
    # Declaring again what is stored changes nothing: not even a version (six boots, two
    # processes), so a dispatcher's plan and the history are undisturbed.
    assert {cron.version for cron in crons.values()} == {1}

    with Client(database_url=spec_url(db_spec)) as client:
        jobs = {job.name: job for job in client.get_jobs()}
    assert sorted(jobs) == sorted(crons)
    for name, (_, _, zone, trigger) in DEFAULT_JOBS.items():
        assert jobs[name].trigger == trigger
        assert jobs[name].enabled is True
        assert jobs[name].next_run_time.utcoffset() == \
            jobs[name].next_run_time.astimezone(__import__("zoneinfo").ZoneInfo(zone)).utcoffset()
    assert jobs["one-shot"].next_run_time == one_shot_at
    assert jobs["one-shot"].trigger == f"once at {one_shot_at.isoformat()}"
    assert jobs["health-check"].description == "is everything up?"
    assert jobs["cleanup"].next_run_time.strftime("%H:%M:%S") == "02:00:00"


def test_a_changed_declaration_updates_the_cron_in_place_and_keeps_its_history(client, store):
    first = client.add_cron_job("cleanup", "cleanup", hour=2, replace_existing=True)
    cron = store.cron_get("cleanup")
    store.execution_insert(NewExecution(handler_name="cleanup", job_id=cron.id,
                                        param_source=ParamSource.CRON,
                                        scheduled_time=datetime(2026, 1, 1, 2, tzinfo=UTC)))
    changed = client.add_cron_job("cleanup", "cleanup", hour=2, minute=30, max_retry=3,
                                  replace_existing=True)

    again = store.cron_get("cleanup")
    assert (again.id, again.version, again.schedule, again.max_retry) == (
        cron.id, cron.version + 1, "30 2 * * *", 3)
    assert first.trigger == "cron '0 2 * * *' in UTC"
    assert changed.trigger == "cron '30 2 * * *' in UTC"
    assert client.stats("cleanup").total == 1, "the history stays with the cron"
    with pytest.raises(Exception, match="a cron named 'cleanup' already exists"):
        client.add_cron_job("cleanup", "cleanup", hour=4)
    assert store.cron_get("cleanup") == again


def test_a_paused_job_stays_paused_when_start_up_code_declares_it_again(client):
    client.add_interval_job("api_sync", "api-sync", minutes=30, replace_existing=True)
    client.pause_job("api-sync")
    assert client.add_interval_job("api_sync", "api-sync", minutes=30,
                                   replace_existing=True).enabled is False
    assert client.add_interval_job("api_sync", "api-sync", minutes=30, enabled=True,
                                   replace_existing=True).enabled is True
    assert client.add_interval_job("api_sync", "paused-from-the-start", minutes=30,
                                   enabled=False).enabled is False


def test_pause_resume_run_now_and_remove(client, store):
    job = client.add_cron_job(nightly_report, "nightly", hour=3, params={"to": "ops"},
                              priority=4, queue="reports", timeout_seconds=30)
    assert job.handler_name == "nightly_report"  # taken from @handler
    assert job.next_run_time is not None and job.enabled

    paused = client.pause_job("nightly")
    assert (paused.enabled, paused.next_run_time) == (False, None)
    assert store.cron_get("nightly").is_enabled is False
    assert client.pause_job("nightly").enabled is False, "pausing twice is no error"

    resumed = client.resume_job("nightly")
    assert resumed.enabled is True and resumed.next_run_time == job.next_run_time

    execution_id = client.run_job_now("nightly")
    execution = client.get(execution_id)
    assert (execution.job_id, execution.cron_name, execution.handler_name, execution.params,
            execution.priority, execution.queue, execution.timeout_seconds,
            execution.param_source, execution.status) == (
        store.cron_get("nightly").id, "nightly", "nightly_report", {"to": "ops"}, 4, "reports",
        30.0, ParamSource.MANUAL, Status.PENDING)

    client.remove_job("nightly")
    with pytest.raises(CronNotFoundError, match="no cron named 'nightly'"):
        client.get_job("nightly")
    with pytest.raises(CronNotFoundError):
        client.run_job_now("nightly")
    assert client.get_jobs() == []
    assert client.get(execution_id).status is Status.PENDING, "the history stays"


def test_a_closure_is_refused_with_the_reason_and_nothing_is_stored(client, store):
    @handler("inner")
    def inner(ctx, params):
        return None

    with pytest.raises(InvalidInputError, match="outlives this process"):
        client.add_interval_job(inner, "inner", minutes=5)
    with pytest.raises(InvalidInputError, match="a lambda cannot be a job's handler"):
        client.add_interval_job(lambda ctx, params: None, "lambda", minutes=5)
    with pytest.raises(InvalidInputError, match="unknown cron option weeks_of_year"):
        client.add_interval_job("noop", "x", minutes=5, weeks_of_year=2)
    with pytest.raises(InvalidInputError, match="max_retry must be a whole number, got '3'"):
        client.add_interval_job("noop", "x", minutes=5, max_retry="3")
    with pytest.raises(InvalidInputError, match="catch_up must be one of 'skip', 'latest', "
                                                "'all', got 'sometimes'"):
        client.add_interval_job("noop", "x", minutes=5, catch_up="sometimes")
    with pytest.raises(InvalidInputError, match="priority must be a whole number, got 'high'"):
        client.enqueue("noop", priority="high")
    assert store.cron_list() == []


def test_an_interval_with_a_start_and_a_date_job_are_what_the_dispatcher_fires(client, store):
    from jobu.config import DispatcherConfig
    from jobu.dispatcher import Dispatcher

    start = (datetime.now(UTC) - timedelta(minutes=59, seconds=58)).replace(microsecond=0)
    client.add_interval_job("noop", "hourly-from-start", hours=1, start=start)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    client.add_date_job("noop", "once-soon", soon)
    dispatcher = Dispatcher(store, DispatcherConfig(), threading.Event(), listen=False)
    try:
        def fired() -> set[str]:
            dispatcher.run_once(datetime.now(UTC))
            return {e.cron_name for e in store.execution_list(ExecutionFilter()).items}
        wait_until(lambda: fired() == {"hourly-from-start", "once-soon"}, timeout=15)
    finally:
        dispatcher.shutdown(threading.Event())
    ticks = {e.cron_name: e.scheduled_time for e in store.execution_list(ExecutionFilter()).items}
    assert ticks["hourly-from-start"] == start + timedelta(hours=1)
    assert ticks["once-soon"] == soon
    assert store.cron_get("once-soon").is_enabled is False, "a one-shot is done once fired"
    assert client.get_job("once-soon").next_run_time is None
    # Start-up code declaring it again on the next boot: left alone, not refused as past.
    fired = store.cron_get("once-soon")
    again = client.add_date_job("noop", "once-soon", soon, replace_existing=True)
    assert (again.enabled, store.cron_get("once-soon")) == (False, fired)


def test_stats_after_real_runs_through_a_worker_match_the_history(client, store):
    client.add_cron_job("sleep", "sleepy", hour=3, params={"seconds": 0.05})
    client.add_cron_job("always_fail", "failing", hour=4)
    client.add_cron_job("noop", "never-run", hour=5)
    ids = [client.run_job_now("sleepy") for _ in range(4)] + \
          [client.run_job_now("failing") for _ in range(2)]
    sleepy = store.cron_get("sleepy")
    store.execution_insert(NewExecution(handler_name="sleep", job_id=sleepy.id,
                                        param_source=ParamSource.CRON, status=Status.SKIPPED,
                                        scheduled_time=datetime(2026, 1, 1, 3, tzinfo=UTC),
                                        error_message="previous execution still RUNNING"))

    worker = Worker(store=store, config=WorkerConfig(pool_size=2, poll_interval_seconds=0.05,
                                                     heartbeat_interval_seconds=0.2),
                    registry=discover_handlers([GOOD]), wake=threading.Event(), listen=False)
    try:
        def all_done() -> bool:
            worker.run_once(datetime.now(UTC))
            return all(store.execution_get(i).status.is_final for i in ids)
        wait_until(all_done, timeout=30)
        status = client.status()
        assert [w.id for w in status.workers] == [worker.worker_id]
        assert status.workers[0].pool_size == 2 and "sleep" in status.workers[0].handlers
    finally:
        worker.shutdown(threading.Event())
    assert (status.crons, status.enabled_crons) == (3, 3)
    assert [fire.name for fire in status.next_fires] == sorted(
        ["sleepy", "failing", "never-run"], key=lambda n: client.get_job(n).next_run_time)

    for name in ("sleepy", "failing", "never-run", None):
        job_id = store.cron_get(name).id if name else None
        history = [e for e in store.execution_list(ExecutionFilter(), limit=1000).items
                   if e.job_id is not None and (job_id is None or e.job_id == job_id)]
        stats = client.stats(name)
        by_status = {s: sum(1 for e in history if e.status is s) for s in Status}
        assert (stats.name, stats.total, stats.success, stats.failed, stats.timeout,
                stats.skipped, stats.missed) == (
            name, len(history), by_status[Status.SUCCESS], by_status[Status.FAILED],
            by_status[Status.TIMEOUT], by_status[Status.SKIPPED], by_status[Status.MISSED])
        started = sorted((e for e in history if e.started_at), key=lambda e: e.id)
        if not started:
            assert (stats.last_run_at, stats.last_status, stats.avg_duration_seconds) == (
                None, None, None)
            continue
        assert (stats.last_run_at, stats.last_status) == (started[-1].started_at,
                                                          started[-1].status)
        durations = sorted(e.duration_seconds for e in started)
        assert stats.avg_duration_seconds == pytest.approx(mean(durations), abs=0.002)
        p95 = durations[-(-len(durations) * 95 // 100) - 1]
        assert stats.p95_duration_seconds == pytest.approx(p95, abs=0.002)
        lateness = mean((e.started_at - e.scheduled_time).total_seconds() for e in started)
        assert stats.avg_start_lateness_seconds == pytest.approx(lateness, abs=0.002)
    assert client.stats("sleepy").success == 4 and client.stats("failing").failed == 2
    assert client.stats().skipped == 1
    assert json.dumps(client.stats().total) == "7"


def test_an_unserved_handler_is_a_warning_and_strict_refuses_it(client, store):
    """As `cron add` says it: the job is stored and waits for a worker that has the handler;
    strict=True refuses it, force=True does not check."""
    store.worker_register(WorkerInfo(id="host1-1", kind="worker", hostname="host1", pid=1,
                                     handlers=("report",)))
    with pytest.warns(UnservedHandlerWarning, match="no running worker serves handler 'typo'"):
        client.add_cron_job("typo", "warned", hour=3)
    with pytest.raises(InvalidInputError, match="no running worker serves handler 'typo'"):
        client.add_cron_job("typo", "refused", hour=3, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.add_cron_job("typo", "forced", hour=3, force=True)
        client.add_cron_job("report", "served", hour=3, strict=True)
    assert sorted(job.name for job in client.get_jobs()) == ["forced", "served", "warned"]
