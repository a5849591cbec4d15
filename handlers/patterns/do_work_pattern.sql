-- patterns/do_work_pattern: SQLite (sqlite_2).

-- name: create_tasks
CREATE TABLE IF NOT EXISTS sample_tasks (
    id      INTEGER PRIMARY KEY,
    payload INTEGER NOT NULL,
    result  INTEGER,
    done    INTEGER NOT NULL DEFAULT 0
);

-- name: seed_task
INSERT INTO sample_tasks (id, payload) VALUES (:id, :payload) ON CONFLICT (id) DO NOTHING;

-- name: pending_tasks
SELECT id, payload FROM sample_tasks WHERE done = 0 ORDER BY id LIMIT :limit;

-- name: complete_task
UPDATE sample_tasks SET result = :result, done = 1 WHERE id = :id AND done = 0;

-- name: count_done
SELECT COUNT(*) AS done FROM sample_tasks WHERE done = 1;
