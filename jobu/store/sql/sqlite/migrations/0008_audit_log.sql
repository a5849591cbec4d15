-- jobu-admin's audit log: who did what to which cron or execution, when and from where.
-- One row per change made through the pages or the API (written after it succeeded) and per
-- sign-in, failed sign-in and sign-out. actor is the signed-in user's name, '-' when nobody
-- was signed in (a failed sign-in names the user it tried in target). source is 'admin' (a
-- page) or 'api'; address the client's address as the request saw it. Pruned by the
-- dispatcher's maintenance after audit_retention_days (dispatcher.yaml).
CREATE TABLE audit_log (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    at                    TEXT NOT NULL,
    actor                 VARCHAR(200) NOT NULL,
    action                VARCHAR(64) NOT NULL,
    target                VARCHAR(255),
    source                VARCHAR(16) NOT NULL,
    address               VARCHAR(64),
    detail                VARCHAR(1000)
);

-- Pruning deletes the oldest rows first.
CREATE INDEX audit_log_at ON audit_log (at);
-- The sign-in rate limit counts one action's recent rows for a user name (target) or for a
-- client address, newest first; the page's filters by action and target use the first too.
CREATE INDEX audit_log_action_target ON audit_log (action, target, at);
CREATE INDEX audit_log_action_address ON audit_log (action, address, at);
