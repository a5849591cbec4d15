"""jobu.planning: which ticks run, which are MISSED or SKIPPED, and their jitter.

Pure functions, so the "clock" is the `now` each test passes; a cron's stored
state (last tick, creation time) is set by hand the way the dispatcher's store
would leave it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from jobu.errors import ScheduleError
from jobu.model import CatchUp, CronJob, DstRepeat, Isolation, ParamSource, Status
from jobu.planning import (
    MAX_TICKS_PER_PASS,
    ON_TIME_TOLERANCE_SECONDS,
    PassHistory,
    SharedAnswers,
    TickPlan,
    checked_schedule,
    evaluation_start,
    executions_for,
    jitter_offset_seconds,
    plan_ticks,
    run_after,
)
from jobu.schedule import parse_schedule

DAY1 = datetime(2026, 3, 1, tzinfo=UTC)


def hour(h: float, day: datetime = DAY1) -> datetime:
    return day + timedelta(hours=h)


def make_cron(schedule="0 * * * *", *, last_tick_at=None, created=DAY1, **fields) -> CronJob:
    return CronJob(name="report", schedule=schedule, handler_name="mail.report", id=7,
                   last_tick_at=last_tick_at, created_at=created, updated_at=created, **fields)


def plan(cron: CronJob, now: datetime, **options) -> TickPlan:
    schedule = parse_schedule(cron.schedule, cron.timezone, cron.dst_repeat)
    return plan_ticks(cron, schedule, now, **options)


def ran_and_missed(result: TickPlan) -> tuple[list[datetime], tuple | None]:
    missed = result.missed
    return list(result.run), None if missed is None else (missed.first, missed.last, missed.count)


# --- where evaluation starts ----------------------------------------------------------


def test_a_new_cron_starts_from_when_it_was_created_or_enabled():
    created = hour(2.5)
    cron = make_cron(created=created)
    assert evaluation_start(cron) == created
    # Nothing from before it existed runs or is reported missed, however late the pass.
    result = plan(cron, hour(5.5))
    assert ran_and_missed(result) == ([hour(5)], (hour(3), hour(4), 2))
    enabled_later = dataclasses.replace(cron, updated_at=hour(4.5))
    assert ran_and_missed(plan(enabled_later, hour(5.5))) == ([hour(5)], None)


def test_evaluation_continues_after_the_last_evaluated_tick():
    cron = make_cron(last_tick_at=hour(3), created=DAY1)
    assert evaluation_start(cron) == hour(3)
    result = plan(cron, hour(4, DAY1) + timedelta(seconds=1))
    assert result.run == (hour(4),) and result.missed is None
    assert (result.last_tick_at, result.next_tick_at, result.complete) == (hour(4), hour(5), True)


def test_nothing_due_keeps_the_last_tick_and_names_the_next():
    cron = make_cron(last_tick_at=hour(3))
    result = plan(cron, hour(3.5))
    assert (result.run, result.missed, result.last_tick_at, result.next_tick_at) == \
        ((), None, hour(3), hour(4))
    never_ticked = plan(make_cron(created=hour(3.2)), hour(3.5))
    assert (never_ticked.last_tick_at, never_ticked.next_tick_at) == (None, hour(4))


def test_a_cron_with_no_time_at_all_is_a_programming_error():
    with pytest.raises(ValueError, match="report"):
        evaluation_start(make_cron(created=None))


# --- catch-up after a gap ---------------------------------------------------------------

# Hourly, last evaluated at 00:00; the dispatcher comes back at 05:30: ticks 01:00-05:00
# are all late (the default grace is 60 s).
GAP_START, BACK_AT = hour(0), hour(5.5)
GAP_TICKS = [hour(h) for h in range(1, 6)]


@pytest.mark.parametrize(("policy", "max_runs", "runs", "missed"), [
    (CatchUp.SKIP, 10, [], (hour(1), hour(5), 5)),
    (CatchUp.LATEST, 10, [hour(5)], (hour(1), hour(4), 4)),
    (CatchUp.ALL, 3, [hour(3), hour(4), hour(5)], (hour(1), hour(2), 2)),
    (CatchUp.ALL, 10, GAP_TICKS, None),
    (CatchUp.ALL, 5, GAP_TICKS, None),
    (CatchUp.ALL, 1, [hour(5)], (hour(1), hour(4), 4)),
])
def test_each_catch_up_policy_after_a_gap(policy, max_runs, runs, missed):
    cron = make_cron(last_tick_at=GAP_START, catch_up=policy, catch_up_max_runs=max_runs)
    result = plan(cron, BACK_AT)
    assert ran_and_missed(result) == (runs, missed)
    # Every tick of the gap is accounted for, once.
    assert result.last_tick_at == hour(5) and result.next_tick_at == hour(6)
    assert len(runs) + (missed[2] if missed else 0) == len(GAP_TICKS)


@pytest.mark.parametrize("policy", list(CatchUp))
def test_a_tick_on_time_runs_whatever_the_policy_and_latest_adds_no_late_one(policy):
    cron = make_cron(last_tick_at=GAP_START, catch_up=policy, catch_up_max_runs=2)
    result = plan(cron, hour(5) + timedelta(seconds=30))
    expected_runs = {CatchUp.SKIP: [hour(5)], CatchUp.LATEST: [hour(5)],
                     CatchUp.ALL: [hour(3), hour(4), hour(5)]}[policy]
    assert list(result.run) == expected_runs
    assert result.missed.last == hour(4 if policy is not CatchUp.ALL else 2)


def test_misfire_grace_decides_what_is_late():
    cron = make_cron(last_tick_at=GAP_START, catch_up=CatchUp.SKIP, misfire_grace_seconds=600)
    assert ran_and_missed(plan(cron, hour(5) + timedelta(minutes=10))) == \
        ([hour(5)], (hour(1), hour(4), 4))
    assert ran_and_missed(plan(cron, hour(5) + timedelta(minutes=10, seconds=1))) == \
        ([], (hour(1), hour(5), 5))


def test_a_small_grace_still_absorbs_the_dispatchers_own_delays():
    cron = make_cron(last_tick_at=hour(4), catch_up=CatchUp.SKIP, misfire_grace_seconds=0)
    slightly_late = hour(5) + timedelta(seconds=ON_TIME_TOLERANCE_SECONDS)
    assert plan(cron, slightly_late).run == (hour(5),)
    too_late = slightly_late + timedelta(seconds=1)
    assert ran_and_missed(plan(cron, too_late)) == ([], (hour(5), hour(5), 1))


def test_a_long_gap_is_one_missed_row_naming_the_range():
    cron = make_cron("* * * * *", last_tick_at=DAY1, catch_up=CatchUp.SKIP)
    now = DAY1 + timedelta(days=1, minutes=2)
    result = plan(cron, now)
    assert [tick.strftime("%H:%M") for tick in result.run] == ["00:01", "00:02"]
    assert result.missed.message == (
        "missed 1440 ticks from 2026-03-01 00:01:00 UTC to 2026-03-02 00:00:00 UTC "
        "(no dispatcher recorded them in time; catch_up=skip)")
    [row, *_] = executions_for(cron, result, active=None)
    assert (row.status, row.scheduled_time, row.error_message) == \
        (Status.MISSED, hour(0) + timedelta(minutes=1), result.missed.message)


def test_one_missed_tick_and_the_all_policy_are_worded_plainly():
    one = plan(make_cron(last_tick_at=hour(4), catch_up=CatchUp.SKIP), hour(5.5))
    assert one.missed.message == \
        "missed the tick at 2026-03-01 05:00:00 UTC (no dispatcher recorded it in time; " \
        "catch_up=skip)"
    bounded = plan(make_cron(last_tick_at=hour(0), catch_up=CatchUp.ALL, catch_up_max_runs=2),
                   hour(5.5))
    assert bounded.missed.message.endswith("in time; catch_up=all, catch_up_max_runs=2)")


# --- why a tick was missed: what the dispatcher knows of its own past ------------------------


def missed_because(history: PassHistory, last_tick: datetime, now: datetime) -> str:
    """The cause a MISSED row gives for the ticks after `last_tick`, planned at `now`."""
    cron = make_cron("* * * * *", last_tick_at=last_tick, catch_up=CatchUp.SKIP)
    return plan(cron, now, history=history).missed.cause


def test_a_tick_from_before_the_dispatcher_started_was_recorded_by_no_dispatcher():
    # Down from 03:00 to 04:00: this dispatcher started at 04:00 and finds an hour of ticks.
    started = hour(4)
    assert missed_because(PassHistory(started), hour(3), started) == (
        "no dispatcher recorded them before this one started at 2026-03-01 04:00:00 UTC")


def test_a_dispatcher_blocked_by_its_database_says_so_not_that_it_was_not_running():
    # Running since 02:00; its passes failed from 03:00:01 (SQLite locked by a bulk enqueue,
    # or the server away) until the pass at 03:04:10 that went through.
    history = PassHistory(hour(2), last_pass=(hour(3), hour(3) + timedelta(seconds=0.2)),
                          failing_since=hour(3) + timedelta(seconds=1))
    now = hour(3) + timedelta(minutes=4, seconds=10)
    assert missed_because(history, hour(3), now) == (
        "the dispatcher could not record them in time: database busy or unavailable from "
        "2026-03-01 03:00:01 UTC to 2026-03-01 03:04:10 UTC")
    one = make_cron("0 * * * *", last_tick_at=hour(2), catch_up=CatchUp.SKIP)
    assert plan(one, hour(3.1), history=history).missed.message == (
        "missed the tick at 2026-03-01 03:00:00 UTC (the dispatcher could not record it in "
        "time: database busy or unavailable from 2026-03-01 03:00:01 UTC to "
        "2026-03-01 03:06:00 UTC; catch_up=skip)")


def test_a_slow_pass_and_a_stopped_process_are_told_apart():
    # One pass took two minutes (each of its transactions waited for a lock, then got it).
    slow = PassHistory(hour(2), last_pass=(hour(3), hour(3) + timedelta(minutes=2)))
    assert missed_because(slow, hour(3), hour(3) + timedelta(minutes=2, seconds=1)) == (
        "the dispatcher could not record it in time: its pass from 2026-03-01 03:00:00 UTC "
        "lasted until 2026-03-01 03:02:00 UTC (a busy database or a CPU shortage)")
    stopped = PassHistory(hour(2), last_pass=(hour(3), hour(3) + timedelta(seconds=0.1)))
    assert missed_because(stopped, hour(3), hour(3.5)) == (
        "the dispatcher could not record them in time: it made no pass from "
        "2026-03-01 03:00:00 UTC to 2026-03-01 03:30:00 UTC "
        "(the process was stopped or starved of CPU)")


def test_a_range_that_began_before_the_dispatcher_started_names_both_causes():
    history = PassHistory(hour(3), failing_since=hour(3))  # its first pass already failed
    assert missed_because(history, hour(2), hour(4)) == (
        "no dispatcher recorded them before this one started at 2026-03-01 03:00:00 UTC, and "
        "then database busy or unavailable from 2026-03-01 03:00:00 UTC to "
        "2026-03-01 04:00:00 UTC")


@pytest.mark.parametrize(("policy", "max_runs"), [(CatchUp.SKIP, 1), (CatchUp.LATEST, 1),
                                                  (CatchUp.ALL, 7)])
def test_a_gap_longer_than_one_pass_is_evaluated_in_slices(policy, max_runs):
    """Passes of at most 100 ticks; together they account for every tick once."""
    cron = make_cron("* * * * *", last_tick_at=DAY1, catch_up=policy, catch_up_max_runs=max_runs)
    now = DAY1 + timedelta(hours=6, seconds=10)  # 360 ticks, all late but 06:00
    missed_rows, runs, passes = [], [], 0
    while True:
        passes += 1
        result = plan(cron, now, max_ticks=100)
        assert len(result.run) + (result.missed.count if result.missed else 0) <= 100 + max_runs
        runs += result.run
        missed_rows += [result.missed] if result.missed else []
        cron = dataclasses.replace(cron, last_tick_at=result.last_tick_at)
        if result.complete:
            break
        assert result.next_tick_at <= now  # due again at once
    assert passes == 4
    expected_late_runs = {CatchUp.SKIP: 0, CatchUp.LATEST: 0, CatchUp.ALL: 7}[policy]
    assert len(runs) == expected_late_runs + 1 and runs[-1] == hour(6)
    assert sum(m.count for m in missed_rows) + len(runs) == 360
    covered = [(m.first, m.last) for m in missed_rows]
    assert all(later[0] > earlier[1] for earlier, later in zip(covered, covered[1:],
                                                                strict=False))
    assert result.next_tick_at == hour(6) + timedelta(minutes=1)


# --- one-shots and intervals ------------------------------------------------------------


def test_a_one_shot_runs_once_then_is_finished():
    cron = make_cron("2026-03-01T06:00:00Z", created=hour(1))
    before = plan(cron, hour(5))
    assert (before.run, before.next_tick_at, before.finished) == ((), hour(6), False)
    at_its_time = plan(cron, hour(6) + timedelta(seconds=0.2))
    assert (at_its_time.run, at_its_time.last_tick_at, at_its_time.finished) == \
        ((hour(6),), hour(6), True)
    after = plan(dataclasses.replace(cron, last_tick_at=hour(6)), hour(7))
    assert (after.run, after.missed, after.finished) == ((), None, True)


def test_a_one_shot_whose_time_passed_before_it_was_created_never_runs():
    result = plan(make_cron("2026-03-01T06:00:00Z", created=hour(7)), hour(8))
    assert (result.run, result.missed, result.finished) == ((), None, True)


def test_a_one_shot_missed_by_a_long_outage_follows_catch_up():
    cron = make_cron("2026-03-01T06:00:00Z", created=hour(1), catch_up=CatchUp.SKIP)
    assert ran_and_missed(plan(cron, hour(9))) == ([], (hour(6), hour(6), 1))
    latest = dataclasses.replace(cron, catch_up=CatchUp.LATEST)
    assert ran_and_missed(plan(latest, hour(9))) == ([hour(6)], None)


def test_an_interval_fires_on_multiples_of_its_length():
    cron = make_cron("every 90s", last_tick_at=DAY1 + timedelta(seconds=90),
                     misfire_grace_seconds=300)
    result = plan(cron, DAY1 + timedelta(seconds=275))
    assert result.run == (DAY1 + timedelta(seconds=180), DAY1 + timedelta(seconds=270))
    assert result.next_tick_at == DAY1 + timedelta(seconds=360)


def test_daylight_saving_gap_fires_at_the_first_valid_instant():
    cron = make_cron("30 2 * * *", timezone="Europe/Berlin",
                     last_tick_at=datetime(2026, 3, 28, 1, 30, tzinfo=UTC))
    # 02:30 does not exist in Berlin on 2026-03-29: it fires at 03:00 CEST (01:00 UTC).
    result = plan(cron, datetime(2026, 3, 29, 1, 0, 5, tzinfo=UTC))
    assert result.run == (datetime(2026, 3, 29, 1, 0, tzinfo=UTC),)
    assert result.next_tick_at == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


# --- the minimum interval ---------------------------------------------------------------


def test_a_schedule_firing_more_often_than_the_minimum_is_refused():
    every_second = make_cron("* * * * * *")
    with pytest.raises(ScheduleError, match="min_cron_interval_seconds"):
        checked_schedule(every_second, 60, DAY1)
    assert checked_schedule(every_second, 1, DAY1).next_after(DAY1) == \
        DAY1 + timedelta(seconds=1)
    with pytest.raises(ScheduleError, match="unknown time zone"):
        checked_schedule(make_cron(timezone="Mars/Olympus"), 60, DAY1)


# --- overlap ------------------------------------------------------------------------------


def test_overlap_skips_a_tick_while_the_previous_execution_is_unfinished():
    cron = make_cron(last_tick_at=hour(4))
    result = plan(cron, hour(5) + timedelta(seconds=1))
    [row] = executions_for(cron, result, active=(41, Status.RUNNING))
    assert row.status is Status.SKIPPED
    assert row.error_message == "previous execution 41 still RUNNING"
    [row] = executions_for(cron, result, active=None)
    assert row.status is Status.PENDING and row.error_message is None
    allowed = dataclasses.replace(cron, allow_overlap=True)
    [row] = executions_for(allowed, result, active=(41, Status.RETRY))
    assert row.status is Status.PENDING


def test_ticks_of_one_pass_overlap_each_other_unless_allowed():
    cron = make_cron(last_tick_at=hour(0), catch_up=CatchUp.ALL, catch_up_max_runs=3)
    result = plan(cron, BACK_AT)
    rows = executions_for(cron, result, active=None)
    assert [r.status for r in rows] == [Status.MISSED, Status.PENDING, Status.SKIPPED,
                                        Status.SKIPPED]
    assert rows[2].error_message == \
        "previous execution (tick 2026-03-01 03:00:00 UTC) still PENDING"
    overlapping = executions_for(dataclasses.replace(cron, allow_overlap=True), result, None)
    assert [r.status for r in overlapping] == [Status.MISSED] + [Status.PENDING] * 3


def test_rows_copy_the_cron():
    cron = make_cron(last_tick_at=hour(4), handler_params={"to": "ops"}, max_retry=3,
                     retry_backoff_seconds=7.5, timeout_seconds=30.0, priority=4,
                     queue="reports", isolation=Isolation.PROCESS)
    [row] = executions_for(cron, plan(cron, hour(5)), active=None)
    assert (row.handler_name, row.params, row.param_source, row.job_id) == \
        ("mail.report", {"to": "ops"}, ParamSource.CRON, 7)
    assert (row.max_retry, row.retry_backoff_seconds, row.timeout_seconds, row.priority,
            row.queue, row.isolation) == (3, 7.5, 30.0, 4, "reports", Isolation.PROCESS)
    assert row.scheduled_time == row.run_after == hour(5)


# --- jitter ------------------------------------------------------------------------------


def test_jitter_stays_within_bounds_and_is_the_same_on_every_dispatcher():
    ticks = [DAY1 + timedelta(minutes=n) for n in range(2000)]
    offsets = [jitter_offset_seconds(7, tick, 30) for tick in ticks]
    assert all(0 <= offset <= 30 for offset in offsets)
    assert offsets == [jitter_offset_seconds(7, tick, 30) for tick in ticks]
    # Spread over the whole range, not bunched at one end.
    assert min(offsets) < 1 and max(offsets) > 29
    assert sum(offsets) / len(offsets) == pytest.approx(15, abs=1.5)
    assert offsets != [jitter_offset_seconds(8, tick, 30) for tick in ticks]
    assert jitter_offset_seconds(7, DAY1, 0) == 0


def test_jitter_delays_run_after_never_scheduled_time():
    cron = make_cron(last_tick_at=hour(4), jitter_seconds=120)
    [row] = executions_for(cron, plan(cron, hour(5)), active=None)
    assert row.scheduled_time == hour(5)
    assert hour(5) <= row.run_after <= hour(5) + timedelta(seconds=120)
    assert row.run_after == run_after(cron, hour(5))
    # A SKIPPED or MISSED row is never claimed, so it gets no jitter.
    [skipped] = executions_for(cron, plan(cron, hour(5)), active=(1, Status.PENDING))
    assert skipped.run_after == hour(5)


def test_dst_repeat_both_fires_the_repeated_hour_twice():
    cron = make_cron("30 2 * * *", timezone="Europe/Berlin", dst_repeat=DstRepeat.BOTH,
                     last_tick_at=datetime(2026, 10, 24, 0, 30, tzinfo=UTC))
    result = plan(cron, datetime(2026, 10, 25, 1, 30, 5, tzinfo=UTC))
    assert result.run == (datetime(2026, 10, 25, 1, 30, tzinfo=UTC),)
    assert result.missed.first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_catch_up_all_runs_at_most_max_ticks_per_pass_late_ticks():
    """A huge catch_up_max_runs cannot make one pass enumerate millions of ticks."""
    cron = make_cron("every 1s", last_tick_at=DAY1, catch_up=CatchUp.ALL,
                     catch_up_max_runs=1_000_000)
    now = DAY1 + timedelta(seconds=15_000.5)
    runs, missed = 0, 0
    while True:
        result = plan(cron, now, max_ticks=1000)
        runs += len(result.run)
        missed += result.missed.count if result.missed else 0
        cron = dataclasses.replace(cron, last_tick_at=result.last_tick_at)
        if result.complete:
            break
    on_time = 60  # ticks no older than the 60 s grace
    assert runs == MAX_TICKS_PER_PASS + on_time
    assert missed == 15_000 - runs


def test_shared_answers_give_the_schedules_answers_computing_each_once():
    calls = []

    class Counting:
        def __init__(self, schedule):
            self.schedule = schedule

        def __getattr__(self, name):
            calls.append(name)
            return getattr(self.schedule, name)

    shared = SharedAnswers(Counting(parse_schedule("0 * * * *")))
    crons = [make_cron(last_tick_at=hour(0)) for _ in range(50)]
    plans = [plan_ticks(cron, shared, BACK_AT) for cron in crons]
    assert all(p == plan(crons[0], BACK_AT) for p in plans)
    assert len(calls) == 3  # next_times, ticks_between, next_after: once each for all 50
