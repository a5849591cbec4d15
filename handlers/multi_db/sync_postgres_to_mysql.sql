-- multi_db/sync_postgres_to_mysql: statements for postgres_1 (postgres_*) and mysql_1
-- (mysql_*). Parameters are :name on both.

-- name: postgres_create_events
CREATE TABLE IF NOT EXISTS sample_events (
    id          INTEGER PRIMARY KEY,
    kind        VARCHAR(40) NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    synced      BOOLEAN NOT NULL DEFAULT false
);

-- name: postgres_seed_event
INSERT INTO sample_events (id, kind) VALUES (:id, :kind) ON CONFLICT (id) DO NOTHING;

-- name: postgres_unsynced_events
-- FOR UPDATE: two workers running this job at once do not copy the same events.
SELECT id, kind FROM sample_events WHERE NOT synced ORDER BY id LIMIT :limit FOR UPDATE;

-- name: postgres_mark_synced
UPDATE sample_events SET synced = true WHERE id = :id;

-- name: mysql_create_events
CREATE TABLE IF NOT EXISTS sample_synced_events (
    id          INTEGER NOT NULL PRIMARY KEY,
    kind        VARCHAR(40) NOT NULL,
    synced_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- name: mysql_upsert_event
INSERT INTO sample_synced_events (id, kind) VALUES (:id, :kind)
ON DUPLICATE KEY UPDATE kind = VALUES(kind), synced_at = CURRENT_TIMESTAMP(6);

-- name: mysql_count
SELECT COUNT(*) AS events FROM sample_synced_events;
