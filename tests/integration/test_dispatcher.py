"""The dispatcher Service on SQLite, PostgreSQL and MariaDB, driven by a fake clock.

Each test calls `run_once(now)` the way jobu.daemon does, and moves the FakeClock by
the delay it returns, so hours of schedule pass in a moment. The store stamps rows
with the fake time (database_clock=False), so lateness, leases and retention are
measured on the same clock the ticks are.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

import jobu.dispatcher as dispatcher_module
from jobu.clock import FakeClock
from jobu.config import Config, DispatcherConfig
from jobu.dispatcher import Dispatcher
from jobu.errors import TransactionError
from jobu.model import CatchUp, CronSpec, ExecutionFilter, NewExecution, Status, WorkerInfo
from jobu.store import Store
from tests.servers import wait_until

T0 = datetime(2026, 3, 2, 12, 0, 0, 250000, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TOP = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # the minute T0 falls in

#: Settings that let a fake clock jump from tick to tick: only the ticks bound the sleep.
QUIET = {"min_cron_interval_seconds": 1, "max_sleep_seconds": 86400,
         "poll_interval_seconds": 86400, "maintenance_interval_seconds": 86400}


class Harness:
    """A fake clock and the dispatchers of one test, on one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FakeClock(T0)
        self.dispatchers: list[Dispatcher] = []
        self.delays: list[float] = []

    def dispatcher(self, **settings) -> Dispatcher:
        options = {key: settings.pop(key) for key in ("listen", "heartbeat_seconds")
                   if key in settings}
        dispatcher = Dispatcher(self.store, DispatcherConfig(**{**QUIET, **settings}),
                                clock=self.clock, database_clock=False,
                                **{"listen": False, "heartbeat_seconds": 86400, **options})
        self.dispatchers.append(dispatcher)
        return dispatcher

    def cron(self, name: str, schedule: str = "* * * * *", **fields) -> int:
        spec = CronSpec(name=name, schedule=schedule, handler_name="noop", **fields)
        return self.store.cron_create(spec, now=self.clock.now()).id

    def drive(self, dispatcher: Dispatcher, until: datetime) -> int:
        """Run passes, sleeping as told, until the clock would pass `until`; the pass count."""
        passes = 0
        while True:
            delay = dispatcher.run_once(self.clock.now())
            passes += 1
            assert passes < 10_000, "the dispatcher never sleeps"
            if self.clock.now() + timedelta(seconds=delay) > until:
                return passes
            self.delays.append(delay)
            self.clock.advance(delay)

    def rows(self, job_id: int | None = None) -> list:
        items = self.store.execution_list(ExecutionFilter(job_id=job_id), limit=10_000).items
        return sorted(items, key=lambda e: (e.scheduled_time, e.id))

    def close(self) -> None:
        for dispatcher in self.dispatchers:
            dispatcher.shutdown(hard_stop=None)


@pytest.fixture
def harness(store):
    harness = Harness(store)
    yield harness
    harness.close()


def minutes(*offsets: int) -> list[datetime]:
    return [TOP + n * MINUTE for n in offsets]


# --- ticks become rows --------------------------------------------------------------------


def test_each_tick_becomes_one_row_at_its_time(harness):
    job = harness.cron("report", allow_overlap=True, max_retry=2, priority=3, queue="reports",
                       handler_params={"to": "ops"}, timeout_seconds=30.0)
    dispatcher = harness.dispatcher()
    passes = harness.drive(dispatcher, T0 + 10 * MINUTE)
    rows = harness.rows(job)
    assert [r.scheduled_time for r in rows] == minutes(*range(1, 11))
    # It slept exactly until each tick: every row was created at its scheduled time.
    assert all(r.created_at == r.scheduled_time for r in rows)
    assert passes == 11
    first = rows[0]
    assert (first.status, first.param_source, first.handler_name, first.params) == \
        (Status.PENDING, "cron", "noop", {"to": "ops"})
    assert (first.max_retry, first.priority, first.queue, first.timeout_seconds) == \
        (2, 3, "reports", 30.0)
    stored = harness.store.cron_get("report")
    assert (stored.last_tick_at, stored.next_tick_at) == (TOP + 10 * MINUTE, TOP + 11 * MINUTE)


def test_status_names_the_next_tick_and_the_workers_row_comes_and_goes(harness):
    harness.cron("report", "0 13 * * *")
    harness.cron("sync", "*/5 * * * *")
    dispatcher = harness.dispatcher()
    assert dispatcher.run_once(harness.clock.now()) == pytest.approx(299.75)
    assert dispatcher.status() == "2 crons, next tick sync at 12:05:00 UTC (in 300 s)"
    assert dispatcher.healthy()
    [row] = harness.store.worker_list()
    assert (row.id, row.kind) == (dispatcher.dispatcher_id, "dispatcher")
    dispatcher.shutdown(hard_stop=None)
    assert harness.store.worker_list() == []


def test_a_heartbeat_keeps_the_workers_row_fresh(harness):
    harness.cron("report", "0 13 * * *")
    dispatcher = harness.dispatcher(heartbeat_seconds=10)
    assert dispatcher.run_once(harness.clock.now()) == 10
    harness.clock.advance(10)
    dispatcher.run_once(harness.clock.now())
    [row] = harness.store.worker_list()
    assert row.last_heartbeat == T0 + timedelta(seconds=10)
    harness.store.worker_deregister(dispatcher.dispatcher_id)  # pruned meanwhile
    harness.clock.advance(10)
    dispatcher.run_once(harness.clock.now())
    assert [w.id for w in harness.store.worker_list()] == [dispatcher.dispatcher_id]


# --- overlap, one-shots, changes ------------------------------------------------------------


def test_overlap_records_skipped_rows_naming_the_unfinished_execution(harness):
    job = harness.cron("report")
    dispatcher = harness.dispatcher()
    harness.drive(dispatcher, T0 + 3 * MINUTE)
    first, *skipped = harness.rows(job)
    assert first.status is Status.PENDING
    assert [(r.status, r.error_message) for r in skipped] == \
        [(Status.SKIPPED, f"previous execution {first.id} still PENDING")] * 2
    [claimed] = harness.store.execution_claim("w1", ["default"], 1, 600, now=harness.clock.now())
    harness.drive(dispatcher, T0 + 4 * MINUTE)
    assert harness.rows(job)[-1].error_message == f"previous execution {first.id} still RUNNING"
    harness.store.execution_complete(claimed.id, claimed.lease_token, None,
                                     now=harness.clock.now())
    harness.drive(dispatcher, T0 + 5 * MINUTE)
    assert harness.rows(job)[-1].status is Status.PENDING


def test_a_one_shot_runs_once_and_disables_its_cron(harness):
    job = harness.cron("once", "2026-03-02T12:01:30Z")
    dispatcher = harness.dispatcher()
    harness.drive(dispatcher, T0 + 10 * MINUTE)
    [row] = harness.rows(job)
    assert row.scheduled_time == TOP + timedelta(seconds=90) == row.created_at
    stored = harness.store.cron_get("once")
    assert (stored.is_enabled, stored.version, stored.next_tick_at) == (False, 2, None)
    assert dispatcher.status() == "0 crons"


def test_a_changed_cron_is_planned_again_at_the_next_poll(harness):
    job = harness.cron("report", "0 * * * *", allow_overlap=True)
    dispatcher = harness.dispatcher(poll_interval_seconds=5)
    assert dispatcher.run_once(harness.clock.now()) == 5  # no LISTEN here: it polls
    harness.store.cron_update("report", schedule="* * * * *", now=harness.clock.now())
    harness.clock.advance(5)
    dispatcher.run_once(harness.clock.now())
    assert harness.store.cron_get("report").next_tick_at == TOP + MINUTE
    harness.drive(dispatcher, T0 + 3 * MINUTE)
    assert [r.scheduled_time for r in harness.rows(job)] == minutes(1, 2, 3)


@pytest.mark.postgres
@pytest.mark.parametrize("dialect", ["postgres"], indirect=True)
def test_on_postgres_a_cron_change_wakes_the_dispatcher_at_once(harness):
    harness.cron("report", "0 * * * *")
    dispatcher = harness.dispatcher(listen=True, poll_interval_seconds=5, heartbeat_seconds=30)
    dispatcher.run_once(harness.clock.now())
    wait_until(lambda: dispatcher._listener.listening.is_set(), message="LISTEN jobu_crons")
    # Listening, it need not poll for changes: only the heartbeat bounds its sleep.
    assert dispatcher.run_once(harness.clock.now()) == 30
    dispatcher.wake.clear()
    harness.store.cron_create(CronSpec(name="new", schedule="* * * * *", handler_name="noop"),
                              now=harness.clock.now())
    assert dispatcher.wake.wait(5), "the notification did not wake the dispatcher"
    dispatcher.run_once(harness.clock.now())
    assert harness.store.cron_get("new").next_tick_at == TOP + MINUTE


def test_a_cron_firing_more_often_than_the_minimum_is_not_dispatched(harness, caplog):
    fast = harness.cron("fast", "* * * * * *")
    slow = harness.cron("slow", "* * * * *", allow_overlap=True)
    dispatcher = harness.dispatcher(min_cron_interval_seconds=60, max_sleep_seconds=120)
    with caplog.at_level(logging.ERROR, logger="jobu.dispatcher"):
        harness.drive(dispatcher, T0 + 3 * MINUTE)
    assert harness.rows(fast) == []
    assert len(harness.rows(slow)) == 3
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1 and "cron fast is not dispatched" in refusals[0]
    assert "min_cron_interval_seconds" in refusals[0]
    # It is looked at again every max_sleep_seconds: with a lower minimum, it runs.
    config = Config(config_dir=None, state_dir=None, databases={}, jobs_database=None,
                    dispatcher=DispatcherConfig(**{**QUIET, "min_cron_interval_seconds": 1}))
    dispatcher.reload(config)
    harness.drive(dispatcher, T0 + 5 * MINUTE)
    assert harness.rows(fast)


# --- restarts, catch-up and several dispatchers ---------------------------------------------


def test_a_restart_neither_repeats_nor_forgets_a_tick(harness):
    job = harness.cron("report", allow_overlap=True)
    first = harness.dispatcher()
    harness.drive(first, T0 + 5 * MINUTE)
    first.shutdown(hard_stop=None)
    harness.clock.advance(100)  # down over the 12:06 tick, back within its grace
    second = harness.dispatcher()
    harness.drive(second, T0 + 10 * MINUTE)
    rows = harness.rows(job)
    assert [r.scheduled_time for r in rows] == minutes(*range(1, 11))
    assert {r.status for r in rows} == {Status.PENDING}


@pytest.mark.parametrize(("policy", "ran"), [
    (CatchUp.SKIP, []), (CatchUp.LATEST, [120]), (CatchUp.ALL, [118, 119, 120])])
def test_after_downtime_each_catch_up_policy(harness, policy, ran):
    job = harness.cron("report", allow_overlap=True, catch_up=policy, catch_up_max_runs=3,
                       misfire_grace_seconds=10)
    dispatcher = harness.dispatcher()
    harness.drive(dispatcher, T0 + 10 * MINUTE)
    dispatcher.shutdown(hard_stop=None)
    harness.clock.set(TOP + 120 * MINUTE + timedelta(seconds=30))  # 14:00 is 30 s late
    restarted = harness.dispatcher()
    restarted.run_once(harness.clock.now())
    rows = harness.rows(job)[10:]
    missed = [r for r in rows if r.status is Status.MISSED]
    assert [r.scheduled_time for r in rows if r.status is Status.PENDING] == minutes(*ran)
    [range_row] = missed
    assert range_row.scheduled_time == TOP + 11 * MINUTE
    count = 110 - len(ran)
    last = TOP + (120 - len(ran)) * MINUTE
    assert range_row.error_message.startswith(
        f"missed {count} ticks from 2026-03-02 12:11:00 UTC to {last:%Y-%m-%d %H:%M:%S} UTC "
        "(no dispatcher recorded them before this one started at 2026-03-02 14:00:30 UTC; "
        f"catch_up={policy}")
    # Every tick since the cron was created has its answer, once.
    covered = 10 + count + len(ran)
    assert covered == 120


@pytest.mark.parametrize("batch", [7, 8, 40])
def test_one_pass_dispatches_every_due_cron_over_many_batches(harness, monkeypatch, batch):
    """Batches of 7 (or 8: the last one full, or 40: one) over 40 due crons. Each batch is
    recorded while the next is planned; every cron gets its row once, in this one pass."""
    monkeypatch.setattr(dispatcher_module, "DUE_BATCH", batch)
    jobs = [harness.cron(f"c{n:02d}", allow_overlap=n % 2 == 0) for n in range(40)]
    dispatcher = harness.dispatcher()
    dispatcher.run_once(harness.clock.now())  # plans each cron's first tick: 12:01
    harness.clock.set(TOP + MINUTE)
    assert dispatcher.run_once(harness.clock.now()) == pytest.approx(60.0)
    rows = harness.rows()
    assert sorted(r.job_id for r in rows) == sorted(jobs)
    assert {(r.scheduled_time, r.status) for r in rows} == {(TOP + MINUTE, Status.PENDING)}
    assert {c.next_tick_at for c in harness.store.cron_list()} == {TOP + 2 * MINUTE}


def test_ticks_missed_while_the_database_was_busy_say_so(harness, monkeypatch):
    """The dispatcher ran all along: the MISSED row blames the database, not its absence."""
    job = harness.cron("report", allow_overlap=True, catch_up=CatchUp.SKIP,
                       misfire_grace_seconds=10)
    dispatcher = harness.dispatcher()
    harness.drive(dispatcher, T0 + 2 * MINUTE)  # 12:01 and 12:02 are recorded on time

    def locked(*args, **kwargs):
        raise TransactionError("database is locked", database="jobs", transient=True)
    monkeypatch.setattr(harness.store, "cron_record_ticks", locked)
    for at in (TOP + 3 * MINUTE, TOP + 4 * MINUTE):  # e.g. a bulk enqueue holds SQLite's lock
        harness.clock.set(at)
        with pytest.raises(TransactionError):
            dispatcher.run_once(harness.clock.now())
    monkeypatch.undo()
    harness.clock.set(TOP + 5 * MINUTE + timedelta(seconds=30))
    dispatcher.run_once(harness.clock.now())
    [missed] = [r for r in harness.rows(job) if r.status is Status.MISSED]
    assert missed.error_message == (
        "missed 3 ticks from 2026-03-02 12:03:00 UTC to 2026-03-02 12:05:00 UTC (the dispatcher "
        "could not record them in time: database busy or unavailable from "
        "2026-03-02 12:03:00 UTC to 2026-03-02 12:05:30 UTC; catch_up=skip)")


def test_two_dispatchers_that_read_the_same_due_cron_record_each_tick_once(harness):
    job = harness.cron("report", allow_overlap=True)
    left, right = harness.dispatcher(), harness.dispatcher()
    for minute in range(1, 21):
        harness.clock.set(TOP + minute * MINUTE)
        now = harness.clock.now()
        # Both read the cron as due before either records it (a pass's first half), then
        # both record: the second one's compare-and-set finds the cron moved on.
        due = harness.store.cron_due(now)
        assert [cron.id for cron in due] == [job]
        first, second = (left, right) if minute % 2 else (right, left)
        first._dispatch(due, now)
        second._dispatch(due, now)
    rows = harness.rows(job)
    assert [r.scheduled_time for r in rows] == minutes(*range(1, 21))


# --- maintenance ----------------------------------------------------------------------------


def test_maintenance_rescues_expired_leases_and_prunes_history(harness):
    store, now = harness.store, harness.clock.now()
    old = now - timedelta(days=100)  # past the default retention of every status
    store.execution_insert(NewExecution("noop", run_after=old), now=old)
    [done] = store.execution_claim("w0", ["default"], 1, 60, now=old)
    store.execution_complete(done.id, done.lease_token, None, now=old)
    store.execution_insert(NewExecution("noop", status=Status.MISSED, scheduled_time=old),
                           now=old)
    retried = store.execution_insert(NewExecution("noop", max_retry=1, run_after=now), now=now)
    failed = store.execution_insert(NewExecution("noop", run_after=now), now=now)
    assert len(store.execution_claim("w1", ["default"], 2, 30, now=now)) == 2
    store.worker_register(WorkerInfo(id="gone", kind="worker", hostname="h", pid=1), now=old)
    dispatcher = harness.dispatcher(maintenance_interval_seconds=60, prune_batch_size=1)
    dispatcher.run_once(now)  # the first pass maintains at once; the leases still hold
    assert [w.id for w in store.worker_list()] == [dispatcher.dispatcher_id]
    remaining = store.execution_list(limit=100).items
    assert sorted(e.id for e in remaining) == [retried, failed]
    assert {e.status for e in remaining} == {Status.RUNNING}
    harness.clock.advance(60)
    dispatcher.run_once(harness.clock.now())
    expired = f"(lease expired at {now + timedelta(seconds=30):%Y-%m-%d %H:%M:%S} UTC)"
    for execution_id, status in ((retried, Status.RETRY), (failed, Status.FAILED)):
        row = store.execution_get(execution_id)
        assert (row.status, row.error_message) == (status, f"worker w1 lost {expired}")


def test_a_long_maintenance_pass_is_spread_over_passes_without_delaying_ticks(harness):
    store = harness.store
    old = harness.clock.now() - timedelta(days=400)
    store.execution_insert_many([NewExecution("noop", status=Status.MISSED, scheduled_time=old)
                                 for _ in range(30)], now=old)
    job = harness.cron("report", allow_overlap=True)
    dispatcher = harness.dispatcher(maintenance_interval_seconds=3600, prune_batch_size=1)
    # A tick is 10 ms away: each pass gets time for only its one step of maintenance.
    harness.clock.set(TOP + MINUTE - timedelta(seconds=0.01))
    passes = harness.drive(dispatcher, TOP + 3 * MINUTE)
    assert passes > 30
    rows = harness.rows(job)
    assert [r.scheduled_time for r in rows] == minutes(1, 2, 3)
    assert all(r.created_at == r.scheduled_time for r in rows)
    assert store.execution_list(ExecutionFilter(statuses=(Status.MISSED,))).items == []
