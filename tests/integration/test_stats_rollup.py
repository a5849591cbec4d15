"""The statistics' running totals (jobu.store.rollup) on SQLite, PostgreSQL and MariaDB.

Whatever happens to the history (ticks, runs that succeed, fail or time out, retries of
finished runs, pruning, a cron removed, unfinished rows the watermark passes) and whenever
the maintenance folds, the statistics of each cron and of every cron equal what the rows
themselves say: the counts and sums exactly, the p95 within its histogram's 2.5 %.
"""

from __future__ import annotations

import math
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import CronSpec, ExecutionFilter, NewExecution, Status
from jobu.store.rollup import FOLD_LAG_SECONDS

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMED = (Status.SUCCESS, Status.FAILED, Status.TIMEOUT)


def expected(rows) -> dict:
    """The statistics as the rows say them, computed here the slow way."""
    timed = sorted((e.finished_at - e.started_at).total_seconds() for e in rows
                   if e.status in TIMED and e.started_at and e.finished_at)
    late = [(e.started_at - e.scheduled_time).total_seconds() for e in rows
            if e.started_at and e.scheduled_time]
    return {
        "total": len(rows),
        **{name: sum(1 for e in rows if e.status is status) for name, status in (
            ("success", Status.SUCCESS), ("failed", Status.FAILED),
            ("timeout", Status.TIMEOUT), ("skipped", Status.SKIPPED),
            ("missed", Status.MISSED))},
        "avg": sum(timed) / len(timed) if timed else None,
        "p95": timed[math.ceil(0.95 * len(timed)) - 1] if timed else None,
        "late": sum(late) / len(late) if late else None,
    }


def check(store, job_ids) -> None:
    every = store.execution_list(ExecutionFilter(), limit=100_000).items
    wanted = {job_id: [e for e in every if e.job_id == job_id] for job_id in job_ids}
    wanted[0] = [e for e in every if e.job_id is not None]
    for job_id, rows in wanted.items():
        stats = store.crons_stats() if job_id == 0 else store.cron_stats(job_id)
        want = expected(rows)
        got = {"total": stats.total, "success": stats.success, "failed": stats.failed,
               "timeout": stats.timeout, "skipped": stats.skipped, "missed": stats.missed}
        assert got == {key: want[key] for key in got}, job_id
        for name, value in (("avg", stats.avg_duration_seconds),
                            ("late", stats.avg_start_lateness_seconds)):
            assert (value is None) == (want[name] is None), (job_id, name)
            if value is not None:
                assert value == pytest.approx(want[name], abs=1e-3), (job_id, name)
        p95 = stats.p95_duration_seconds
        assert (p95 is None) == (want["p95"] is None), job_id
        if p95 is not None:
            assert p95 == pytest.approx(want["p95"], rel=0.025, abs=1e-3), job_id


def test_statistics_equal_the_rows_whatever_happens_and_whenever_it_folds(store):
    rng = random.Random(20261207)
    jobs = [store.cron_create(CronSpec(name=f"c{n}", schedule="0 3 * * *",
                                       handler_name="noop")).id for n in range(3)]
    clock = [T0]
    ticks = dict.fromkeys(jobs, 0)

    def now(**delta) -> datetime:
        clock[0] += timedelta(**delta) if delta else timedelta(seconds=1)
        return clock[0]

    def add_ticks() -> None:
        for _ in range(rng.randint(1, 6)):
            job_id = rng.choice(jobs)
            ticks[job_id] += 1
            scheduled = T0 + timedelta(minutes=ticks[job_id])
            status = rng.choice([Status.PENDING] * 4 + [Status.SKIPPED, Status.MISSED])
            store.execution_insert(NewExecution("noop", job_id=job_id, scheduled_time=scheduled,
                                                run_after=scheduled, status=status), now=now())

    def run_some() -> None:
        started = now()
        for execution in store.execution_claim("w1", ["default"], rng.randint(1, 4), 600,
                                               now=started):
            ended = started + timedelta(seconds=rng.choice([0.0004, 0.3, 2, 2.5, 40, 900]))
            kind = rng.choice(["ok", "ok", "ok", "fail", "timeout", "leave"])
            if kind == "ok":
                store.execution_complete(execution.id, execution.lease_token, {}, now=ended)
            elif kind != "leave":
                status = Status.FAILED if kind == "fail" else Status.TIMEOUT
                store.execution_fail(execution.id, execution.lease_token, "boom",
                                     status=status, now=ended)

    def retry_one() -> None:
        finished = [e for e in store.execution_list(ExecutionFilter(), limit=100_000).items
                    if e.status.is_final]
        if finished:
            store.execution_requeue(rng.choice(finished).id, now=now())

    def fold() -> None:
        # Settled (written over the lag ago) or not: the recent rows wait either way.
        lag = rng.choice([0, FOLD_LAG_SECONDS])
        store.stats_fold(now(), batch=rng.choice([3, 50]), lag_seconds=lag)

    def prune() -> None:
        status = rng.choice([Status.SUCCESS, Status.SKIPPED, Status.FAILED, Status.MISSED])
        store.execution_prune(status, 1, batch_size=rng.randint(1, 5), now=now(days=2))

    actions = [add_ticks] * 4 + [run_some] * 4 + [fold] * 3 + [retry_one, prune]
    for step in range(90):
        rng.choice(actions)()
        if step == 60:
            store.cron_delete("c2")  # its history stays, belonging to no cron
            jobs.remove(jobs[2])
        if step % 10 == 9:
            check(store, jobs)
    while store.stats_fold(now(days=1), batch=50):
        pass
    check(store, jobs)
    folded = store.crons_stats()
    assert folded.total > 20 and folded.success > 5  # the scenario did something


def test_a_retried_run_leaves_the_totals_until_it_ends_again(store):
    job_id = store.cron_create(CronSpec(name="c", schedule="0 3 * * *",
                                        handler_name="noop")).id
    store.execution_insert(NewExecution("noop", job_id=job_id, scheduled_time=T0,
                                        run_after=T0), now=T0)
    [execution] = store.execution_claim("w1", ["default"], 1, 60, now=T0)
    store.execution_complete(execution.id, execution.lease_token, {}, now=T0 + timedelta(seconds=5))
    assert store.stats_fold(T0 + timedelta(days=1)) == 1
    assert store.cron_stats(job_id).success == 1

    store.execution_requeue(execution.id, now=T0 + timedelta(days=1))
    stats = store.cron_stats(job_id)
    assert (stats.total, stats.success, stats.avg_duration_seconds) == (1, 0, None)
    store.stats_fold(T0 + timedelta(days=2))  # still running again: stays live
    [again] = store.execution_claim("w1", ["default"], 1, 60, now=T0 + timedelta(days=2))
    store.execution_fail(again.id, again.lease_token, "boom",
                         now=T0 + timedelta(days=2, seconds=9))
    assert store.stats_fold(T0 + timedelta(days=3)) == 1
    stats = store.cron_stats(job_id)
    assert (stats.total, stats.success, stats.failed) == (1, 0, 1)
    assert stats.avg_duration_seconds == pytest.approx(9, abs=1e-3)


def test_the_watermark_waits_for_rows_written_within_the_lag(store):
    job_id = store.cron_create(CronSpec(name="c", schedule="0 3 * * *",
                                        handler_name="noop")).id
    store.execution_insert(NewExecution("noop", job_id=job_id, scheduled_time=T0,
                                        status=Status.MISSED), now=T0)
    store.execution_insert(NewExecution("noop", job_id=job_id, scheduled_time=T0 + timedelta(
        minutes=1), status=Status.MISSED), now=T0 + timedelta(minutes=5))
    assert store.stats_fold(T0 + timedelta(minutes=4)) == 1  # the second is too recent
    assert store.stats_fold(T0 + timedelta(minutes=4)) == 0
    assert store.cron_stats(job_id).missed == 2  # one folded, one live
    assert store.stats_fold(T0 + timedelta(minutes=8)) == 1
    assert store.cron_stats(job_id).missed == 2


# SQLite has one writer at a time: its folds queue, none is skipped.
@pytest.mark.parametrize("dialect", ["postgres", "mysql"], indirect=True)
def test_one_dispatcher_folds_at_a_time(store):
    job_id = store.cron_create(CronSpec(name="c", schedule="0 3 * * *",
                                        handler_name="noop")).id
    store.execution_insert_many([
        NewExecution("noop", job_id=job_id, scheduled_time=T0 + timedelta(minutes=n),
                     status=Status.MISSED) for n in range(300)], now=T0)
    barrier = threading.Barrier(4)

    def fold() -> int:
        barrier.wait(timeout=30)
        return store.stats_fold(T0 + timedelta(days=1), batch=100)

    for _ in range(5):
        barrier.reset()
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: fold(), range(4)))
    assert store.cron_stats(job_id).missed == 300
    assert store.crons_stats().missed == 300
