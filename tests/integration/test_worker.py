"""The worker Service in-process, against a real database on each dialect.

Each test builds a jobu.worker.Worker on the `store` fixture's database with the
handlers of tests/support/handler_trees/good, and drives its main loop itself
(`Harness.run_until`: run_once, then wait as long as run_once asked or until the
worker's wake event is set), so what happened after each pass can be checked.
Handlers that block use the probes' gates (worker_probes.gate), which the test opens,
so no thread outlives its test for long. The real `jobu worker` executable is
tested in tests/acceptance/test_worker_processes.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import jobu.worker
from jobu.config import Config, WorkerConfig
from jobu.errors import DatabaseError, DatabaseUnavailableError, LeaseLostError
from jobu.handlers import HandlerRegistry, discover_handlers
from jobu.model import Isolation, NewExecution, Status
from jobu.store import Store, open_store
from jobu.worker import Worker
from tests.servers import wait_until

GOOD = Path(__file__).resolve().parents[1] / "support" / "handler_trees" / "good"

#: The worker settings of most tests: fast heartbeats, no waiting for long.
SETTINGS = {"pool_size": 4, "poll_interval_seconds": 0.05, "lease_seconds": 30,
            "heartbeat_interval_seconds": 0.2, "shutdown_timeout_seconds": 2}


@pytest.fixture(scope="module")
def registry() -> HandlerRegistry:
    return discover_handlers([GOOD])


@pytest.fixture
def probes(registry) -> Iterator[Any]:
    """The worker_probes module as the registry imported it (its gates are the ones used)."""
    module = sys.modules["worker_probes"]
    yield module
    module.open_all_gates()


class Harness:
    """One in-process worker, and the loop that jobu.daemon would run around it."""

    def __init__(self, store: Store, registry: HandlerRegistry, **settings: Any) -> None:
        self.store = store
        self.wake = threading.Event()
        self.config = WorkerConfig(**{**SETTINGS, **settings})
        self.worker = Worker(store=store, config=self.config, registry=registry,
                             wake=self.wake, listen=False)
        self.stopped = False

    @property
    def id(self) -> str:
        return self.worker.worker_id

    def run_once(self) -> float:
        self.wake.clear()
        return self.worker.run_once(datetime.now(UTC))

    def run_until(self, predicate: Callable[[], Any], timeout: float = 10.0,
                  what: str = "") -> Any:
        """Run passes until `predicate()` is truthy (checked after each pass)."""
        deadline = time.monotonic() + timeout
        while True:
            delay = self.run_once()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g}s waiting for "
                                     f"{what or predicate} (last value {value!r}); worker "
                                     f"status {self.worker.status()}")
            self.wake.wait(min(delay, 0.05))

    def run_for(self, seconds: float) -> None:
        """Keep the loop running for a while (leases and heartbeats need time to pass)."""
        until = time.monotonic() + seconds
        self.run_until(lambda: time.monotonic() >= until, timeout=seconds + 5)

    def shutdown(self, hard: bool = False) -> float:
        """Drain and hand back as SIGTERM would; returns how long it took."""
        hard_stop = threading.Event()
        if hard:
            hard_stop.set()
        started = time.monotonic()
        self.worker.shutdown(hard_stop)
        self.stopped = True
        return time.monotonic() - started


@pytest.fixture
def harness(store, registry, probes) -> Iterator[Callable[..., Harness]]:
    """A factory of workers on the test's store; each is shut down when the test ends."""
    made: list[Harness] = []

    def make(on: Store | None = None, **settings: Any) -> Harness:
        made.append(Harness(on or store, registry, **settings))
        return made[-1]

    yield make
    probes.open_all_gates()
    for h in made:
        if not h.stopped:
            h.shutdown(hard=True)
        with contextlib.suppress(AssertionError):  # a teardown: a pool still busy is left
            wait_until(lambda h=h: h.worker.pool.load() == 0, 10)


def get(store: Store, execution_id: int):
    return store.execution_get(execution_id)


def status_of(store: Store, *ids: int) -> list[Status]:
    return [store.execution_get(i).status for i in ids]


def finished(store: Store, *ids: int) -> bool:
    return all(s.is_final for s in status_of(store, *ids))


def duration(execution) -> float:
    return (execution.finished_at - execution.started_at).total_seconds()


def pid_alive(pid: int) -> bool:
    """True while process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- running and recording ------------------------------------------------------------------

def test_executions_run_once_and_record_result_worker_and_times(store, harness, caplog):
    caplog.set_level(logging.DEBUG, logger="jobu.worker")
    h = harness()
    noop, klass, progress = store.execution_insert_many([
        NewExecution("noop", {"a": 1}), NewExecution("class_style", {"b": 2}),
        NewExecution("progress")])
    h.run_until(lambda: finished(store, noop, klass, progress))
    assert status_of(store, noop, klass, progress) == [Status.SUCCESS] * 3
    assert get(store, noop).result == {"a": 1}
    assert get(store, klass).result == {"execution": klass, "got": {"b": 2}}
    done = get(store, progress)
    assert (done.result, done.progress, done.progress_note) == ("done", 0.5, "half way")
    for execution in map(store.execution_get, (noop, klass, progress)):
        assert (execution.attempt, execution.worker_id, execution.error_message) == \
            (1, h.id, None)
        assert execution.started_at <= execution.finished_at
        assert execution.lease_expires_at is None
        assert store.execution_errors(execution.id) == []
    (info,) = store.worker_list()
    assert (info.id, info.kind, info.pid, info.pool_size) == (h.id, "worker", os.getpid(), 4)
    assert {"noop", "sleep", "class_style", "monthly_summary"} <= set(info.handlers)
    assert h.worker.status() == "0/4 busy, 0 stuck, 3 done, 0 failed"
    lines = [r.getMessage() for r in caplog.records]
    assert f"execution {noop} (noop) attempt 1/1 started" in lines  # at DEBUG
    assert any(line.startswith(f"execution {noop} (noop) attempt 1/1 ended after ")
               and line.endswith(": SUCCESS") for line in lines)
    ended = [r for r in caplog.records if getattr(r, "outcome", None) == "success"]
    assert {r.execution_id for r in ended} == {noop, klass, progress}
    assert all(r.handler and r.duration >= 0 for r in ended)
    h.shutdown()
    assert store.worker_list() == [], "the worker deregistered"


def test_a_worker_whose_row_was_pruned_registers_again(store, harness):
    h = harness(heartbeat_interval_seconds=0.1)
    h.run_once()
    assert [w.id for w in store.worker_list()] == [h.id]
    # A worker paused for long is forgotten by the maintenance pass, then comes back.
    store.worker_prune(0, now=datetime.now(UTC) + timedelta(hours=1))
    assert store.worker_list() == []
    h.run_until(lambda: [w.id for w in store.worker_list()] == [h.id], timeout=5,
                what="the worker to register again")


def test_claims_only_for_free_threads_by_priority_then_age(store, harness, probes,
                                                           monkeypatch):
    monkeypatch.setattr(jobu.worker, "PREFETCH_HORIZON_SECONDS", 0.0)  # no prefetch here
    h = harness(pool_size=2)
    old = datetime.now(UTC) - timedelta(minutes=5)
    ids = store.execution_insert_many([
        NewExecution("gate", {"gate": "a"}, priority=0),
        NewExecution("gate", {"gate": "b"}, priority=5),
        NewExecution("gate", {"gate": "c"}, priority=0, run_after=old),
        NewExecution("gate", {"gate": "d"}, priority=9),
        NewExecution("gate", {"gate": "e"}, priority=0, queue="elsewhere"),
    ])
    a, b, c, d, e = ids
    h.run_once()
    running = {i for i in ids if get(store, i).status is Status.RUNNING}
    assert running == {d, b}, "the two highest priorities, and only two"
    h.run_once()
    assert h.worker.pool.counts() == (2, 0)
    assert status_of(store, a, c, e) == [Status.PENDING] * 3
    probes.gate_event("d").set()
    h.run_until(lambda: get(store, c).status is Status.RUNNING, what="the oldest next")
    assert get(store, a).status is Status.PENDING
    probes.gate_event("b").set()
    probes.gate_event("c").set()
    h.run_until(lambda: get(store, a).status is Status.RUNNING)
    probes.gate_event("a").set()
    h.run_until(lambda: finished(store, a, b, c, d))
    assert get(store, e).status is Status.PENDING, "a queue this worker does not serve"


def test_a_full_claim_claims_again_at_once(store, harness):
    h = harness(pool_size=4, claim_batch_size=1, poll_interval_seconds=30,
                heartbeat_interval_seconds=30, lease_seconds=60)
    ids = store.execution_insert_many([NewExecution("gate", {"gate": f"g{n}"})
                                       for n in range(4)])
    delays = [h.run_once() for _ in range(4)]
    assert delays[:3] == [0.0, 0.0, 0.0], "claims came back full: claim again now"
    assert status_of(store, *ids) == [Status.RUNNING] * 4
    assert h.run_once() > 0.1, "no free slot: wait for the next event"


# --- outcomes -------------------------------------------------------------------------------

def test_an_error_retries_with_exponential_backoff_and_full_jitter_then_fails(store, harness):
    count, base = 30, 8.0
    h = harness(pool_size=count)
    ids = store.execution_insert_many([
        NewExecution("always_fail", {"n": n}, max_retry=2, retry_backoff_seconds=base)
        for n in range(count)])

    def run_all(status: Status, attempt: int) -> list:
        """One pass claims all of them, one writes their outcomes and claims nothing (the
        worker serves another queue meanwhile), so no retry starts early."""
        h.run_once()
        wait_until(lambda: h.worker.executor.outcomes_waiting() == count,
                   message=f"{count} outcomes")
        h.worker.config = dataclasses.replace(h.worker.config, queues=("elsewhere",))
        h.run_once()
        h.worker.config = dataclasses.replace(h.worker.config, queues=("default",))

        def rows():
            found = [get(store, i) for i in ids]
            return all((e.status, e.attempt) == (status, attempt) for e in found) and found
        return wait_until(rows, message=f"all {count} at {status} after attempt {attempt}")

    first = [(e.run_after - e.updated_at).total_seconds() for e in run_all(Status.RETRY, 1)]
    # Full jitter: uniform in [0, base] after the first attempt, [0, 2 base] after the second.
    assert all(-0.01 <= d <= base + 0.01 for d in first), first
    assert max(first) > base / 4 and len({round(d, 3) for d in first}) > count // 2
    _make_retries_due(store)
    second = [(e.run_after - e.updated_at).total_seconds() for e in run_all(Status.RETRY, 2)]
    assert all(-0.01 <= d <= 2 * base + 0.01 for d in second), second
    assert max(second) > base, "the bound doubled"
    _make_retries_due(store)
    for execution in run_all(Status.FAILED, 3):
        assert execution.error_message == "ValueError: boom on attempt 3"
        errors = store.execution_errors(execution.id)
        assert [(e.attempt, e.status, e.error_message) for e in errors] == [
            (n, Status.FAILED, f"ValueError: boom on attempt {n}") for n in (1, 2, 3)]
        assert all("Traceback" in e.traceback and "always_fail" in e.traceback
                   for e in errors)
        assert {e.worker_id for e in errors} == {h.id}


def _make_retries_due(store: Store) -> None:
    store.database.run(lambda conn: conn.execute(
        "UPDATE job_executions SET run_after = created_at WHERE status = 'RETRY'"))


def test_permanent_error_fails_at_once_whatever_the_retries(store, harness):
    h = harness()
    (execution_id,) = store.execution_insert_many([NewExecution("permanent", max_retry=5)])
    h.run_until(lambda: finished(store, execution_id))
    execution = get(store, execution_id)
    assert (execution.status, execution.attempt) == (Status.FAILED, 1)
    assert execution.error_message == \
        "PermanentError: the input file is corrupt; retrying cannot help"
    (error,) = store.execution_errors(execution_id)
    assert "PermanentError" in error.traceback


def test_retry_later_sets_its_own_delay_and_counts_attempts(store, harness):
    h = harness()
    later, last = store.execution_insert_many([
        NewExecution("retry_later", {"delay": 120}, max_retry=3),
        NewExecution("retry_later", {"delay": 120}, max_retry=0)])
    h.run_until(lambda: get(store, later).status is Status.RETRY and finished(store, last))
    waiting = get(store, later)
    assert waiting.attempt == 1
    assert 119 <= (waiting.run_after - waiting.updated_at).total_seconds() <= 121
    assert waiting.error_message == "RetryLater: the upstream is not ready"
    gave_up = get(store, last)
    assert gave_up.status is Status.FAILED
    assert gave_up.error_message == ("RetryLater: the upstream is not ready, but no attempts "
                                     "are left (max_retry 0)")


def test_an_unknown_handler_fails_once_naming_the_worker_and_its_handlers(store, harness):
    h = harness()
    (execution_id,) = store.execution_insert_many([NewExecution("no_such_handler",
                                                                max_retry=5)])
    h.run_until(lambda: finished(store, execution_id))
    h.run_for(0.3)
    execution = get(store, execution_id)
    assert (execution.status, execution.attempt) == (Status.FAILED, 1), "not retried"
    known = ", ".join(h.worker.registry.names())
    assert execution.error_message == (f"no handler named 'no_such_handler' on worker {h.id} "
                                       f"(known: {known})")
    assert "noop" in known and "always_fail" in known
    assert len(store.execution_errors(execution_id)) == 1


def test_a_result_that_is_not_json_fails_without_retry(store, harness):
    h = harness()
    (execution_id,) = store.execution_insert_many([NewExecution("non_json", max_retry=3)])
    h.run_until(lambda: finished(store, execution_id))
    execution = get(store, execution_id)
    assert (execution.status, execution.attempt, execution.result) == (Status.FAILED, 1, None)
    assert execution.error_message.startswith("the handler's result is not JSON-serialisable")
    assert "set" in execution.error_message


def test_a_result_over_max_result_bytes_fails_without_retry_and_one_under_it_is_kept(
        store, harness):
    h = harness(max_result_bytes=1000)
    over, under = store.execution_insert_many([
        NewExecution("sized_result", {"chars": 1000}, max_retry=3),
        NewExecution("sized_result", {"chars": 900})])
    h.run_until(lambda: finished(store, over, under))
    execution = get(store, over)
    assert (execution.status, execution.attempt, execution.result) == (Status.FAILED, 1, None)
    assert "1,012 bytes of JSON, over the limit of 1,000" in execution.error_message
    assert get(store, under).result == {"text": "x" * 900}


def test_params_that_do_not_fit_the_schema_fail_without_retry(store, harness):
    h = harness()
    bad, good = store.execution_insert_many([
        NewExecution("with_schema", {"month": "March"}, max_retry=3),
        NewExecution("with_schema", {"month": "3"})])
    h.run_until(lambda: finished(store, bad, good))
    execution = get(store, bad)
    assert (execution.status, execution.attempt) == (Status.FAILED, 1)
    assert execution.error_message.startswith("InvalidInputError: invalid params for "
                                              "with_schema")
    assert "month" in execution.error_message
    assert get(store, good).result == {"month": 3}, "params as the schema loaded them"


# --- timeouts and stuck threads ---------------------------------------------------------------

def test_a_timeout_ends_the_attempt_at_the_deadline_and_the_pool_keeps_its_width(
        store, harness, probes, caplog):
    caplog.set_level(logging.INFO, logger="jobu.worker")
    h = harness(pool_size=2)
    hung, retried = store.execution_insert_many([
        NewExecution("gate", {"gate": "hung"}, timeout_seconds=1),
        NewExecution("gate", {"gate": "retried", "only_attempt": 1}, timeout_seconds=1,
                     max_retry=1, retry_backoff_seconds=0)])
    h.run_until(lambda: get(store, hung).status is Status.TIMEOUT, timeout=5)
    execution = get(store, hung)
    assert 0.9 <= duration(execution) <= 1.5, duration(execution)
    assert execution.error_message == "timed out after 1s"
    (error,) = store.execution_errors(hung)
    assert (error.status, error.attempt) == (Status.TIMEOUT, 1)
    # The other one timed out too, was retried, and its second attempt passed the gate.
    h.run_until(lambda: get(store, retried).status is Status.SUCCESS, timeout=5)
    assert get(store, retried).attempt == 2
    assert [e.status for e in store.execution_errors(retried)] == [Status.TIMEOUT]
    # Both first-attempt threads still run: stuck.
    h.run_until(lambda: h.worker.pool.counts() == (0, 2), what="two stuck threads")

    # Full width: two more jobs run at once beside the two stuck threads.
    more = store.execution_insert_many([NewExecution("gate", {"gate": f"more{n}"})
                                        for n in range(2)])
    h.run_until(lambda: status_of(store, *more) == [Status.RUNNING] * 2)
    assert h.worker.pool.counts() == (2, 2)
    assert h.worker.status() == "2/2 busy, 2 stuck, 1 done, 1 failed"
    assert h.worker.healthy()

    # The stuck thread ends at last: its result is discarded.
    probes.gate_event("hung").set()
    h.run_until(lambda: h.worker.pool.counts()[1] == 1)
    after = get(store, hung)
    assert (after.status, after.result) == (Status.TIMEOUT, None)
    assert any("its result is discarded" in r.getMessage() for r in caplog.records)
    assert any("its thread is stuck" in r.getMessage() for r in caplog.records)
    for n in range(2):
        probes.gate_event(f"more{n}").set()
    h.run_until(lambda: finished(store, *more))


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_the_pool_is_wedged_when_stuck_threads_take_every_slot(store, harness, probes):
    h = harness(pool_size=1)
    ids = store.execution_insert_many([NewExecution("gate", {"gate": "all"},
                                                    timeout_seconds=0.3) for _ in range(3)])
    h.run_until(lambda: status_of(store, *ids)[:2] == [Status.TIMEOUT] * 2)
    h.run_once()
    assert h.worker.pool.counts() == (0, 2)
    assert not h.worker.healthy(), "two stuck threads, one slot: wedged"
    assert get(store, ids[2]).status is Status.PENDING
    probes.gate_event("all").set()
    h.run_until(lambda: finished(store, *ids))
    assert h.worker.healthy()


def test_process_isolation_kills_the_child_at_the_deadline(store, harness, tmp_path):
    h = harness(pool_size=3)
    pid_files = [tmp_path / "enqueue.pid", tmp_path / "handler.pid", tmp_path / "deaf.pid"]
    ids = store.execution_insert_many([
        NewExecution("pid_then_hang", {"pid_file": str(pid_files[0]), "seconds": 60},
                     timeout_seconds=1, isolation=Isolation.PROCESS),
        # isolation asked for by the handler itself
        NewExecution("pid_then_hang_isolated", {"pid_file": str(pid_files[1]), "seconds": 60},
                     timeout_seconds=1),
        # a child that ignores SIGTERM is killed
        NewExecution("pid_then_hang", {"pid_file": str(pid_files[2]), "seconds": 60,
                                       "ignore_sigterm": True},
                     timeout_seconds=1, isolation=Isolation.PROCESS)])
    started = time.monotonic()
    h.run_until(lambda: all(p.exists() for p in pid_files), timeout=10,
                what="the children to start")
    children = [int(p.read_text()) for p in pid_files]
    assert os.getpid() not in children and all(map(pid_alive, children))
    h.run_until(lambda: not any(map(pid_alive, children)), timeout=5, what="the children gone")
    gone = time.monotonic() - started
    assert gone < 2.5, f"the children were gone {gone:.2f} s after the start"
    h.run_until(lambda: status_of(store, *ids) == [Status.TIMEOUT] * 3)
    for execution in map(store.execution_get, ids):
        assert 0.9 <= duration(execution) <= 1.6
    h.run_until(lambda: h.worker.pool.counts() == (0, 0), what="the threads back, none stuck")


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_process_isolation_returns_results_errors_and_progress(store, harness):
    h = harness()
    ok, failing, permanent, progress, crash = store.execution_insert_many([
        NewExecution(name, params, isolation=Isolation.PROCESS, max_retry=max_retry)
        for name, params, max_retry in [("noop", {"x": 1}, 0), ("always_fail", {}, 0),
                                        ("permanent", {}, 4), ("progress", {}, 0),
                                        ("dies_hard", {"code": 7}, 0)]])
    h.run_until(lambda: finished(store, ok, failing, permanent, progress, crash), timeout=20)
    assert get(store, ok).result == {"x": 1}
    assert get(store, failing).error_message == "ValueError: boom on attempt 1"
    (error,) = store.execution_errors(failing)
    assert "Traceback" in error.traceback and "always_fail" in error.traceback
    assert (get(store, permanent).status, get(store, permanent).attempt) == (Status.FAILED, 1)
    done = get(store, progress)
    assert (done.result, done.progress, done.progress_note) == ("done", 0.5, "half way")
    # A child that dies takes its job down, and only its job.
    assert get(store, crash).status is Status.FAILED
    assert "exit code 7" in get(store, crash).error_message


# --- cancel ---------------------------------------------------------------------------------

def test_cancel_reaches_a_running_cooperative_job_within_a_heartbeat(store, harness):
    h = harness(heartbeat_interval_seconds=0.2)
    (execution_id,) = store.execution_insert_many([NewExecution("sleep", {"seconds": 600})])
    h.run_until(lambda: get(store, execution_id).status is Status.RUNNING)
    asked = time.monotonic()
    store.execution_request_cancel(execution_id)
    h.run_until(lambda: finished(store, execution_id), timeout=5)
    assert time.monotonic() - asked < 1.0
    execution = get(store, execution_id)
    assert (execution.status, execution.result) == (Status.CANCELLED, None)
    assert execution.error_message == "cancelled by an operator"
    h.run_until(lambda: h.worker.pool.counts() == (0, 0), what="the thread back")


def test_cancel_of_a_job_that_ignores_it_ends_it_after_a_grace_period(store, harness,
                                                                      monkeypatch):
    monkeypatch.setattr(jobu.worker, "CANCEL_GRACE_SECONDS", 0.5)
    h = harness(heartbeat_interval_seconds=0.2)
    (execution_id,) = store.execution_insert_many([NewExecution("gate", {"gate": "deaf"})])
    h.run_until(lambda: get(store, execution_id).status is Status.RUNNING)
    store.execution_request_cancel(execution_id)
    h.run_until(lambda: finished(store, execution_id), timeout=5)
    assert get(store, execution_id).status is Status.CANCELLED
    assert h.worker.pool.counts() == (0, 1), "its thread runs on, stuck"


@pytest.mark.parametrize("dialect", ["sqlite"])
def test_cancel_kills_the_child_process_of_an_isolated_job(store, harness, tmp_path):
    h = harness(heartbeat_interval_seconds=0.2)
    pid_file = tmp_path / "child.pid"
    (execution_id,) = store.execution_insert_many([
        NewExecution("pid_then_hang", {"pid_file": str(pid_file), "seconds": 600},
                     isolation=Isolation.PROCESS)])
    h.run_until(pid_file.exists, timeout=10, what="the child to start")
    child = int(pid_file.read_text())
    store.execution_request_cancel(execution_id)
    h.run_until(lambda: finished(store, execution_id), timeout=5)
    assert get(store, execution_id).status is Status.CANCELLED
    h.run_until(lambda: not pid_alive(child), timeout=3, what="the child gone")


# --- leases ---------------------------------------------------------------------------------

def test_heartbeats_renew_the_lease_of_a_job_that_outlives_it(store, harness):
    h = harness(lease_seconds=0.6, heartbeat_interval_seconds=0.15)
    (execution_id,) = store.execution_insert_many([NewExecution("sleep", {"seconds": 1.8},
                                                                max_retry=1)])
    h.run_until(lambda: get(store, execution_id).status is Status.RUNNING)
    rescued = []

    def rescue_and_check_done() -> bool:
        rescued.extend(store.execution_rescue_expired())
        return finished(store, execution_id)
    h.run_until(rescue_and_check_done, timeout=10)
    assert rescued == [], "the lease was renewed all along"
    execution = get(store, execution_id)
    assert (execution.status, execution.attempt) == (Status.SUCCESS, 1)


def test_a_lost_lease_stops_the_attempt_writing_and_a_late_result_is_discarded(
        store, harness, probes, caplog):
    caplog.set_level(logging.INFO, logger="jobu.worker")
    h = harness(pool_size=1, lease_seconds=0.5, heartbeat_interval_seconds=0.1)
    (execution_id,) = store.execution_insert_many([
        NewExecution("gate", {"gate": "first", "only_attempt": 1}, max_retry=2)])
    h.run_until(lambda: get(store, execution_id).status is Status.RUNNING)
    first = get(store, execution_id)
    # The worker's loop stands still (a pause, a partition) for longer than the lease: the
    # maintenance pass takes the execution back.
    (rescue,) = wait_until(store.execution_rescue_expired, timeout=5)
    assert rescue.status is Status.RETRY
    # The next heartbeat learns the lease is gone; the slot is freed and the retry runs.
    h.run_until(lambda: get(store, execution_id).status is Status.SUCCESS, timeout=5)
    second = get(store, execution_id)
    assert (second.attempt, second.result) == (2, {"attempt": 2, "waited": False})
    h.run_until(lambda: h.worker.pool.counts() == (0, 1), what="the first attempt stuck")
    # The first attempt returns at last: nothing of it is written.
    probes.gate_event("first").set()
    h.run_until(lambda: h.worker.pool.counts() == (0, 0))
    assert get(store, execution_id) == second
    with pytest.raises(LeaseLostError):
        store.execution_complete(execution_id, first.lease_token, "late")
    messages = [r.getMessage() for r in caplog.records]
    assert any("the lease was lost" in m for m in messages)
    assert any("its result is discarded" in m for m in messages)


# --- shutdown -------------------------------------------------------------------------------

def test_shutdown_drains_short_jobs_and_hands_back_long_ones(store, harness, probes, registry):
    h = harness(shutdown_timeout_seconds=1.0)
    short = store.execution_insert_many([NewExecution("sleep", {"seconds": 0.3,
                                                                "ignore_cancel": True})
                                         for _ in range(2)])
    long = store.execution_insert_many([NewExecution("gate", {"gate": "long"}, max_retry=1)
                                        for _ in range(2)])
    h.run_until(lambda: status_of(store, *short, *long) == [Status.RUNNING] * 4)
    took = h.shutdown()
    assert 0.9 <= took <= 1.6, f"shutdown took {took:.2f} s for a 1 s drain"
    assert status_of(store, *short) == [Status.SUCCESS] * 2
    for execution in map(store.execution_get, long):
        assert (execution.status, execution.attempt, execution.worker_id) == \
            (Status.PENDING, 0, None)
        assert store.execution_errors(execution.id) == []
    assert store.worker_list() == []
    # The handed-back jobs end in their old threads: nothing of that is written.
    probes.gate_event("long").set()
    wait_until(lambda: h.worker.pool.load() == 0, 5, message="the worker's pool idle")
    assert status_of(store, *long) == [Status.PENDING] * 2
    successor = harness()
    successor.run_until(lambda: finished(store, *long))
    for execution in map(store.execution_get, long):
        assert (execution.status, execution.attempt, execution.worker_id) == \
            (Status.SUCCESS, 1, successor.id)


def test_a_hard_stop_hands_back_at_once(store, harness):
    h = harness(shutdown_timeout_seconds=30)
    ids = store.execution_insert_many([NewExecution("gate", {"gate": "hard"})
                                       for _ in range(2)])
    h.run_until(lambda: status_of(store, *ids) == [Status.RUNNING] * 2)
    assert h.shutdown(hard=True) < 1.0
    assert status_of(store, *ids) == [Status.PENDING] * 2


# --- the database going away ------------------------------------------------------------------

class Outage:
    """Makes a Store's database unreachable until `end()`: every transaction fails."""

    def __init__(self, store: Store, monkeypatch) -> None:
        self.down = False
        real = store.database.run

        def run(work, *, write=True):
            if self.down:
                raise DatabaseUnavailableError("database 'default' is unreachable (test)")
            return real(work, write=write)
        monkeypatch.setattr(store.database, "run", run)

    def begin(self) -> None:
        self.down = True

    def end(self) -> None:
        self.down = False


@pytest.fixture
def worker_store(db_spec) -> Iterator[Store]:
    """A second Store on the test's database, for the worker alone (so it can be cut off)."""
    store = open_store(db_spec)
    yield store
    store.close()


def test_outcomes_wait_for_the_database_and_are_written_when_it_returns(
        store, worker_store, harness, probes, monkeypatch):
    outage = Outage(worker_store, monkeypatch)
    h = harness(on=worker_store)
    ids = store.execution_insert_many([NewExecution("gate", {"gate": "outage"})
                                       for _ in range(3)])
    h.run_until(lambda: status_of(store, *ids) == [Status.RUNNING] * 3)
    outage.begin()
    probes.gate_event("outage").set()
    wait_until(lambda: h.worker.executor.outcomes_waiting() == 3, message="3 buffered outcomes")
    for _ in range(3):
        with pytest.raises(DatabaseError):
            h.run_once()  # jobu.daemon logs it and backs off; the worker carries on
    # "done" counts outcomes written: none of these yet.
    assert h.worker.status() == ("0/4 busy, 0 stuck, 0 done, 0 failed, 3 outcomes waiting "
                                 "for the database")
    assert status_of(store, *ids) == [Status.RUNNING] * 3
    outage.end()
    h.run_once()
    assert h.worker.executor.outcomes_waiting() == 0
    assert h.worker.executor.done == 3
    for execution in map(store.execution_get, ids):
        assert (execution.status, execution.worker_id) == (Status.SUCCESS, h.id)
        assert execution.result["opened"] is True


def test_a_buffered_outcome_whose_lease_was_lost_meanwhile_is_not_written(
        store, worker_store, harness, probes, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="jobu.worker")
    outage = Outage(worker_store, monkeypatch)
    h = harness(on=worker_store)
    (execution_id,) = store.execution_insert_many([NewExecution("gate", {"gate": "cut"},
                                                                max_retry=1)])
    h.run_until(lambda: get(store, execution_id).status is Status.RUNNING)
    outage.begin()
    probes.gate_event("cut").set()
    wait_until(lambda: h.worker.executor.outcomes_waiting() == 1,
               message="the buffered outcome")
    # Away longer than the lease: rescued, and run by another worker.
    later = datetime.now(UTC) + timedelta(hours=1)
    store.execution_rescue_expired(now=later)
    (other,) = store.execution_claim("other-worker", ["default"], 1, 30, now=later)
    store.execution_complete(other.id, other.lease_token, "the other worker's result",
                             now=later)
    outage.end()
    h.run_once()
    assert h.worker.executor.outcomes_waiting() == 0
    execution = get(store, execution_id)
    assert (execution.status, execution.worker_id, execution.result) == \
        (Status.SUCCESS, "other-worker", "the other worker's result")
    assert any("lost its lease before its outcome" in r.getMessage()
               for r in caplog.records)


# --- reload ---------------------------------------------------------------------------------

def test_reload_takes_new_queues_and_timeouts_but_not_the_pool_size(store, harness, tmp_path):
    h = harness(pool_size=2)
    reports, plain = store.execution_insert_many([
        NewExecution("gate", {"gate": "r"}, queue="reports"),
        NewExecution("gate", {"gate": "p"})])
    h.run_until(lambda: get(store, plain).status is Status.RUNNING)
    assert get(store, reports).status is Status.PENDING
    new = WorkerConfig(**{**SETTINGS, "pool_size": 8, "queues": ("default", "reports"),
                          "default_timeout_seconds": 0.5})
    h.worker.reload(Config(config_dir=tmp_path, state_dir=tmp_path, databases={},
                           jobs_database=store.database.spec, worker=new))
    assert h.worker.config.pool_size == 2 and h.worker.config.claim_batch_size == 2
    h.run_until(lambda: get(store, reports).status is Status.TIMEOUT, timeout=5,
                what="the reports job to run, under the new default timeout")


def test_a_handler_that_calls_sys_exit_fails_its_job_and_the_thread_carries_on(store, harness):
    h = harness()
    in_thread, in_child = store.execution_insert_many([
        NewExecution("exits", {"code": 3}, max_retry=0),
        NewExecution("exits", {"code": 4}, max_retry=0, isolation=Isolation.PROCESS)])
    h.run_until(lambda: finished(store, in_thread, in_child), timeout=10)
    assert get(store, in_thread).error_message == "SystemExit: 3"
    assert get(store, in_child).error_message == "SystemExit: 4"
    (error,) = store.execution_errors(in_thread)
    assert "sys.exit" in error.traceback
    h.run_until(lambda: h.worker.pool.counts() == (0, 0), what="both threads back, none stuck")
