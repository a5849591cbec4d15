-- basic/sqlite_crud: SQLite. Parameters are :name, as on every database jobu gives handlers.

-- name: create_items
CREATE TABLE IF NOT EXISTS sample_items (
    name       TEXT PRIMARY KEY,
    quantity   INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- name: insert_item
-- Create: an item that exists already is left as it is.
INSERT INTO sample_items (name, quantity, updated_at) VALUES (:name, :quantity, :now)
ON CONFLICT (name) DO NOTHING;

-- name: update_quantity
UPDATE sample_items SET quantity = :quantity, updated_at = :now WHERE name = :name;

-- name: delete_item
DELETE FROM sample_items WHERE name = :name;

-- name: list_items
SELECT name, quantity FROM sample_items ORDER BY name;
