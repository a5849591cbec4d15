-- jobu-queued: the Kafka key and headers of the message an execution came from, kept beside
-- the execution (not in its params, which are the handler's: a handler must not find
-- transport fields among its arguments). One row only for a message that had a key or
-- headers; topic, partition and offset are already in the execution's dedupe key (or, when a
-- dedupe_key header named it, here). Deleted with its execution (history retention).
-- message_key is base64 (NULL: no key); headers is JSON [[name, base64 value], ...].
-- IF NOT EXISTS: MySQL commits DDL at once, so a migration cut short can be run again.
CREATE TABLE IF NOT EXISTS queue_messages (
    execution_id          BIGINT NOT NULL PRIMARY KEY,
    topic                 VARCHAR(249) NOT NULL,
    partition_id          INTEGER NOT NULL,
    message_offset        BIGINT NOT NULL,
    message_key           LONGTEXT,
    headers               LONGTEXT NOT NULL,
    CONSTRAINT queue_messages_execution_fk FOREIGN KEY (execution_id)
        REFERENCES job_executions (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
