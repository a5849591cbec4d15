"""The worker's main loop on a fake clock: deadlines, heartbeats, group commit, prefetch.

The worker takes its clock like the dispatcher: deadlines and heartbeats follow
FakeClock.advance(), so these tests never wait for time to pass. Handlers block on
events the test sets; the database is SQLite in a temporary file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from jobu.clock import FakeClock
from jobu.config import WorkerConfig
from jobu.handlers import HandlerRegistry, HandlerSpec
from jobu.model import DatabaseSpec, NewExecution, Status
from jobu.store import Store, open_store
from jobu.worker import Worker
from tests.servers import wait_until

RELEASE = threading.Event()


def blocks(ctx, params):
    """Waits until the test sets RELEASE (ignores cancellation: a stuck handler)."""
    RELEASE.wait(10)
    return {"released": True}


def quick(ctx, params):
    return params


def spec(name: str, target) -> HandlerSpec:
    return HandlerSpec(name=name, target=target, source=__file__, module=__name__,
                       qualname=target.__qualname__)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    store = open_store(DatabaseSpec(name="jobs", driver="sqlite", path=str(tmp_path / "j.db"),
                                    pool_size=4))
    store.migrate()
    yield store
    store.close()


class Loop:
    """A worker on a fake clock, and the passes jobu.daemon would run."""

    def __init__(self, store: Store, **settings: Any) -> None:
        RELEASE.clear()
        self.clock = FakeClock()
        self.wake = threading.Event()
        self.config = WorkerConfig(**{"pool_size": 2, "lease_seconds": 30,
                                      "heartbeat_interval_seconds": 10,
                                      "shutdown_timeout_seconds": 0, **settings})
        registry = HandlerRegistry([spec("blocks", blocks), spec("quick", quick)])
        self.worker = Worker(store=store, config=self.config, registry=registry,
                             wake=self.wake, listen=False, clock=self.clock)
        self.finish_calls: list[int] = []
        real = store.execution_finish_many

        def counting(finished, **kwargs):
            self.finish_calls.append(len(finished))
            return real(finished, **kwargs)
        self.worker.store = _Proxy(store, execution_finish_many=counting)

    def once(self) -> float:
        self.wake.clear()
        return self.worker.run_once(self.clock.now())

    def stop(self) -> None:
        RELEASE.set()
        self.worker.shutdown(threading.Event())


class _Proxy:
    """The store, with some methods replaced (to count calls)."""

    def __init__(self, store: Store, **methods: Any) -> None:
        self._store = store
        self.__dict__.update(methods)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def loop(store) -> Iterator[Any]:
    made: list[Loop] = []

    def make(**settings: Any) -> Loop:
        made.append(Loop(store, **settings))
        made[-1].worker.executor.store = made[-1].worker.store
        return made[-1]
    yield make
    for each in made:
        each.stop()


def test_a_deadline_follows_the_injected_clock(store, loop, caplog):
    caplog.set_level(logging.INFO, logger="jobu.worker")
    w = loop(pool_size=1)
    (eid,) = store.execution_insert_many([NewExecution("blocks", {}, timeout_seconds=60)])
    w.once()
    wait_until(lambda: w.worker.executor.attempts[eid].running, message="the handler runs")
    w.clock.advance(59)
    w.once()
    assert store.execution_get(eid).status is Status.RUNNING, "59 s of 60: still running"
    w.clock.advance(1)
    w.once()
    assert store.execution_get(eid).status is Status.TIMEOUT
    assert store.execution_get(eid).error_message == "timed out after 60s"
    assert w.worker.pool.counts() == (0, 1), "its thread is stuck, and replaced"
    assert any("its thread is stuck" in r.getMessage() for r in caplog.records)


def test_heartbeats_come_every_interval_of_the_injected_clock(store, loop):
    w = loop(heartbeat_interval_seconds=10)
    beats: list[int] = []
    real = w.worker.store.execution_renew_leases

    def renew(worker_id, held, lease_seconds, now=None):
        beats.append(len(held))
        return real(worker_id, held, lease_seconds, now=now)
    w.worker.store.__dict__["execution_renew_leases"] = renew
    w.once()
    assert len(beats) == 1
    for _ in range(3):
        w.once()
    w.clock.advance(9.9)
    w.once()
    assert len(beats) == 1
    w.clock.advance(0.2)
    w.once()
    assert len(beats) == 2


def test_outcomes_that_finished_together_are_written_in_one_transaction(store, loop):
    w = loop(pool_size=4)
    ids = store.execution_insert_many([NewExecution("blocks", {}) for _ in range(4)])
    w.once()
    assert w.finish_calls == [0], "the first pass only claims"
    RELEASE.set()
    wait_until(lambda: w.worker.executor.outcomes_waiting() == 4, message="4 outcomes")
    w.once()
    assert w.finish_calls[-1] == 4, "four outcomes, one write"
    assert [store.execution_get(i).status for i in ids] == [Status.SUCCESS] * 4
    assert w.worker.executor.done == 4


def test_an_outcome_is_logged_only_once_it_is_written(store, loop, caplog):
    caplog.set_level(logging.INFO, logger="jobu.worker")
    w = loop(pool_size=1)
    (eid,) = store.execution_insert_many([NewExecution("quick", {})])
    w.once()
    wait_until(w.worker.executor.has_outcomes, message="the outcome")
    assert not [r for r in caplog.records if "SUCCESS" in r.getMessage()], \
        "decided but not written: not logged yet"
    w.once()
    (line,) = [r.getMessage() for r in caplog.records if "SUCCESS" in r.getMessage()]
    assert line.startswith(f"execution {eid} (quick) attempt 1/1 ended after")
    assert store.execution_get(eid).status is Status.SUCCESS


def test_short_handlers_are_prefetched_long_ones_are_not(store, loop):
    w = loop(pool_size=2, claim_batch_size=2)
    store.execution_insert_many([NewExecution("blocks", {}) for _ in range(10)])
    w.once()
    assert w.worker.pool.load() == 2, "nothing is known of the handlers: no prefetch"
    w.worker.executor.average_seconds = 0.02  # 2 runners: 5 jobs start within 50 ms
    w.once()
    assert w.worker.pool.load() == 2 + 5, "short handlers: what starts within 50 ms"
    w.worker.executor.average_seconds = 0.001
    w.once()
    assert w.worker.pool.load() == 2 + 3 * 2, "very short ones: 3 per runner at most"
    w.worker.executor.average_seconds = 1.0
    w.once()
    assert w.worker.pool.load() == 8, "slow ones: nothing more"
    assert store.execution_list().items[0].status is Status.PENDING


def test_a_lease_lost_after_the_outcome_was_decided_does_not_mark_the_thread_stuck(
        store, loop, caplog):
    caplog.set_level(logging.INFO, logger="jobu.worker")
    w = loop(pool_size=1)
    (eid,) = store.execution_insert_many([NewExecution("quick", {})])
    w.once()
    wait_until(w.worker.executor.has_outcomes, message="the outcome")
    from jobu.store import LeaseRenewal
    w.worker.executor.renewed(LeaseRenewal(frozenset({eid}), frozenset()), 5.0)
    w.once()
    assert store.execution_get(eid).status is Status.SUCCESS
    assert not any("stuck" in r.getMessage() or "lost" in r.getMessage()
                   for r in caplog.records)


def test_the_heartbeat_renews_only_the_leases_the_worker_holds(store, loop):
    w = loop(pool_size=1)
    (mine,) = store.execution_insert_many([NewExecution("blocks", {})])
    w.once()
    # A claim whose commit landed while this worker saw an error: RUNNING under its id,
    # but the worker never got the row. Its lease must run out, not be renewed.
    (orphan,) = store.execution_insert_many([NewExecution("quick", {})])
    (claimed,) = store.execution_claim(w.worker.worker_id, ["default"], 1, 30)
    assert claimed.id == orphan
    before = store.execution_get(orphan).lease_expires_at
    held_before = store.execution_get(mine).lease_expires_at
    claimed_at = store.execution_get(orphan).started_at
    wait_until(lambda: store.database_now() > claimed_at + timedelta(milliseconds=5),
               message="the database's clock to move on")
    w.clock.advance(10)
    w.once()
    assert store.execution_get(orphan).lease_expires_at == before
    assert store.execution_get(mine).lease_expires_at > held_before


def test_an_outcome_whose_commit_landed_unacknowledged_is_not_called_lost(store, loop, caplog):
    """A write whose commit reached the database while the client saw an error is written
    again at the next pass: fenced out, but the row holds the attempt's token and is no
    longer RUNNING, so it was written, and the log says SUCCESS, not "lost"."""
    caplog.set_level(logging.INFO, logger="jobu.worker")
    w = loop(pool_size=1)
    (eid,) = store.execution_insert_many([NewExecution("quick", {})])
    w.once()
    wait_until(w.worker.executor.has_outcomes, message="the outcome")
    # The commit lands, the acknowledgement is lost: the worker still holds the outcome.
    store.execution_finish_many(w.worker.executor.outcomes_to_write())
    w.once()
    assert not w.worker.executor.has_outcomes()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"execution {eid} (quick)") and m.endswith("SUCCESS")
               for m in messages)
    assert not any("lost" in m for m in messages)
    assert w.worker.executor.done == 1
