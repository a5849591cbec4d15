-- jobu-queued: where each partition of a consumed topic stands, who may consume it, and the
-- messages that could not become executions.
--
-- queue_partitions: one row per (consumer group, topic, partition). next_offset is the next
-- message to consume (NULL: none consumed yet); it moves in the same transaction as the
-- executions of the messages before it, so a restart resumes exactly there. owner,
-- lease_token and lease_expires_at are the partition's lease: only the process holding an
-- unexpired lease under that token may move next_offset (fencing, as for the workers).
CREATE TABLE queue_partitions (
    group_id              VARCHAR(255) NOT NULL,
    topic                 VARCHAR(255) NOT NULL,
    partition_id          INTEGER NOT NULL,
    next_offset           BIGINT,
    owner                 VARCHAR(200),
    lease_token           VARCHAR(64),
    lease_expires_at      TEXT,
    updated_at            TEXT NOT NULL,
    PRIMARY KEY (group_id, topic, partition_id)
);

-- Messages that could not become executions, kept with the reason; the partition moved on.
-- headers is JSON text; raw is the message's value exactly as it was received.
CREATE TABLE dead_letters (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id              VARCHAR(255) NOT NULL,
    topic                 VARCHAR(255) NOT NULL,
    partition_id          INTEGER NOT NULL,
    message_offset        BIGINT NOT NULL,
    message_key           BLOB,
    headers               TEXT NOT NULL DEFAULT '[]',
    raw                   BLOB NOT NULL,
    reason                TEXT NOT NULL,
    received_at           TEXT NOT NULL,
    CONSTRAINT dead_letters_message UNIQUE (group_id, topic, partition_id, message_offset)
);

CREATE INDEX dead_letters_received ON dead_letters (received_at);
