"""The claim's plan on each database with 100,000 rows waiting: it follows the claim index.

A claim must cost the same with 100 or 1,000,000 rows waiting (issue 9). It does when its
pick reads the claim index of a queue in claim order (priority, then run_after, then id)
and stops after LIMIT rows; a plan that sorts the runnable rows costs in proportion to
them, and on MariaDB FOR UPDATE SKIP LOCKED then locks every one of them. So these tests
load 100,000 PENDING rows with one INSERT … SELECT, read the plan of the store's own claim
statement with EXPLAIN, and check that the claim takes the right rows.

Statistics: PostgreSQL and MariaDB gather them by themselves (autovacuum, InnoDB's
persistent statistics); the tests run ANALYZE so as not to depend on when. SQLite has none
unless someone runs ANALYZE, and jobu does not, so its plan is read without.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobu.model import NewExecution, Status
from jobu.store import ClaimRequest, open_store
from jobu.store.migrate import load_migrations
from jobu.store.queries import load_queries

WAITING = 100_000
FINISHED = 20_000
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIMIT = 4
INDEX = "job_executions_claim"

# Row i (1 … WAITING) is PENDING in queue 'default' when i is odd, else 'reports', with
# priority i % 3 and run_after 2026-01-01 + i seconds: the claim order is known in advance.
# FINISHED more rows are SUCCESS with priority 9 in 'default': a claim must not see them.
NUMBERS = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
              "SELECT i + {offset} AS i FROM n",
    "postgres": "SELECT i + {offset} AS i FROM generate_series(1, {count}) AS i",
    # MySQL 8 stops a recursive CTE at 1,000 rows by default: five tables of digits instead.
    "mysql": "WITH d (k) AS (SELECT 0 UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 "
             "UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 "
             "UNION ALL SELECT 8 UNION ALL SELECT 9) "
             "SELECT 1 + a.k + 10 * b.k + 100 * c.k + 1000 * e.k + 10000 * f.k + {offset} AS i "
             "FROM d a, d b, d c, d e, d f "
             "WHERE a.k + 10 * b.k + 100 * c.k + 1000 * e.k + 10000 * f.k < {count}",
}
SECONDS = {
    "sqlite": "strftime('%Y-%m-%d %H:%M:%S', '2026-01-01', '+' || i || ' seconds') || '.000000'",
    "postgres": "TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second'",
    "mysql": "TIMESTAMP '2026-01-01 00:00:00' + INTERVAL i SECOND",
}
PARAMS = {
    "sqlite": "'{\"i\": ' || i || '}'",
    "postgres": "'{\"i\": ' || i || '}'",
    "mysql": "CONCAT('{\"i\": ', i, '}')",
}
ANALYZE = {"sqlite": None, "postgres": "ANALYZE job_executions",
           "mysql": "ANALYZE TABLE job_executions"}


def load_rows(store) -> None:
    """WAITING runnable rows and FINISHED finished ones, each set in one statement."""
    dialect = store.dialect
    at, params = SECONDS[dialect], PARAMS[dialect]

    def insert(count: int, offset: int, status: str, queue: str, priority: str) -> str:
        numbers = NUMBERS[dialect].format(count=count, offset=offset)
        return (
            "INSERT INTO job_executions (handler_name, params, param_source, status, run_after,"
            " priority, queue, created_at, updated_at) "
            f"SELECT 'noop', {params}, 'manual', '{status}', {at}, {priority}, {queue}, {at}, {at}"
            f" FROM ({numbers}) AS numbers")

    def work(conn):
        conn.execute(insert(WAITING, 0, "PENDING",
                            "CASE WHEN i % 2 = 1 THEN 'default' ELSE 'reports' END", "i % 3"))
        conn.execute(insert(FINISHED, WAITING, "SUCCESS", "'default'", "9"))
    store.database.run(work)
    if ANALYZE[dialect]:
        store.database.run(lambda conn: conn.execute(ANALYZE[dialect]))


@pytest.fixture
def loaded(store):
    load_rows(store)
    counted = store.database.run(lambda conn: conn.fetch_value(
        "SELECT COUNT(*) FROM job_executions WHERE status = 'PENDING'"), write=False)
    assert counted == WAITING
    return store


def claim_params(**extra):
    return {"worker_id": "w1", "limit": LIMIT, "lease_token": "t" * 32, "lease_seconds": 30.0,
            "now": NOW, **extra}


# --- reading plans -------------------------------------------------------------------


def postgres_plan(store, sql: str, params: dict) -> dict:
    found = store.database.run(
        lambda conn: conn.fetch_value("EXPLAIN (FORMAT JSON) " + sql, params), write=False)
    found = json.loads(found) if isinstance(found, str) else found
    return found[0]["Plan"]


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", ()):
        yield from plan_nodes(child)


def unbounded_sorts(node: dict, sorting: bool = False) -> list[str]:
    """Sort nodes that sort rows read from job_executions with no LIMIT in between."""
    kind = node["Node Type"]
    if kind == "Limit":
        sorting = False
    elif kind in ("Sort", "Incremental Sort"):
        sorting = True
    found = [kind] if sorting and node.get("Relation Name") == "job_executions" else []
    for child in node.get("Plans", ()):
        found += unbounded_sorts(child, sorting)
    return found


def assert_postgres_follows_the_index(plan: dict, *, merges: bool) -> None:
    nodes = list(plan_nodes(plan))
    scans = [n for n in nodes
             if n.get("Relation Name") == "job_executions" and n["Node Type"] != "ModifyTable"]
    text = json.dumps(plan, indent=1)
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), text
    picks = [n for n in scans if n.get("Index Name") == INDEX]
    assert picks and all(n["Scan Direction"] == "Forward" for n in picks), text
    assert unbounded_sorts(plan) == [], text
    sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    # One queue: no sort at all. Several: one sort, of at most queues × LIMIT candidates.
    assert len(sorts) == (1 if merges else 0), text


def sqlite_plan(store, sql: str, params: dict) -> list[str]:
    found = store.database.run(
        lambda conn: conn.fetch_all("EXPLAIN QUERY PLAN " + sql, params), write=False)
    return [row["detail"] for row in found]


def assert_sqlite_follows_the_index(details: list[str], *, merges: bool) -> None:
    text = "\n".join(details)
    assert any(d.startswith(f"SEARCH job_executions USING INDEX {INDEX} (queue=?")
               for d in details), text
    # Nothing reads the table through: every access to job_executions is a search by the
    # claim index or by id, so whatever is sorted comes from LIMITed picks.
    assert not [d for d in details if d.startswith("SCAN") and "VIRTUAL TABLE" not in d], text
    if merges:
        assert "CORRELATED LIST SUBQUERY" in text, text
    else:
        assert not [d for d in details if "TEMP B-TREE" in d], text


def mysql_plan(store, sql: str, params: dict) -> list[dict]:
    return store.database.run(lambda conn: conn.fetch_all("EXPLAIN " + sql, params),
                              write=False)


def assert_mysql_follows_the_index(store, sql: str, params: dict) -> None:
    rows = mysql_plan(store, sql, params)
    [row] = [r for r in rows if r["table"] == "job_executions"]
    assert row["key"] == INDEX, rows
    assert "filesort" not in (row["Extra"] or ""), rows
    assert "temporary" not in (row["Extra"] or ""), rows
    version = store.database.run(lambda conn: conn.fetch_value("SELECT VERSION()"), write=False)
    if "MariaDB" in version:
        # MariaDB's ANALYZE runs the pick and counts the index entries it read: the LIMIT's
        # worth, not the waiting (or the finished) rows of the queue before them.
        found = store.database.run(lambda conn: conn.fetch_value("ANALYZE FORMAT=JSON " + sql,
                                                                 params))
        [table] = [step["table"] for step in json.loads(found)["query_block"]["nested_loop"]]
        assert table["r_rows"] <= LIMIT, found


# --- the tests -----------------------------------------------------------------------


def test_a_claim_of_one_queue_follows_the_claim_index(loaded):
    store = loaded
    sql = load_queries(store.dialect)["execution_claim"]
    params = claim_params(queue="default", queues=["default"])
    if store.dialect == "postgres":
        assert_postgres_follows_the_index(postgres_plan(store, sql, params), merges=False)
    elif store.dialect == "sqlite":
        assert_sqlite_follows_the_index(sqlite_plan(store, sql, params), merges=False)
    else:
        assert_mysql_follows_the_index(store, sql, params)
    claimed = store.execution_claim("w1", ["default"], LIMIT, 30, now=NOW)
    # Odd i with i % 3 == 2, oldest first.
    assert [e.params["i"] for e in claimed] == [5, 11, 17, 23]


def test_a_claim_of_two_queues_follows_the_claim_index_of_each(loaded):
    store = loaded
    queries = load_queries(store.dialect)
    params = claim_params(queues=["default", "reports"])
    if store.dialect == "postgres":
        plan = postgres_plan(store, queries["execution_claim_queues"], params)
        assert_postgres_follows_the_index(plan, merges=True)
    elif store.dialect == "sqlite":
        details = sqlite_plan(store, queries["execution_claim_queues"], params)
        assert_sqlite_follows_the_index(details, merges=True)
    else:
        # MariaDB has no LATERAL: the store runs the one-queue pick for each queue.
        for queue in params["queues"]:
            assert_mysql_follows_the_index(store, queries["execution_claim"],
                                           {**params, "queue": queue})
    claimed = store.execution_claim("w1", ["default", "reports"], LIMIT, 30, now=NOW)
    # i % 3 == 2 in either queue, oldest first.
    assert [e.params["i"] for e in claimed] == [2, 5, 8, 11]


def test_rows_from_before_the_claim_index_are_claimed_in_order(dialect, fresh_database):
    """Upgrading a database with rows waiting: the claim sees them, in order (MySQL's 0003
    computes its generated columns for every row), and running 0003 again changes nothing."""
    store = open_store(fresh_database(dialect))
    try:
        store.migrate(target=2)
        for priority, seconds in [(0, 3), (1, 5), (0, 1), (1, 4)]:
            store.execution_insert(NewExecution(
                "noop", params={"p": priority, "s": seconds}, priority=priority,
                run_after=NOW - timedelta(seconds=100 - seconds)))
        store.execution_insert(NewExecution("noop", status=Status.SKIPPED, priority=5))
        store.migrate()
        if dialect == "mysql":
            [latest] = [m for m in load_migrations("mysql") if m.version == 3]
            with store.database.connection() as conn:
                for statement in latest.statements:
                    conn.execute(statement)
        claimed = store.execution_claim("w1", ["default"], 10, 30, now=NOW)
        assert [(e.params["p"], e.params["s"]) for e in claimed] == \
            [(1, 4), (1, 5), (0, 1), (0, 3)]
    finally:
        store.close()


RUNNING = 5_000


def test_outcomes_and_renewals_find_their_rows_by_id(loaded):
    """A batch of outcomes or of lease renewals costs the batch, not the RUNNING rows: the
    planner cannot tell how many rows a JSON parameter holds, so each dialect's statement
    is written to look its rows up by primary key."""
    store = loaded
    store.database.run(lambda conn: conn.execute(
        "UPDATE job_executions SET status = 'RUNNING', worker_id = 'w1', lease_token = 't', "
        f"lease_expires_at = created_at WHERE id <= {RUNNING}"))
    if ANALYZE[store.dialect]:
        store.database.run(lambda conn: conn.execute(ANALYZE[store.dialect]))
    queries = load_queries(store.dialect)
    ids = range(1000, 1016)
    statements = {
        "execution_complete_many": {"finished": json.dumps([[i, "t", "null"] for i in ids])},
        "execution_renew_leases": {"held": json.dumps([[i, "t"] for i in ids]),
                                   "worker_id": "w1", "lease_seconds": 30.0},
    }
    for name, params in statements.items():
        params = {**params, "now": NOW}
        if store.dialect == "postgres":
            plan = postgres_plan(store, queries[name], params)
            scans = [n for n in plan_nodes(plan) if n.get("Relation Name") == "job_executions"
                     and n["Node Type"] != "ModifyTable"]
            assert [(n["Node Type"], n.get("Index Name")) for n in scans] == \
                [("Index Scan", "job_executions_pkey")], json.dumps(plan, indent=1)
        elif store.dialect == "sqlite":
            details = sqlite_plan(store, queries[name], params)
            reads = [d for d in details if "job_executions" in d]
            assert reads == ["SEARCH job_executions USING INTEGER PRIMARY KEY (rowid=?)"], details
        else:
            rows = mysql_plan(store, queries[name], params)
            [row] = [r for r in rows if r["table"] == "e"]
            assert (row["type"], row["key"]) == ("eq_ref", "PRIMARY"), rows


def test_a_claim_leaves_the_other_waiting_rows_to_other_claimers(loaded):
    """While one claim's transaction is open, another claim takes the next rows: the first
    locked only what it took (on MariaDB the old claim locked every runnable row)."""
    store = loaded
    if store.dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time: claims queue on its lock")
    params = store._claim_params(ClaimRequest("w1", ["default"], LIMIT, 30), NOW)
    with store.database.transaction() as conn:
        first = store._claim(conn, params)
        second = store.execution_claim("w2", ["default"], LIMIT, 30, now=NOW)
    assert len(first) == LIMIT
    assert [e.params["i"] for e in second] == [29, 35, 41, 47]
