"""basic/postgres_crud: create, read, update and delete rows on PostgreSQL.

Needs a PostgreSQL database named `postgres_1` (database.yaml); fails at once without it.

Result: ``{"database": "postgres_1", "items": [{"name": "apple", "quantity": 3},
{"name": "pear", "quantity": 5}], "deleted": 1}``, the same on every run.
"""

from __future__ import annotations

from typing import Any

from handlers.basic.crud import crud_round, quantities_from
from handlers.support import create_tables, require_database
from jobu.db import load_sql
from jobu.handlers import JobContext, handler

DATABASE = "postgres_1"
SQL = load_sql(__file__)


@handler("postgres_crud")
def postgres_crud(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    require_database(ctx, DATABASE, "postgres")
    create_tables(DATABASE, SQL)
    return crud_round(DATABASE, SQL, quantities_from(params))
