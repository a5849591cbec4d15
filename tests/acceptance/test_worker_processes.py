"""The real `jobu worker` executable, as systemd runs it, against each database.

Each test writes a worker.yaml into a copy of the shipped etc/jobu (handlers from
tests/support/handler_trees/good, short leases and heartbeats so that nothing waits
long), points JOBU_DATABASE_URL at the test's fresh database and starts `jobu
worker` as a subprocess. What the workers did is read back from the database
through jobu.store; each process's output goes to a log file that a failing test
prints.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from jobu.errors import LeaseLostError
from jobu.model import ExecutionFilter, Isolation, NewExecution, Status
from jobu.store import Store
from tests.conftest import spec_url
from tests.servers import wait_until
from tests.support.notify import NotifySocket
from tests.support.processes import JOBU, WorkerSite
from tests.support.proxy import TcpProxy

pytestmark = pytest.mark.acceptance

REPO = Path(__file__).resolve().parents[2]
TREES = REPO / "tests" / "support" / "handler_trees"
GOOD = TREES / "good"

#: worker.yaml of most tests: fast heartbeats, short polls, quiet enough logs.
FAST = {"pool_size": 4, "poll_interval_seconds": 0.2, "lease_seconds": 5,
        "heartbeat_interval_seconds": 0.5, "shutdown_timeout_seconds": 5,
        "handler_paths": [str(GOOD)]}


# --- running workers ------------------------------------------------------------------------

@pytest.fixture
def site(tmp_path, store, db_spec) -> Iterator[WorkerSite]:
    site = WorkerSite(tmp_path, spec_url(db_spec), FAST, store)
    yield site
    site.kill_all()


def statuses(store: Store, ids: list[int]) -> dict[int, Status]:
    return {i: store.execution_get(i).status for i in ids}


def all_in(store: Store, ids: list[int], *wanted: Status) -> bool:
    return all(status in wanted for status in statuses(store, ids).values())


def insert(store: Store, news: list[NewExecution], chunk: int = 500) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(news), chunk):
        ids += store.execution_insert_many(news[start:start + chunk])
    return ids


def every_execution(store: Store, expected: int):
    items, cursor = [], None
    while True:
        page = store.execution_list(ExecutionFilter(), limit=1000, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(items) == expected
    return items


# --- many jobs, two processes -----------------------------------------------------------------

@pytest.mark.slow
def test_two_workers_of_four_threads_run_5000_executions_exactly_once(site, store):
    total = 5000
    site.write_worker_yaml(log_level="WARNING")
    ids = insert(store, [NewExecution("record_id") for _ in range(total)])
    started = time.monotonic()
    workers = [site.start_worker(), site.start_worker()]
    worker_ids = {site.wait_registered(w) for w in workers}

    wait_until(lambda: _count_unfinished(store) == 0, timeout=240, interval=0.5,
               message=f"{total} executions to finish\n{site.logs()}")
    took = time.monotonic() - started
    for worker in workers:
        assert worker.stop() == 0, site.logs()
    rows = every_execution(store, total)
    assert {e.id for e in rows} == set(ids)
    assert {e.status for e in rows} == {Status.SUCCESS}
    assert all(e.attempt == 1 and e.result == e.id for e in rows), "a row ran twice or elsewhere"
    assert {e.worker_id for e in rows} == worker_ids, "both workers took part"
    errors = store.database.run(lambda conn: conn.fetch_value(
        "SELECT COUNT(*) FROM execution_errors"), write=False)
    assert errors == 0, "an attempt failed"
    print(f"\n{store.dialect}: 2 workers x 4 threads drained {total} executions in {took:.1f} s "
          f"({total / took:.0f}/s)")


def _count_unfinished(store: Store) -> int:
    page = store.execution_list(ExecutionFilter(statuses=(
        Status.PENDING, Status.RETRY, Status.RUNNING)), limit=1)
    return len(page.items)


# --- a worker killed, a worker stopped ------------------------------------------------------

def run_maintenance(site: WorkerSite) -> subprocess.CompletedProcess:
    """One pass of the dispatcher, whose maintenance takes back expired leases."""
    done = subprocess.run([str(JOBU), "dispatcher", "--once"], env=site.env, cwd=site.tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done
    return done


@pytest.mark.slow
def test_sigkill_mid_job_leaves_leases_that_a_second_worker_completes(site, store):
    """The lease is taken back by the dispatcher's maintenance pass: `jobu dispatcher --once`."""
    site.write_worker_yaml(lease_seconds=5, heartbeat_interval_seconds=1)
    ids = insert(store, [NewExecution("hang_first_attempt", {"seconds": 600}, max_retry=1)
                         for _ in range(4)])
    first = site.start_worker()
    first_id = site.wait_registered(first)
    wait_until(lambda: all(e.status is Status.RUNNING and e.worker_id == first_id
                           for e in map(store.execution_get, ids)),
               message=f"the first worker to run all 4\n{site.logs()}")
    old_tokens = {i: store.execution_get(i).lease_token for i in ids}
    first.process.kill()
    assert first.wait_exit(10) == -signal.SIGKILL
    killed_at = time.monotonic()
    # The leases run on: nothing is taken back before they expire.
    run_maintenance(site)
    assert all_in(store, ids, Status.RUNNING)
    assert time.monotonic() - killed_at < 3.5, "too slow to see the leases still running"
    second = site.start_worker()
    second_id = site.wait_registered(second)

    def rescued() -> bool:
        run_maintenance(site)
        return not any(s is Status.RUNNING and e.worker_id == first_id for s, e in (
            (e.status, e) for e in map(store.execution_get, ids)))
    wait_until(rescued, timeout=20, interval=0.2, message="the 4 expired leases taken back")
    assert time.monotonic() - killed_at >= 3.5, "taken back before the lease could expire"

    wait_until(lambda: all_in(store, ids, Status.SUCCESS), timeout=15,
               message=f"the second worker to complete all 4\n{site.logs()}")
    for execution_id in ids:
        execution = store.execution_get(execution_id)
        assert (execution.attempt, execution.worker_id) == (2, second_id)
        assert execution.result == {"attempt": 2, "pid": second.pid}
        (error,) = store.execution_errors(execution_id)
        assert (error.attempt, error.worker_id) == (1, first_id)
        assert error.error_message.startswith(f"worker {first_id} lost (lease expired at ")
        # The killed attempt, had it lived on, could write nothing any more.
        with pytest.raises(LeaseLostError):
            store.execution_complete(execution_id, old_tokens[execution_id], "late result")
        with pytest.raises(LeaseLostError):
            store.execution_fail(execution_id, old_tokens[execution_id], "late failure")
        with pytest.raises(LeaseLostError):
            store.execution_progress(execution_id, old_tokens[execution_id], 0.9, "late")
        assert store.execution_get(execution_id) == execution
    assert second.stop() == 0


@pytest.mark.slow
def test_sigterm_finishes_short_jobs_hands_back_long_ones_and_exits_0_in_time(site, store,
                                                                               tmp_path):
    drain = 2.0
    site.write_worker_yaml(shutdown_timeout_seconds=drain)
    marks = tmp_path / "marks"
    marks.mkdir()
    short = insert(store, [NewExecution("sleep", {"seconds": 1, "ignore_cancel": True})
                           for _ in range(2)])
    long = insert(store, [NewExecution("slow_once", {"dir": str(marks), "seconds": 600},
                                       max_retry=2) for _ in range(2)])
    first = site.start_worker()
    site.wait_registered(first)
    wait_until(lambda: all_in(store, short + long, Status.RUNNING),
               message=f"all 4 to run\n{site.logs()}")
    asked = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait_exit(drain + 10) == 0, site.logs()
    took = time.monotonic() - asked
    assert took <= drain + 1.0, f"exit {took:.2f} s after SIGTERM\n{site.logs()}"
    print(f"\n{store.dialect}: exit {took:.2f} s after SIGTERM (drain {drain:g} s)")

    for execution in map(store.execution_get, short):
        assert (execution.status, execution.attempt) == (Status.SUCCESS, 1)
    for execution in map(store.execution_get, long):
        # Handed back, the attempt not counted, no error recorded.
        assert (execution.status, execution.attempt, execution.worker_id) == \
            (Status.PENDING, 0, None)
        assert store.execution_errors(execution.id) == []
    assert "handed back" in first.log
    assert store.worker_list() == [], "the worker deregistered"

    second = site.start_worker()
    wait_until(lambda: all_in(store, long, Status.SUCCESS), timeout=15,
               message=f"the second worker to complete the handed-back jobs\n{site.logs()}")
    for execution in map(store.execution_get, long):
        assert execution.attempt == 1
        assert execution.result == {"second_run": True, "pid": second.pid}
    assert second.stop() == 0


# --- systemd ----------------------------------------------------------------------------

WATCHDOG_USEC = "2000000"  # 2 s: the worker must send WATCHDOG=1 at least every second


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    with NotifySocket() as sock:
        yield sock


def systemd_env(notify: NotifySocket) -> dict[str, str]:
    return {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": WATCHDOG_USEC}


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_what_a_handler_prints_and_logs_is_logged_as_its_executions(site, store):
    site.write_worker_yaml(log_level="INFO")
    [execution_id] = insert(store, [NewExecution("talkative", {"rows": 12})])
    worker = site.start_worker()
    wait_until(lambda: all_in(store, [execution_id], Status.SUCCESS),
               message=f"the execution to succeed\n{site.logs()}")
    assert worker.stop() == 0
    prefix = f"execution {execution_id} (talkative): "
    lines = worker.log.splitlines()
    for text in ("rows read: 12", "almost done", "the library has a word",
                 "no line break at the end"):
        assert any(line.endswith(prefix + text) for line in lines), (text, worker.log)
    assert not any(line.startswith(("rows read", "almost done")) for line in lines)


def test_ready_watchdog_status_and_stopping(site, store, notify):
    # Idle on SQLite with a long poll and heartbeat: only the watchdog wakes the loop.
    site.write_worker_yaml(poll_interval_seconds=60, heartbeat_interval_seconds=20,
                           lease_seconds=30)
    worker = site.start_worker(env=systemd_env(notify))
    ready = notify.wait_for("READY=1")
    notify.wait_for_status(r"^0/4 busy, 0 stuck, 0 done, 0 failed$")
    assert site.wait_registered(worker)

    # Fed every half interval (1 s) while idle: never late, never a busy loop.
    wait_until(lambda: len(notify.times("WATCHDOG=1", since=ready)) >= 5, timeout=10,
               message="5 watchdog messages")
    beats = notify.times("WATCHDOG=1", since=ready)
    gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
    assert max(gaps) < 1.5, gaps
    assert min(gaps) > 0.5, gaps

    insert(store, [NewExecution("noop") for _ in range(3)] + [NewExecution("always_fail")])
    notify.wait_for_status(r"^0/4 busy, 0 stuck, 3 done, 1 failed$", timeout=10)

    asked = time.monotonic()
    worker.signal(signal.SIGTERM)
    notify.wait_for("STOPPING=1", since=asked, timeout=10)
    assert worker.wait_exit(10) == 0
    lines = notify.lines()
    assert lines.index("READY=1") < lines.index("STOPPING=1")
    # The drain (5 s) and a margin, whatever the unit's TimeoutStopSec.
    assert lines[lines.index("STOPPING=1") + 1] == "EXTEND_TIMEOUT_USEC=20000000"


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["sqlite"])
def test_the_watchdog_stops_while_every_thread_is_stuck(site, store, notify):
    site.write_worker_yaml(pool_size=1)
    ids = insert(store, [NewExecution("hang", {"seconds": 6}, timeout_seconds=1)
                         for _ in range(3)])
    worker = site.start_worker(env=systemd_env(notify))
    notify.wait_for("READY=1")
    # 1 s: the first hang times out, its thread is stuck and a new one runs the second;
    # 2 s: that one is stuck too. Two stuck threads, one slot: the pool is wedged.
    wedged_at, _ = notify.wait_for_status(r"^0/1 busy, 2 stuck", timeout=15)
    # ~6 s: the first stuck thread ends and the pool has its slot again.
    notify.wait_for_status(r"^\d/1 busy, [01] stuck", since=wedged_at, timeout=15)
    assert worker.alive()
    wedged = [t for t, s in notify.statuses(wedged_at) if re.match(r"0/1 busy, 2 stuck", s)]
    last_wedged = wedged[-1]
    timeline = "\n".join(f"{t - wedged_at:7.3f} {line}" for t, line in notify.messages
                         if t >= wedged_at - 1.5)
    fed = [t for t in notify.times("WATCHDOG=1", since=wedged_at) if t <= last_wedged]
    assert fed == [], f"the watchdog was fed while every thread was stuck:\n{timeline}"
    assert last_wedged - wedged_at > float(WATCHDOG_USEC) / 1e6, \
        "wedged for longer than the watchdog interval: systemd would have restarted it"
    assert len(wedged) > 3, "the main loop kept running meanwhile"
    unwedged_at = last_wedged
    notify.wait_for("WATCHDOG=1", since=unwedged_at, timeout=5)  # fed again
    wait_until(lambda: all_in(store, ids, Status.TIMEOUT), timeout=15,
               message=f"all three to time out\n{site.logs()}")
    assert "stuck" in worker.log
    assert worker.stop() == 0


# --- handlers, cancel, wake-ups ---------------------------------------------------------

@pytest.mark.parametrize("dialect", ["sqlite"])
def test_a_duplicate_handler_name_stops_the_start_with_exit_78_naming_both_files(site):
    site.write_worker_yaml(handler_paths=[str(TREES / "dup_a"), str(TREES / "dup_b")])
    worker = site.start_worker()
    assert worker.wait_exit(30) == 78
    output = worker.log
    assert "same_name" in output, output
    assert str(TREES / "dup_a" / "first.py") in output, output
    assert str(TREES / "dup_b" / "second.py") in output, output
    assert "Traceback" not in output
    assert site.store.worker_list() == []

    site.write_worker_yaml(handler_paths=[str(TREES / "broken")])
    broken = site.start_worker()
    assert broken.wait_exit(30) == 78
    assert "bad_import" in broken.log and "module_that_does_not_exist" in broken.log


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_handlers_of_nested_packages_are_served_and_registered(site, store):
    site.write_worker_yaml()
    worker = site.start_worker()
    worker_id = site.wait_registered(worker)
    (info,) = store.worker_list()
    assert info.id == worker_id and info.pool_size == 4 and info.queues == ("default",)
    assert {"noop", "sleep", "monthly_summary", "class_style", "record_id"} <= \
        set(info.handlers)
    (execution_id,) = insert(store, [NewExecution("monthly_summary", {"month": 5})])
    wait_until(lambda: all_in(store, [execution_id], Status.SUCCESS), message=site.logs())
    assert store.execution_get(execution_id).result == {"month": 5}
    assert worker.stop() == 0
    # One line per job at INFO, once its outcome is written ("… started" is at DEBUG).
    assert f"execution {execution_id} (monthly_summary) attempt 1/1 started" not in worker.log
    assert f"execution {execution_id} (monthly_summary) attempt 1/1 ended after" in worker.log


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_jobs_cancel_reaches_running_jobs_in_a_thread_and_in_a_child_process(site, store,
                                                                           tmp_path):
    heartbeat = 1.0
    site.write_worker_yaml(heartbeat_interval_seconds=heartbeat)
    pid_file = tmp_path / "child.pid"
    cooperative, isolated = insert(store, [
        NewExecution("sleep", {"seconds": 600}),
        NewExecution("pid_then_hang", {"pid_file": str(pid_file), "seconds": 600},
                     isolation=Isolation.PROCESS)])
    worker = site.start_worker()
    site.wait_registered(worker)
    child = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(),
                           message=f"the child's pid file\n{site.logs()}"))
    assert child != worker.pid and pid_alive(child)
    wait_until(lambda: all_in(store, [cooperative, isolated], Status.RUNNING))

    for execution_id in (cooperative, isolated):
        result = subprocess.run([str(JOBU), "jobs", "cancel", str(execution_id)],
                                env=site.env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result
        assert "asked to stop it" in result.stdout
    asked = time.monotonic()
    wait_until(lambda: all_in(store, [cooperative, isolated], Status.CANCELLED),
               timeout=heartbeat + 5, message=f"both to be cancelled\n{site.logs()}")
    took = time.monotonic() - asked
    assert took < heartbeat + 1.5, f"cancelled {took:.2f} s after the request"
    wait_until(lambda: not pid_alive(child), timeout=5, message="the child process to go")
    for execution in map(store.execution_get, (cooperative, isolated)):
        assert execution.error_message.startswith("cancelled by an operator") or \
            "stopped" in execution.error_message, execution.error_message
        assert execution.result is None
    assert worker.alive()
    assert worker.stop() == 0


@pytest.mark.parametrize("dialect", ["postgres"])
def test_postgres_listen_starts_an_inserted_row_at_once_without_polling(site, store):
    # Polling every 60 s and heartbeats every 29 s: only a notification wakes the worker.
    site.write_worker_yaml(poll_interval_seconds=60, heartbeat_interval_seconds=29,
                           lease_seconds=30)
    before = _listen_connections(store)
    worker = site.start_worker()
    site.wait_registered(worker)
    wait_until(lambda: _listen_connections(store) > before, message="the worker to LISTEN")
    latencies = []
    for _ in range(5):
        (execution_id,) = insert(store, [NewExecution("noop")])
        wait_until(lambda done=[execution_id]: all_in(store, done, Status.SUCCESS),
                   timeout=10, message=f"execution {execution_id} to run\n{site.logs()}")
        execution = store.execution_get(execution_id)
        latencies.append((execution.started_at - execution.created_at).total_seconds())
    latencies.sort()
    print(f"\npostgres insert -> started_at: median {latencies[2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")
    assert latencies[-1] < 1.0, latencies
    assert worker.stop() == 0


def _listen_connections(store: Store) -> int:
    return store.database.run(lambda conn: conn.fetch_value(
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN jobu_executions'"),
        write=False)


# --- the database going away, a reload that fails ------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_running_jobs_outlive_a_database_outage_and_their_outcomes_are_written_after(
        site, store, db_spec):
    proxy = TcpProxy(db_spec.host, db_spec.port).start()
    try:
        _outage_scenario(site, store, db_spec, proxy)
    finally:
        proxy.close()


def _outage_scenario(site: WorkerSite, store: Store, db_spec, proxy: TcpProxy) -> None:
    database_yaml = site.config_dir / "database.yaml"
    settings = yaml.safe_load(database_yaml.read_text())
    settings["databases"]["default"].update(pool_timeout_seconds=2, connect_timeout_seconds=1)
    database_yaml.write_text(yaml.safe_dump(settings))
    site.write_worker_yaml(lease_seconds=60, heartbeat_interval_seconds=1)
    through_proxy = spec_url(replace(db_spec, host=proxy.host, port=proxy.port))
    ids = insert(store, [NewExecution("sleep", {"seconds": 3}) for _ in range(4)])
    worker = site.start_worker(env={"JOBU_DATABASE_URL": through_proxy})
    worker_id = site.wait_registered(worker)
    wait_until(lambda: all_in(store, ids, Status.RUNNING), message=site.logs())

    proxy.cut()
    # The jobs end while the database is away: their outcomes wait in the worker.
    wait_until(lambda: "4 outcomes wait for the database" in worker.log,
               timeout=20, message=f"4 buffered outcomes\n{site.logs()}")
    wait_until(lambda: proxy.refused >= 3, timeout=20,
               message="the worker to keep trying the database")
    assert worker.alive(), site.logs()
    assert all_in(store, ids, Status.RUNNING), "nothing reached the database meanwhile"

    proxy.restore()
    wait_until(lambda: all_in(store, ids, Status.SUCCESS), timeout=45,
               message=f"the buffered outcomes to be written\n{site.logs()}")
    for execution in map(store.execution_get, ids):
        assert (execution.attempt, execution.worker_id) == (1, worker_id)
        assert execution.result["slept"] >= 3
    (later,) = insert(store, [NewExecution("noop", {"after": "outage"})])
    wait_until(lambda: all_in(store, [later], Status.SUCCESS), timeout=15,
               message=f"a job after the outage\n{site.logs()}")
    assert "database unavailable" in worker.log
    assert "Traceback" not in worker.log
    assert worker.stop() == 0


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_an_obsolete_key_is_logged_at_start_and_on_reload(site, store):
    site.write_worker_yaml(retry_backoff_seconds=10)
    notice = "WARNING worker.yaml: retry_backoff_seconds: no longer read"
    worker = site.start_worker()
    site.wait_registered(worker)
    assert worker.log.count(notice) == 1, worker.log
    worker.signal(signal.SIGHUP)
    wait_until(lambda: worker.log.count(notice) == 2, timeout=10,
               message=f"the notice logged again on reload\n{site.logs()}")
    assert worker.stop() == 0


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_sighup_with_a_broken_worker_yaml_keeps_the_worker_running(site, store):
    worker_yaml = site.write_worker_yaml()
    worker = site.start_worker()
    site.wait_registered(worker)
    worker_yaml.write_text("pool_size: many\nqueues: [default]\n")
    worker.signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in worker.log, timeout=10,
               message=f"the refusal in the log\n{site.logs()}")
    assert "pool_size" in worker.log
    assert "keeps its running configuration" in worker.log
    (execution_id,) = insert(store, [NewExecution("noop")])
    wait_until(lambda: all_in(store, [execution_id], Status.SUCCESS), timeout=10,
               message=f"a job after the refused reload\n{site.logs()}")
    assert worker.alive()
    assert worker.stop() == 0
