//! What the dashboard needs beyond the API's reads: login sessions and the
//! newest transition id (the cursor of live updates).
//!
//! A session token is 256 random bits handed to the browser once; only its
//! SHA-256 is stored, so a copy of the database does not log anyone in. A
//! session belongs to an API key and dies with it: lookups go through
//! [`Store::find_api_key`], which ignores revoked keys.

use nines_core::clock::Millis;
use sqlx::Row;

use crate::keys::{ApiKey, hash_key, hex};
use crate::{Result, Store};

fn token_hash(token: &str) -> String {
    hex(&hash_key(token))
}

impl Store {
    /// Open a session for key `key_id` until `expires_at`; returns the token
    /// (shown once, to the browser). Expired sessions are swept on the way.
    pub async fn create_ui_session(&self, key_id: &str, now: Millis, expires_at: Millis) -> Result<String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).expect("the operating system's random source");
        let token = hex(&raw);
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
