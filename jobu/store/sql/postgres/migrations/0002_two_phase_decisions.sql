-- The decision log of two-phase commits over handlers' databases (jobu.db.commit,
-- jobu.db.recovery). One row per transaction that reached its decision point (commit),
-- or that recovery found prepared without a decision (rollback). The primary key makes
-- the first decision written the one in force.
CREATE TABLE twophase_decisions (
    txid        VARCHAR(64) PRIMARY KEY,
    outcome     VARCHAR(10) NOT NULL CHECK (outcome IN ('commit', 'rollback')),
    -- JSON: [{"database": "postgres_1", "gid": "jobu:…:1"}, …]
    branches    TEXT NOT NULL,
    decided_at  TIMESTAMPTZ NOT NULL,
    done_at     TIMESTAMPTZ
);

-- Recovery reads the decisions not done yet; pruning deletes old done ones.
CREATE INDEX twophase_decisions_done ON twophase_decisions (done_at);

-- The log's id, part of every gid it decides for, so that recovery touches only the
-- prepared transactions of this jobu (a database server may serve several). Random,
-- made once, by this migration.
CREATE TABLE twophase_log (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    log_id      VARCHAR(16) NOT NULL
);

INSERT INTO twophase_log (id, log_id)
VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 8));
