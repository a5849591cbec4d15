-- patterns/service_layer: SQLite (sqlite_2).

-- name: create_stock
CREATE TABLE IF NOT EXISTS sample_stock (
    sku      TEXT PRIMARY KEY,
    quantity INTEGER NOT NULL CHECK (quantity >= 0)
);

-- name: create_orders
CREATE TABLE IF NOT EXISTS sample_service_orders (
    order_key TEXT PRIMARY KEY,
    sku       TEXT NOT NULL,
    quantity  INTEGER NOT NULL
);

-- name: seed_stock
INSERT INTO sample_stock (sku, quantity) VALUES (:sku, :stock) ON CONFLICT (sku) DO NOTHING;

-- name: insert_order
-- Changes one row for a new key, none for a key placed before.
INSERT INTO sample_service_orders (order_key, sku, quantity) VALUES (:order_key, :sku, :quantity)
ON CONFLICT (order_key) DO NOTHING;

-- name: reserve_stock
UPDATE sample_stock SET quantity = quantity - :quantity
WHERE sku = :sku AND quantity >= :quantity;

-- name: stock_of
SELECT quantity FROM sample_stock WHERE sku = :sku;
