-- concurrency/concurrent_queries: a table of the numbers 1..:count on each kind of database
-- (<driver>_*), filled by a recursive query in each one's own spelling, and two queries that
-- read the same everywhere.

-- name: sqlite_create_numbers
CREATE TABLE IF NOT EXISTS sample_numbers (n INTEGER PRIMARY KEY);

-- name: sqlite_seed_numbers
INSERT INTO sample_numbers (n)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)
SELECT n FROM seq WHERE true
ON CONFLICT (n) DO NOTHING;

-- name: postgres_create_numbers
CREATE TABLE IF NOT EXISTS sample_numbers (n INTEGER PRIMARY KEY);

-- name: postgres_seed_numbers
INSERT INTO sample_numbers (n) SELECT generate_series(1, :count)
ON CONFLICT (n) DO NOTHING;

-- name: mysql_create_numbers
CREATE TABLE IF NOT EXISTS sample_numbers (n INTEGER NOT NULL PRIMARY KEY)
ENGINE = InnoDB;

-- name: mysql_seed_numbers
INSERT INTO sample_numbers (n)
WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)
SELECT n FROM seq
ON DUPLICATE KEY UPDATE n = sample_numbers.n;

-- name: numbers_count
SELECT COUNT(*) AS numbers FROM sample_numbers;

-- name: numbers_sum
SELECT SUM(n) AS total FROM sample_numbers;
