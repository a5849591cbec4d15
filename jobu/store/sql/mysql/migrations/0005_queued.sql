-- jobu-queued: where each partition of a consumed topic stands, who may consume it, and the
-- messages that could not become executions. IF NOT EXISTS with the indexes inside: MySQL
-- commits DDL at once, so a migration cut short can simply be run again.
--
-- queue_partitions: one row per (consumer group, topic, partition). next_offset is the next
-- message to consume (NULL: none consumed yet); it moves in the same transaction as the
-- executions of the messages before it, so a restart resumes exactly there. owner,
-- lease_token and lease_expires_at are the partition's lease: only the process holding an
-- unexpired lease under that token may move next_offset (fencing, as for the workers).
CREATE TABLE IF NOT EXISTS queue_partitions (
    group_id              VARCHAR(255) NOT NULL,
    topic                 VARCHAR(249) NOT NULL,
    partition_id          INTEGER NOT NULL,
    next_offset           BIGINT,
    owner                 VARCHAR(200),
    lease_token           VARCHAR(64),
    lease_expires_at      DATETIME(6),
    updated_at            DATETIME(6) NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Messages that could not become executions, kept with the reason; the partition moved on.
-- headers is JSON text; raw is the message's value exactly as it was received.
CREATE TABLE IF NOT EXISTS dead_letters (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    group_id              VARCHAR(255) NOT NULL,
    topic                 VARCHAR(249) NOT NULL,
    partition_id          INTEGER NOT NULL,
    message_offset        BIGINT NOT NULL,
    message_key           LONGBLOB,
    headers               LONGTEXT NOT NULL,
    raw                   LONGBLOB NOT NULL,
    reason                TEXT NOT NULL,
    received_at           DATETIME(6) NOT NULL,
    UNIQUE KEY dead_letters_message (group_id, topic, partition_id, message_offset),
    KEY dead_letters_received (received_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
