"""multi_db/multi_db_report: one read-only report over four databases at once.

Needs `default` and `sqlite_2` (SQLite), `postgres_1` (PostgreSQL) and `mysql_1`
(MySQL/MariaDB) in database.yaml; fails at once without them.

Each database stands for an office that keeps its own sales. The handler makes
sure each has its sample sales, then reads all four in one
``transactional_readonly`` block: the servers refuse writes in it, and nothing
needs a two-phase commit because nothing is written.

Result, on every run: ``{"offices": {"default": 2000, "sqlite_2": 2000,
"postgres_1": 2000, "mysql_1": 2000}, "total_cents": 8000}``.
"""

from __future__ import annotations

from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import get_connection, load_sql, transactional, transactional_readonly
from jobu.handlers import JobContext, handler

OFFICES = {"default": "sqlite", "sqlite_2": "sqlite", "postgres_1": "postgres",
           "mysql_1": "mysql"}
SQL = load_sql(__file__)
SAMPLE_SALES = [(1, "north", 1200), (2, "south", 800)]


@handler("multi_db_report")
def multi_db_report(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    for office, driver in OFFICES.items():
        require_database(ctx, office, driver)
        create_tables(office, SQL, prefix=f"{driver}_create")
        with transactional(office) as conn:
            for sale_id, region, amount in SAMPLE_SALES:
                conn.execute(SQL[f"{driver}_seed_sale"],
                             {"id": sale_id, "region": region, "amount_cents": amount})
    return report()


@transactional_readonly(*OFFICES)
def report() -> dict[str, Any]:
    """The sales of every office, read in one read-only transaction per database."""
    offices = {office: int(get_connection(office).fetch_value(SQL["total_sales"]) or 0)
               for office in OFFICES}
    return {"offices": offices, "total_cents": sum(offices.values())}
