-- basic/mysql_crud: MySQL 8 or MariaDB 10.6+. Parameters are :name, as on every database
-- jobu gives handlers (jobu turns them into PyMySQL's style).

-- name: create_items
CREATE TABLE IF NOT EXISTS sample_items (
    name       VARCHAR(40) NOT NULL PRIMARY KEY,
    quantity   INTEGER NOT NULL,
    updated_at DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- name: insert_item
-- Create: an item that exists already is left as it is (MySQL has no ON CONFLICT; INSERT
-- IGNORE would hide other errors too).
INSERT INTO sample_items (name, quantity, updated_at) VALUES (:name, :quantity, :now)
ON DUPLICATE KEY UPDATE name = name;

-- name: update_quantity
UPDATE sample_items SET quantity = :quantity, updated_at = :now WHERE name = :name;

-- name: delete_item
DELETE FROM sample_items WHERE name = :name;

-- name: list_items
SELECT name, quantity FROM sample_items ORDER BY name;
