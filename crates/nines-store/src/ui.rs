//! What the dashboard needs beyond the API's reads: login sessions and the
//! newest transition id (the cursor of live updates).
//!
//! A session token is 256 random bits handed to the browser once; only its
//! SHA-256 is stored, so a copy of the database does not log anyone in. A
//! session belongs either to an API key and dies with it (lookups go through
//! [`Store::find_api_key`], which ignores revoked keys), or to a person
//! signed in through the OpenID Connect provider ([`PersonSession`]), whose
//! organizations and roles were read from their groups at sign-in.
//!
//! A sign-in through the provider under way is an [`OidcLogin`]: the nonce
//! and PKCE verifier the callback needs, kept here under the SHA-256 of the
//! `state` parameter, used once.

use nines_core::Role;
use nines_core::clock::Millis;
use sqlx::Row;
use std::collections::BTreeMap;

use crate::keys::{ApiKey, hash_key, hex};
use crate::{Result, Store};

fn token_hash(token: &str) -> String {
    hex(&hash_key(token))
}

/// A person's dashboard session (signed in through the provider).
#[derive(Clone, PartialEq)]
pub struct PersonSession {
    /// `user:<username>`: what audit entries record as the key id.
    pub key_id: String,
    /// The provider's `sub`.
    pub subject: String,
    /// The name shown and signed under notes and acknowledgements.
    pub display_name: String,
    pub email: Option<String>,
    /// Organization -> role; `*` is every organization (platform admins).
    pub memberships: BTreeMap<String, Role>,
    /// The organization the person looks at now (a key of `memberships`).
    pub active_org: String,
    /// Sent back as `id_token_hint` at sign-out. Never logged.
    pub id_token: String,
}

/// Everything but the ID token, which is never printed.
impl std::fmt::Debug for PersonSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersonSession")
            .field("key_id", &self.key_id)
            .field("subject", &self.subject)
            .field("display_name", &self.display_name)
            .field("email", &self.email)
            .field("memberships", &self.memberships)
            .field("active_org", &self.active_org)
            .field("id_token", &"***")
            .finish()
    }
}

/// What a session token stands for.
#[derive(Debug, Clone)]
pub enum UiSession {
    Key(ApiKey),
    Person(PersonSession),
}

/// A sign-in through the provider under way (see the module's doc).
#[derive(Debug, Clone, PartialEq)]
pub struct OidcLogin {
    pub nonce: String,
    pub code_verifier: String,
    pub redirect_uri: String,
    pub next_path: String,
}

/// Sign-ins under way at most (10 minutes each).
pub const MAX_OIDC_LOGINS: i64 = 10_000;

fn new_token() -> String {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the operating system's random source");
    hex(&raw)
}

impl Store {
    /// Open a session for key `key_id` until `expires_at`; returns the token
    /// (shown once, to the browser). Expired sessions are swept on the way.
    pub async fn create_ui_session(&self, key_id: &str, now: Millis, expires_at: Millis) -> Result<String> {
        let token = new_token();
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1").bind(now).execute(&mut *w.tx).await?;
        sqlx::query("INSERT INTO ui_sessions (token_sha256, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash(&token))
            .bind(key_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(token)
    }

    /// Open a session for a person until `expires_at`; returns the token.
    pub async fn create_person_session(&self, p: &PersonSession, now: Millis, expires_at: Millis) -> Result<String> {
        let token = new_token();
        let memberships = serde_json::to_string(&p.memberships).expect("a map of strings serializes");
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1").bind(now).execute(&mut *w.tx).await?;
        sqlx::query(
            "INSERT INTO ui_sessions (token_sha256, key_id, created_at, expires_at, subject, display_name, email, memberships, active_org, id_token) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token_hash(&token))
        .bind(&p.key_id)
        .bind(now)
        .bind(expires_at)
        .bind(&p.subject)
        .bind(&p.display_name)
        .bind(&p.email)
        .bind(memberships)
        .bind(&p.active_org)
        .bind(&p.id_token)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(token)
    }

    /// What a live session token stands for: its API key (unless revoked)
    /// or its person; `None` when the session expired or never was.
    pub async fn ui_session(&self, token: &str, now: Millis) -> Result<Option<UiSession>> {
        let row = sqlx::query(
            "SELECT key_id, subject, display_name, email, memberships, active_org, id_token FROM ui_sessions WHERE token_sha256 = $1 AND expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let key_id: String = r.get(0);
        let Some(subject) = r.get::<Option<String>, _>(1) else {
            return Ok(self.find_api_key(&key_id).await?.map(UiSession::Key));
        };
        // written by create_person_session; a row that does not read is no session
        let Ok(memberships) = serde_json::from_str(&r.get::<Option<String>, _>(4).unwrap_or_default()) else {
            return Ok(None);
        };
        Ok(Some(UiSession::Person(PersonSession {
            key_id,
            subject,
            display_name: r.get::<Option<String>, _>(2).unwrap_or_default(),
            email: r.get(3),
            memberships,
            active_org: r.get::<Option<String>, _>(5).unwrap_or_default(),
            id_token: r.get::<Option<String>, _>(6).unwrap_or_default(),
        })))
    }

    /// Change the organization a person's session looks at. True when the
    /// session is live and the person is a member of `org`.
    pub async fn set_session_org(&self, token: &str, org: &str, now: Millis) -> Result<bool> {
        let Some(UiSession::Person(p)) = self.ui_session(token, now).await? else { return Ok(false) };
        if !p.memberships.contains_key(org) {
            return Ok(false);
        }
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE ui_sessions SET active_org = $1 WHERE token_sha256 = $2 AND expires_at > $3")
            .bind(org)
            .bind(token_hash(token))
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// Remember a sign-in under way until `expires_at` (sweeping expired
    /// ones). False, and nothing kept, when [`MAX_OIDC_LOGINS`] are under
    /// way: anyone may start a sign-in, so their number is bounded.
    pub async fn create_oidc_login(&self, state: &str, l: &OidcLogin, now: Millis, expires_at: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1").bind(now).execute(&mut *w.tx).await?;
        let under_way: i64 = sqlx::query("SELECT COUNT(*) FROM oidc_logins").fetch_one(&mut *w.tx).await?.get(0);
        if under_way >= MAX_OIDC_LOGINS {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO oidc_logins (state_sha256, nonce, code_verifier, redirect_uri, next_path, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash(state))
        .bind(&l.nonce)
        .bind(&l.code_verifier)
        .bind(&l.redirect_uri)
        .bind(&l.next_path)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(true)
    }

    /// The sign-in under way for `state`, removed as it is read (a state
    /// serves once); `None` when unknown, used or expired.
    pub async fn take_oidc_login(&self, state: &str, now: Millis) -> Result<Option<OidcLogin>> {
        let mut w = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT nonce, code_verifier, redirect_uri, next_path, expires_at FROM oidc_logins WHERE state_sha256 = $1",
        )
        .bind(token_hash(state))
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let gone = sqlx::query("DELETE FROM oidc_logins WHERE state_sha256 = $1")
            .bind(token_hash(state))
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        if gone.rows_affected() != 1 || r.get::<i64, _>(4) <= now {
            return Ok(None);
        }
        Ok(Some(OidcLogin { nonce: r.get(0), code_verifier: r.get(1), redirect_uri: r.get(2), next_path: r.get(3) }))
    }

    /// The key behind a live session token, unless the session expired or
    /// the key was revoked.
    pub async fn ui_session_key(&self, token: &str, now: Millis) -> Result<Option<ApiKey>> {
        let row = sqlx::query("SELECT key_id FROM ui_sessions WHERE token_sha256 = $1 AND expires_at > $2")
            .bind(token_hash(token))
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => self.find_api_key(&r.get::<String, _>(0)).await,
            None => Ok(None),
        }
    }

    /// End a session (logout). True when there was one.
    pub async fn delete_ui_session(&self, token: &str) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM ui_sessions WHERE token_sha256 = $1")
            .bind(token_hash(token))
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    /// The stored token hashes (tests check that no token is kept in clear).
    pub async fn ui_session_hashes(&self) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT token_sha256 FROM ui_sessions ORDER BY created_at").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The id of the newest transition (0 when there is none): live updates
    /// send what comes after it.
    pub async fn latest_transition_id(&self) -> Result<i64> {
        let r = sqlx::query("SELECT MAX(id) FROM transitions").fetch_one(&self.pool).await?;
        Ok(r.try_get::<Option<i64>, _>(0).ok().flatten().unwrap_or(0))
    }
}
