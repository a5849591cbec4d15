-- The people who may sign in to jobu-admin, and what each may do there (role: viewer reads,
-- operator also runs, retries, cancels, enables and disables, admin also edits crons and users).
-- password_hash is a salted scrypt hash (jobu.operations.users), never the password;
-- api_token_hash is the SHA-256 of the user's API token (NULL: none issued), so a leaked table
-- gives no usable token. Managed with `jobu admin user add|remove|list|token`.
-- IF NOT EXISTS: MySQL commits DDL at once, so a migration cut short can be run again.
CREATE TABLE IF NOT EXISTS admin_users (
    name                  VARCHAR(200) NOT NULL PRIMARY KEY,
    role                  VARCHAR(20) NOT NULL,
    password_hash         VARCHAR(500) NOT NULL,
    api_token_hash        VARCHAR(64),
    created_at            DATETIME(6) NOT NULL,
    UNIQUE KEY admin_users_api_token (api_token_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
