"""The plans of the admin's history reads where a database would otherwise read far more
rows than it shows (issue 11: pages in <= 100 ms over 1,000,000 executions).

- SQLite plans a statement before its values are known, so an optional filter such as
  `(:job_id IS NULL OR e.job_id = :job_id)` can use no index: a cron's history page, and the
  bulk actions' states and count, walked the whole history. Each has an arm for a cron's
  rows, along job_executions_job, even with statistics taken before the crons had a history.
- MariaDB reads what a secondary index lacks from the clustered row: the hourly charts'
  index holds the times they read, so that a day of runs is read from the index alone.
- SQLite, with statistics, may build a Bloom filter on job_executions (reading all of it) to
  look up the statistics' unfolded executions; they are matched to their cron instead.

The figures are in bench/admin_bench.py and docs/performance.md; these tests pin the plans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import CronSpec, NewExecution, ParamSource, Status
from jobu.store.queries import load_queries

T0 = datetime(2026, 6, 1, tzinfo=UTC)
FILTER = {"any_status": True, "statuses": ("",), "any_id": True, "ids": (0,),
          "handler_name": None, "param_source": None, "since": None, "until": None}


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize("query", ["execution_list", "execution_list_states",
                                   "execution_count_states"])
def test_sqlite_reads_a_crons_history_along_its_index(store, query):
    store.execution_insert_many([NewExecution("noop", {"i": i}) for i in range(200)])
    store.database.run(lambda conn: conn.execute("ANALYZE"), write=True)  # before any cron
    job = store.cron_create(CronSpec(name="report", schedule="0 3 * * *", handler_name="noop"))
    store.execution_insert(NewExecution("noop", job_id=job.id, scheduled_time=T0,
                                        param_source=ParamSource.CRON))
    params = {**FILTER, "job_id": job.id, "cursor": None, "limit": 51}

    found = store.database.run(lambda conn: conn.fetch_all(
        "EXPLAIN QUERY PLAN " + load_queries("sqlite")[query], params), write=False)

    details = [row["detail"] for row in found]
    assert any("USING INDEX job_executions_job (job_id=?" in d for d in details), details


@pytest.mark.parametrize("dialect", ["mysql"], indirect=True)
def test_mariadb_reads_the_hourly_charts_from_the_index_alone(store):
    for minute in range(300):
        at = T0 + timedelta(minutes=minute)
        store.execution_insert(NewExecution("noop", {"i": minute}, scheduled_time=at,
                                            status=Status.MISSED), now=at)
    store.database.run(lambda conn: conn.execute("ANALYZE TABLE job_executions"), write=True)
    params = {"since": T0, "until": T0 + timedelta(hours=1)}

    rows = store.database.run(lambda conn: conn.fetch_all(
        "EXPLAIN " + load_queries("mysql")["admin_finished_by_hour"], params), write=False)

    [row] = [r for r in rows if r["table"] == "job_executions"]
    assert row["key"] == "job_executions_finished", rows
    assert "Using index" in (row["Extra"] or "").replace("Using index condition", ""), rows


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_sqlite_reads_the_unfolded_executions_by_id_alone(store):
    store.execution_insert_many([NewExecution("noop", {"i": i}) for i in range(2000)])
    store.database.run(lambda conn: conn.execute("ANALYZE"), write=True)  # before any cron
    params = {"rollup_id": 0, "after": 0}

    found = store.database.run(lambda conn: conn.fetch_all(
        "EXPLAIN QUERY PLAN " + load_queries("sqlite")["stats_crons"], params), write=False)

    # A Bloom filter on job_executions is built by reading every row of it.
    details = [row["detail"] for row in found]
    assert not [d for d in details if "BLOOM FILTER" in d], details
