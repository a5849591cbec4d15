"""basic/mysql_crud: create, read, update and delete rows on MySQL or MariaDB.

Needs a MySQL/MariaDB database named `mysql_1` (database.yaml); fails at once without it.

Result: ``{"database": "mysql_1", "items": [{"name": "apple", "quantity": 3},
{"name": "pear", "quantity": 5}], "deleted": 1}``, the same on every run.
"""

from __future__ import annotations

from typing import Any

from handlers.basic.crud import crud_round, quantities_from
from handlers.support import create_tables, require_database
from jobu.db import load_sql
from jobu.handlers import JobContext, handler

DATABASE = "mysql_1"
SQL = load_sql(__file__)


@handler("mysql_crud")
def mysql_crud(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    require_database(ctx, DATABASE, "mysql")
    create_tables(DATABASE, SQL)
    return crud_round(DATABASE, SQL, quantities_from(params))
