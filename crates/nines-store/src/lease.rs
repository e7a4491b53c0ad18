//! Leases: which replica runs the singleton background workers.
//!
//! A lease row names its holder and expiry. A replica takes a lease that is
//! free or expired, renews its own, and loses it when it stops renewing.
//! `watch_since` is when nines began watching without a gap: a takeover soon
//! after expiry inherits it, a takeover after a long gap starts afresh. The
//! stale detector counts silence only from there.

use nines_core::clock::Millis;
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    pub expires_at: Millis,
    pub watch_since: Millis,
}

impl Store {
    /// Take or renew the lease `name` for `holder` until `now + ttl_ms`.
    /// `gap_ms` is how long after expiry a takeover still counts as
    /// continuous watching. Returns the lease if held.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: Millis,
        ttl_ms: i64,
        gap_ms: i64,
    ) -> Result<Option<LeaseState>> {
        let mut w = self.write_tx().await?;
        let sql =
            format!("SELECT holder, expires_at, watch_since FROM leases WHERE name = $1{}", self.dialect.for_update());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(&mut *w.tx).await?;
        let state = match row {
            None => {
                let r = sqlx::query(
                    "INSERT INTO leases (name, holder, expires_at, acquired_at, watch_since) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(holder)
                .bind(now + ttl_ms)
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                (r.rows_affected() == 1).then_some(LeaseState { expires_at: now + ttl_ms, watch_since: now })
            }
            Some(r) => {
                let cur: String = r.get(0);
                let expires: i64 = r.get(1);
                let since: i64 = r.get(2);
                if cur == holder || expires <= now {
                    let watch_since = if cur == holder || now - expires <= gap_ms { since } else { now };
                    let acquired = if cur == holder { None } else { Some(now) };
                    sqlx::query(
                        "UPDATE leases SET holder = $2, expires_at = $3, watch_since = $4, acquired_at = COALESCE($5, acquired_at) WHERE name = $1",
                    )
                    .bind(name)
                    .bind(holder)
                    .bind(now + ttl_ms)
                    .bind(watch_since)
                    .bind(acquired)
                    .execute(&mut *w.tx)
                    .await?;
                    Some(LeaseState { expires_at: now + ttl_ms, watch_since })
                } else {
                    None
                }
            }
        };
        w.tx.commit().await?;
        Ok(state)
    }

    /// Give the lease up (graceful shutdown), so another replica takes over at once.
    pub async fn release_lease(&self, name: &str, holder: &str, now: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Who holds the lease, and until when.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, Millis)>> {
        let row = sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}
