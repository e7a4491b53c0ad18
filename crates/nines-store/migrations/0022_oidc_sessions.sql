-- nines schema, version 22: dashboard sign-in through an OpenID Connect
-- provider.
--
-- A session of a person (not of an API key) keeps who they are, the
-- organizations their groups give them (JSON: organization -> role, and
-- "*" for the platform administrators' every-organization scope), the one
-- they look at now, and the provider's ID token, sent back to the provider
-- when they sign out. key_id is then "user:<name>", no API key's id.
ALTER TABLE ui_sessions ADD COLUMN subject TEXT;
ALTER TABLE ui_sessions ADD COLUMN display_name TEXT;
ALTER TABLE ui_sessions ADD COLUMN email TEXT;
ALTER TABLE ui_sessions ADD COLUMN memberships TEXT;
ALTER TABLE ui_sessions ADD COLUMN active_org TEXT;
ALTER TABLE ui_sessions ADD COLUMN id_token TEXT;

-- A sign-in under way: what the browser must bring back to the callback.
-- Keyed by the SHA-256 of the `state` parameter; used once, 10 minutes at
-- most. The nonce and the PKCE code verifier never leave the server.
CREATE TABLE oidc_logins (
    state_sha256 TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    next_path TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expires ON oidc_logins (expires_at);
