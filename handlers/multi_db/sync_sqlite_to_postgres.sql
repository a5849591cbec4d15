-- multi_db/sync_sqlite_to_postgres: statements for sqlite_2 (sqlite_*) and postgres_1
-- (postgres_*). Parameters are :name on both.

-- name: sqlite_create_orders
CREATE TABLE IF NOT EXISTS sample_orders (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    synced      INTEGER NOT NULL DEFAULT 0
);

-- name: sqlite_seed_order
INSERT INTO sample_orders (id, customer, total_cents) VALUES (:id, :customer, :total_cents)
ON CONFLICT (id) DO NOTHING;

-- name: sqlite_unsynced_orders
SELECT id, customer, total_cents FROM sample_orders WHERE synced = 0 ORDER BY id LIMIT :limit;

-- name: sqlite_mark_synced
UPDATE sample_orders SET synced = 1 WHERE id = :id;

-- name: postgres_create_orders
CREATE TABLE IF NOT EXISTS sample_synced_orders (
    id          INTEGER PRIMARY KEY,
    customer    TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    synced_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- name: postgres_upsert_order
-- Copying an order again (it cannot happen, but a sync should not care) updates it.
INSERT INTO sample_synced_orders (id, customer, total_cents)
VALUES (:id, :customer, :total_cents)
ON CONFLICT (id) DO UPDATE SET customer = EXCLUDED.customer,
    total_cents = EXCLUDED.total_cents, synced_at = now();

-- name: postgres_count
SELECT COUNT(*) AS orders FROM sample_synced_orders;
