"""concurrency/concurrent_queries: queries on three databases at once, from a thread pool.

Needs `sqlite_2` (SQLite), `postgres_1` (PostgreSQL) and `mysql_1` (MySQL/MariaDB) in
database.yaml; fails at once without them.

Where the original jobu awaited several queries with ``asyncio.gather``, a
synchronous handler hands them to a ``ThreadPoolExecutor`` and collects the
results. A transaction and its connection belong to one thread, so each query
opens its own ``transactional_readonly`` block in the thread that runs it; the
pool of each database lends each thread a connection of its own.

Result, on every run: ``{"sqlite_2": {"count": 100, "sum": 5050}, "postgres_1":
{"count": 100, "sum": 5050}, "mysql_1": {"count": 100, "sum": 5050}}``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import load_sql, transactional, transactional_readonly
from jobu.handlers import JobContext, handler

DATABASES = {"sqlite_2": "sqlite", "postgres_1": "postgres", "mysql_1": "mysql"}
SQL = load_sql(__file__)
NUMBERS = 100
QUERIES = ("count", "sum")


@handler("concurrent_queries")
def concurrent_queries(ctx: JobContext, params: dict[str, Any]) -> dict[str, dict[str, int]]:
    for name, driver in DATABASES.items():
        require_database(ctx, name, driver)
        create_tables(name, SQL, prefix=f"{driver}_create")
        with transactional(name) as conn:
            conn.execute(SQL[f"{driver}_seed_numbers"], {"count": NUMBERS})
    with ThreadPoolExecutor(max_workers=len(DATABASES) * len(QUERIES),
                            thread_name_prefix="sample-query") as pool:
        futures = {(name, query): pool.submit(run_query, name, query)
                   for name in DATABASES for query in QUERIES}
        return {name: {query: futures[name, query].result() for query in QUERIES}
                for name in DATABASES}


def run_query(database: str, query: str) -> int:
    """One query, in a read-only transaction of this thread's own."""
    with transactional_readonly(database) as conn:
        return int(conn.fetch_value(SQL[f"numbers_{query}"]))
