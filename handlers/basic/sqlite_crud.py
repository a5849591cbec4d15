"""basic/sqlite_crud: create, read, update and delete rows on SQLite (database `default`).

Result: ``{"database": "default", "items": [{"name": "apple", "quantity": 3},
{"name": "pear", "quantity": 5}], "deleted": 1}``, the same on every run.
"""

from __future__ import annotations

from typing import Any

from handlers.basic.crud import crud_round, quantities_from
from handlers.support import create_tables, require_database
from jobu.db import load_sql
from jobu.handlers import JobContext, handler

DATABASE = "default"
SQL = load_sql(__file__)


@handler("sqlite_crud")
def sqlite_crud(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    require_database(ctx, DATABASE, "sqlite")
    create_tables(DATABASE, SQL)
    return crud_round(DATABASE, SQL, quantities_from(params))
