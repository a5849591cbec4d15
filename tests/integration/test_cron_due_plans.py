"""The dispatcher's read of due crons follows an index on each database.

A pass at the top of the hour reads the due crons in batches of 500. When that read scans
and sorts every cron, a pass over N due crons reads N²/500 rows: 10,000 crons due at once
then cost PostgreSQL a sorted scan of them all twenty times. These tests load thousands of
crons, half of them due and a few unplanned, read the plans of cron_due and cron_due_heads
with EXPLAIN, and check what the reads return: the unplanned first, then by tick and id,
no more than the limit.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import CronSpec
from jobu.store import open_store, rows
from jobu.store.queries import load_queries

CRONS = 5_000
UNPLANNED = 7
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EXPLAIN = {"sqlite": "EXPLAIN QUERY PLAN ", "postgres": "EXPLAIN ", "mysql": "EXPLAIN "}
ANALYZE = {"sqlite": None, "postgres": "ANALYZE cron_jobs", "mysql": "ANALYZE TABLE cron_jobs"}


@pytest.fixture
def crons(db_spec):
    """CRONS enabled crons: the first UNPLANNED without a tick, then due (odd) and not due
    yet (even) in turn, each due one a second later than the one before."""
    store = open_store(db_spec)
    store.migrate()
    insert = store.query("cron_insert")

    def work(conn, first, last):
        for n in range(first, last):
            spec = CronSpec(name=f"c{n:05d}", schedule="0 * * * *", handler_name="noop")
            conn.insert(insert, {**rows.cron_params(spec), "now": NOW - timedelta(days=1)})
    for first in range(0, CRONS, 1000):
        store.database.run(lambda conn, first=first: work(conn, first, min(CRONS, first + 1000)))
    set_tick = ("UPDATE cron_jobs SET next_tick_at = "
                + (":tick WHERE id = :id" if store.dialect == "sqlite"
                   else "%(tick)s WHERE id = %(id)s"))
    ids = store.database.run(lambda conn: [r["id"] for r in conn.fetch_all(
        "SELECT id FROM cron_jobs ORDER BY id")])

    def ticks(conn):
        for k, cron_id in enumerate(ids[UNPLANNED:]):
            due = k % 2 == 0
            tick = (NOW - timedelta(seconds=CRONS - k) if due
                    else NOW + timedelta(hours=1, seconds=k))
            conn.execute(set_tick, {"tick": tick, "id": cron_id})
    store.database.run(ticks)
    if ANALYZE[store.dialect]:
        store.database.run(lambda conn: conn.execute(ANALYZE[store.dialect]))
    yield store, ids
    store.close()


def plan_text(store, name: str) -> str:
    sql = EXPLAIN[store.dialect] + load_queries(store.dialect)[name]
    found = store.database.run(lambda conn: conn.fetch_all(sql, {"now": NOW, "limit": 500}),
                               write=False)
    return "\n".join(json.dumps(row, default=str) for row in found)


@pytest.mark.parametrize("query", ["cron_due", "cron_due_heads"])
def test_the_due_crons_are_read_through_an_index_without_sorting_them_all(crons, query):
    store, _ = crons
    plan = plan_text(store, query)
    if store.dialect == "postgres":
        assert "cron_jobs_due" in plan and "Seq Scan" not in plan, plan
    elif store.dialect == "sqlite":
        assert "USING INDEX cron_jobs_next_tick" in plan and "TEMP B-TREE" not in plan, plan
    else:
        assert '"key": "cron_jobs_next_tick"' in plan and "filesort" not in plan, plan


def test_the_due_crons_come_unplanned_first_then_by_tick_up_to_the_limit(crons):
    store, ids = crons
    due_ids = ids[:UNPLANNED] + [cron_id for k, cron_id in enumerate(ids[UNPLANNED:])
                                 if k % 2 == 0]
    first = store.cron_due(NOW, limit=500)
    assert [c.id for c in first] == due_ids[:500]
    assert all(c.next_tick_at is None for c in first[:UNPLANNED])
    assert all(c.next_tick_at is not None and c.next_tick_at <= NOW for c in first[UNPLANNED:])
    # The same through the heads, with every cron known to the caller.
    known = {c.id: c for c in store.cron_due(NOW, limit=CRONS)}
    assert [c.id for c in store.cron_due(NOW, limit=500, known=known)] == due_ids[:500]
    assert len(known) == len(due_ids)
