"""The create-read-update-delete round the three basic handlers share.

Only their SQL differs (each has its .sql file: an upsert is spelled three ways);
the round is the same, in one transaction on one database:

1. create: insert the items, leaving any that exist as they are, and a scratch one;
2. update: set each item's quantity;
3. delete: remove the scratch item;
4. read: list the items.

Run again, it ends in the same state with the same result: it is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jobu.db import get_connection, transactional

#: The items and the quantities each run sets; a job's params may give others.
ITEMS = {"apple": 3, "pear": 5}
SCRATCH = "scratch"


def crud_round(database: str, sql: dict[str, str], quantities: dict[str, int]) -> dict[str, Any]:
    """Run the round on `database` with the statements `sql`; return what it found."""
    now = datetime.now(UTC)
    with transactional(database):
        conn = get_connection(database)
        for name in [*quantities, SCRATCH]:
            conn.execute(sql["insert_item"], {"name": name, "quantity": 0, "now": now})
        for name, quantity in quantities.items():
            conn.execute(sql["update_quantity"], {"name": name, "quantity": quantity,
                                                  "now": now})
        deleted = conn.execute(sql["delete_item"], {"name": SCRATCH})
        items = conn.fetch_all(sql["list_items"])
    return {"database": database, "items": items, "deleted": deleted}


def quantities_from(params: dict[str, Any]) -> dict[str, int]:
    """The job's `quantities` ({"apple": 3, …}), or ITEMS."""
    given = params.get("quantities", ITEMS)
    return {str(name): int(quantity) for name, quantity in given.items()}
