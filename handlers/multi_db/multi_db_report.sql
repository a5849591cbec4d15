-- multi_db/multi_db_report: the sales table on each kind of database (<driver>_*), and one
-- query that reads the same on all of them.

-- name: sqlite_create_sales
CREATE TABLE IF NOT EXISTS sample_sales (
    id           INTEGER PRIMARY KEY,
    region       TEXT NOT NULL,
    amount_cents INTEGER NOT NULL
);

-- name: sqlite_seed_sale
INSERT INTO sample_sales (id, region, amount_cents) VALUES (:id, :region, :amount_cents)
ON CONFLICT (id) DO NOTHING;

-- name: postgres_create_sales
CREATE TABLE IF NOT EXISTS sample_sales (
    id           INTEGER PRIMARY KEY,
    region       VARCHAR(40) NOT NULL,
    amount_cents BIGINT NOT NULL
);

-- name: postgres_seed_sale
INSERT INTO sample_sales (id, region, amount_cents) VALUES (:id, :region, :amount_cents)
ON CONFLICT (id) DO NOTHING;

-- name: mysql_create_sales
CREATE TABLE IF NOT EXISTS sample_sales (
    id           INTEGER NOT NULL PRIMARY KEY,
    region       VARCHAR(40) NOT NULL,
    amount_cents BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- name: mysql_seed_sale
INSERT INTO sample_sales (id, region, amount_cents) VALUES (:id, :region, :amount_cents)
ON DUPLICATE KEY UPDATE id = id;

-- name: total_sales
SELECT SUM(amount_cents) AS total_cents FROM sample_sales;
