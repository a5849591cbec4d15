-- jobu-admin's audit log: who did what to which cron or execution, when and from where.
-- One row per change made through the pages or the API (written after it succeeded) and per
-- sign-in, failed sign-in and sign-out. actor is the signed-in user's name, '-' when nobody
-- was signed in (a failed sign-in names the user it tried in target). source is 'admin' (a
-- page) or 'api'; address the client's address as the request saw it. Pruned by the
-- dispatcher's maintenance after audit_retention_days (dispatcher.yaml).
-- Index audit_log_at: pruning deletes the oldest rows first. The other two: the sign-in rate
-- limit counts one action's recent rows for a user name (target) or for a client address,
-- newest first; the page's filters by action and target use the first of them too.
-- IF NOT EXISTS: MySQL commits DDL at once, so a migration cut short can be run again.
CREATE TABLE IF NOT EXISTS audit_log (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at                    DATETIME(6) NOT NULL,
    actor                 VARCHAR(200) NOT NULL,
    action                VARCHAR(64) NOT NULL,
    target                VARCHAR(255),
    source                VARCHAR(16) NOT NULL,
    address               VARCHAR(64),
    detail                VARCHAR(1000),
    KEY audit_log_at (at),
    KEY audit_log_action_target (action, target, at),
    KEY audit_log_action_address (action, address, at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
