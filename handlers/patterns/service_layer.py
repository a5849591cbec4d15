"""patterns/service_layer: business services whose transactional methods join one transaction.

Runs on `sqlite_2` (SQLite), which the example database.yaml names.

The handler is thin: it builds the services and calls one method. The services
never pass connections around; each method is ``@transactional`` on its own, so
it can be called alone, and called from another transactional method it joins
that method's transaction. Placing an order and reserving its stock therefore
commit together, or not at all — when the stock is short, the order is not
placed either.

An order key makes the job idempotent: a run with a key already placed changes
nothing. Result, first run: ``{"order_key": "restock-demo", "placed": true,
"stock": 97}``; every later run with that key: ``"placed": false`` and the same
stock.
"""

from __future__ import annotations

from typing import Any

from handlers.support import create_tables, require_database
from jobu.db import get_connection, load_sql, transactional
from jobu.errors import PermanentError
from jobu.handlers import JobContext, handler

DATABASE = "sqlite_2"
SQL = load_sql(__file__)
SKU, INITIAL_STOCK = "widget", 100


class InventoryService:
    """Stock levels."""

    @transactional(DATABASE)
    def reserve(self, sku: str, quantity: int) -> int:
        """Take `quantity` of `sku` from the stock; PermanentError when there is not enough."""
        conn = get_connection(DATABASE)
        if conn.execute(SQL["reserve_stock"], {"sku": sku, "quantity": quantity}) != 1:
            raise PermanentError(f"not enough {sku} in stock for {quantity}")
        return conn.fetch_value(SQL["stock_of"], {"sku": sku})

    @transactional(DATABASE)
    def stock(self, sku: str) -> int:
        return get_connection(DATABASE).fetch_value(SQL["stock_of"], {"sku": sku})


class OrderService:
    """Orders, which take their stock from the inventory."""

    def __init__(self, inventory: InventoryService) -> None:
        self.inventory = inventory

    @transactional(DATABASE)
    def place(self, order_key: str, sku: str, quantity: int) -> bool:
        """Place the order once; False if an order with this key exists already."""
        inserted = get_connection(DATABASE).execute(
            SQL["insert_order"], {"order_key": order_key, "sku": sku, "quantity": quantity})
        if inserted:
            self.inventory.reserve(sku, quantity)  # joins this transaction
        return bool(inserted)


@handler("service_layer")
def service_layer(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    require_database(ctx, DATABASE, "sqlite")
    create_tables(DATABASE, SQL)
    with transactional(DATABASE) as conn:
        conn.execute(SQL["seed_stock"], {"sku": SKU, "stock": INITIAL_STOCK})
    order_key = str(params.get("order_key", "restock-demo"))
    inventory = InventoryService()
    placed = OrderService(inventory).place(order_key, SKU, int(params.get("quantity", 3)))
    return {"order_key": order_key, "placed": placed, "stock": inventory.stock(SKU)}
