"""multi_db/sync_postgres_to_mysql: copy new events from PostgreSQL to MySQL, atomically.

Needs `postgres_1` (PostgreSQL, with max_prepared_transactions > 0 for the two-phase
commit) and `mysql_1` (MySQL/MariaDB) in database.yaml; fails at once without them.

One transaction over both reads the events not yet synced from `postgres_1`,
upserts them into `mysql_1` and marks them synced in `postgres_1`. Both databases
can prepare, so this is a full two-phase commit: PREPARE TRANSACTION on
PostgreSQL and XA PREPARE on MariaDB, the decision in jobu's database, then both
commits. A crash in between is resolved by recovery when a worker starts.

Result, first run: ``{"copied": 4, "in_mysql": 4}``; every later run:
``{"copied": 0, "in_mysql": 4}`` (the four sample events are seeded once).
"""

from __future__ import annotations

from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import get_connection, load_sql, transactional
from jobu.handlers import JobContext, handler

SOURCE, TARGET = "postgres_1", "mysql_1"
SQL = load_sql(__file__)
SAMPLE_EVENTS = [(1, "signup"), (2, "login"), (3, "purchase"), (4, "logout")]


@handler("sync_postgres_to_mysql")
def sync_postgres_to_mysql(ctx: JobContext, params: dict[str, Any]) -> dict[str, int]:
    require_database(ctx, SOURCE, "postgres")
    require_database(ctx, TARGET, "mysql")
    create_tables(SOURCE, SQL, prefix="postgres_create")
    create_tables(TARGET, SQL, prefix="mysql_create")
    with transactional(SOURCE) as source:
        for event_id, kind in SAMPLE_EVENTS:
            source.execute(SQL["postgres_seed_event"], {"id": event_id, "kind": kind})
    return copy_new_events(int(params.get("batch_size", 100)))


# Both databases named in the outermost block: MariaDB's branch must start as an XA
# transaction, before its first statement, to be able to prepare.
@transactional(SOURCE, TARGET)
def copy_new_events(batch_size: int) -> dict[str, int]:
    """One atomic step: copy up to `batch_size` events and mark them synced."""
    source, target = get_connection(SOURCE), get_connection(TARGET)
    events = source.fetch_all(SQL["postgres_unsynced_events"], {"limit": batch_size})
    for event in events:
        target.execute(SQL["mysql_upsert_event"], event)
        source.execute(SQL["postgres_mark_synced"], {"id": event["id"]})
    return {"copied": len(events), "in_mysql": target.fetch_value(SQL["mysql_count"])}
