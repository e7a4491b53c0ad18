-- nines schema, version 12: dashboard login sessions. Only the SHA-256 of
-- the session token is stored; the token lives in the browser's cookie.

CREATE TABLE ui_sessions (
    token_sha256 TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
