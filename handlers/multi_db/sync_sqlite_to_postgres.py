"""multi_db/sync_sqlite_to_postgres: copy new orders from SQLite to PostgreSQL, atomically.

Needs `sqlite_2` (SQLite) and `postgres_1` (PostgreSQL) in database.yaml; fails at once
without them.

One transaction over both databases reads the orders not yet synced from
`sqlite_2`, upserts them into `postgres_1` and marks them synced in `sqlite_2`.
PostgreSQL is prepared first; SQLite cannot prepare, so it is the one participant
committed in one phase, after jobu has recorded its decision. An order is thus
never marked synced without being copied, nor copied twice.

Result, first run: ``{"copied": 3, "in_postgres": 3}``; every later run:
``{"copied": 0, "in_postgres": 3}`` (the three sample orders are seeded once).
"""

from __future__ import annotations

from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import get_connection, load_sql, transactional
from jobu.handlers import JobContext, handler

SOURCE, TARGET = "sqlite_2", "postgres_1"
SQL = load_sql(__file__)
SAMPLE_ORDERS = [(1, "Ada", 1250), (2, "Grace", 990), (3, "Linus", 4200)]


@handler("sync_sqlite_to_postgres")
def sync_sqlite_to_postgres(ctx: JobContext, params: dict[str, Any]) -> dict[str, int]:
    require_database(ctx, SOURCE, "sqlite")
    require_database(ctx, TARGET, "postgres")
    create_tables(SOURCE, SQL, prefix="sqlite_create")
    create_tables(TARGET, SQL, prefix="postgres_create")
    with transactional(SOURCE) as source:
        for order_id, customer, total in SAMPLE_ORDERS:
            source.execute(SQL["sqlite_seed_order"],
                           {"id": order_id, "customer": customer, "total_cents": total})
    return copy_new_orders(int(params.get("batch_size", 100)))


@transactional(TARGET, SOURCE)
def copy_new_orders(batch_size: int) -> dict[str, int]:
    """One atomic step: copy up to `batch_size` orders and mark them synced."""
    source, target = get_connection(SOURCE), get_connection(TARGET)
    orders = source.fetch_all(SQL["sqlite_unsynced_orders"], {"limit": batch_size})
    for order in orders:
        target.execute(SQL["postgres_upsert_order"], order)
        source.execute(SQL["sqlite_mark_synced"], {"id": order["id"]})
    return {"copied": len(orders), "in_postgres": target.fetch_value(SQL["postgres_count"])}
