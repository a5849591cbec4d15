"""Races between processes on every dialect: claims, cron ticks and migrations."""

from __future__ import annotations

import multiprocessing
import queue
from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import CronSpec, NewExecution, Status
from jobu.store import open_store
from jobu.store.migrate import load_migrations
from tests.support import store_procs

SPAWN = multiprocessing.get_context("spawn")


def run_processes(target, arg_lists, timeout=240.0) -> list:
    """Start one process per argument list, released together; return their reports."""
    barrier = SPAWN.Barrier(len(arg_lists))
    results = SPAWN.Queue()
    processes = [SPAWN.Process(target=target, args=(*args, barrier, results))
                 for args in arg_lists]
    for process in processes:
        process.start()
    reports = []
    try:
        for _ in processes:
            reports.append(results.get(timeout=timeout))
    except queue.Empty:
        pytest.fail(f"{target.__name__}: a process reported nothing within {timeout} s")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    return reports


@pytest.mark.slow
def test_claim_race_each_execution_claimed_exactly_once(store, db_spec):
    total = 2000
    for start in range(0, total, 500):
        store.execution_insert_many([NewExecution("noop", {"n": n})
                                     for n in range(start, start + 500)])
    reports = run_processes(store_procs.claim_until_empty,
                            [(db_spec, "proc-a", 8, 5), (db_spec, "proc-b", 8, 5)])
    assert [errors for _, _, errors in reports] == [[], []]
    claimed = [eid for _, ids, _ in reports for eid in ids]
    assert len(claimed) == total
    assert len(set(claimed)) == total, "an execution was claimed twice"
    assert all(ids for _, ids, _ in reports), "one process claimed nothing: no race happened"
    assert store.execution_claim("check", ["default"], 10, 30) == []
    page = store.execution_list(limit=total + 1)
    assert {e.status for e in page.items} == {Status.SUCCESS}
    assert {e.id for e in page.items} == set(claimed)
    assert all(e.attempt == 1 and e.result == e.worker_id for e in page.items)


@pytest.mark.slow
def test_unique_tick_under_three_inserting_processes(store, db_spec):
    job = store.cron_create(CronSpec(name="every-second", schedule="* * * * * *",
                                     handler_name="noop"))
    base = datetime(2026, 5, 1, tzinfo=UTC)
    ticks = [base + timedelta(seconds=n) for n in range(100)]
    reports = run_processes(store_procs.insert_ticks, [(db_spec, job.id, ticks)] * 3)
    assert sum(reports) == 100
    rows = store.execution_list(limit=1000).items
    assert sorted(e.scheduled_time for e in rows) == ticks


def test_migrate_from_three_processes_at_once(db_spec):
    reports = run_processes(store_procs.run_migrate, [(db_spec,)] * 3)
    assert all(kind == "ok" for kind, _ in reports), reports
    applied = sorted(v for _, versions in reports for v in versions)
    store = open_store(db_spec)
    try:
        # Each migration was applied by exactly one of the three processes.
        assert applied == [m.version for m in load_migrations(store.dialect)]
        assert store.pending_migrations() == []
        store.check_schema()
    finally:
        store.close()
