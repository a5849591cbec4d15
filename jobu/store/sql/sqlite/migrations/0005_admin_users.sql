-- The people who may sign in to jobu-admin, and what each may do there (role: viewer reads,
-- operator also runs, retries, cancels, enables and disables, admin also edits crons and users).
-- password_hash is a salted scrypt hash (jobu.operations.users), never the password;
-- api_token_hash is the SHA-256 of the user's API token (NULL: none issued), so a leaked table
-- gives no usable token. Managed with `jobu admin user add|remove|list|token`.
CREATE TABLE admin_users (
    name                  VARCHAR(200) PRIMARY KEY,
    role                  VARCHAR(20) NOT NULL,
    password_hash         VARCHAR(500) NOT NULL,
    api_token_hash        VARCHAR(64) UNIQUE,
    created_at            TEXT NOT NULL
);
