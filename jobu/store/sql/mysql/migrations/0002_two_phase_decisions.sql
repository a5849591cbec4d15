-- The decision log of two-phase commits over handlers' databases (jobu.db.commit,
-- jobu.db.recovery). One row per transaction that reached its decision point (commit),
-- or that recovery found prepared without a decision (rollback). The primary key makes
-- the first decision written the one in force. IF NOT EXISTS and INSERT IGNORE: MySQL
-- commits DDL at once, so a migration cut short is simply run again.
CREATE TABLE IF NOT EXISTS twophase_decisions (
    txid        VARCHAR(64) NOT NULL PRIMARY KEY,
    outcome     VARCHAR(10) NOT NULL,
    -- JSON: [{"database": "postgres_1", "gid": "jobu:…:1"}, …]
    branches    LONGTEXT NOT NULL,
    decided_at  DATETIME(6) NOT NULL,
    done_at     DATETIME(6) NULL,
    -- Recovery reads the decisions not done yet; pruning deletes old done ones.
    KEY twophase_decisions_done (done_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The log's id, part of every gid it decides for, so that recovery touches only the
-- prepared transactions of this jobu (a database server may serve several). Random,
-- made once, by this migration.
CREATE TABLE IF NOT EXISTS twophase_log (
    id          INTEGER NOT NULL PRIMARY KEY,
    log_id      VARCHAR(16) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

INSERT IGNORE INTO twophase_log (id, log_id) VALUES (1, LEFT(MD5(RAND()), 8));
