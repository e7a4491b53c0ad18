//! The audit log: one row per write a key made through the API or the
//! dashboard (who, what, when, with what outcome). Written by the access
//! middleware; read by admins. Telemetry pushes are not actions and are
//! not logged.

use nines_core::clock::Millis;
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Millis,
    pub key_id: String,
    pub actor: String,
    /// The caller's scope: an organization, or `*`.
    pub organization: String,
    pub role: String,
    /// `api` (a key header) or `dashboard` (a signed-in session).
    pub via: String,
    pub method: String,
    /// The route's template, e.g. `/api/v1/downtimes/{id}/acknowledge`.
    pub route: String,
    /// The path called, e.g. `/api/v1/downtimes/12/acknowledge`.
    pub path: String,
    pub status: i64,
}

impl Store {
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let mut w = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO audit_log (at, key_id, actor, organization, role, via, method, route, path, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.at)
        .bind(&e.key_id)
        .bind(&e.actor)
        .bind(&e.organization)
        .bind(&e.role)
        .bind(&e.via)
        .bind(&e.method)
        .bind(&e.route)
        .bind(&e.path)
        .bind(e.status)
        .execute(&mut *w.tx)
        .await?;
        w.tx.commit().await?;
        Ok(())
    }

    /// Forget entries older than `before`; returns how many.
    pub async fn prune_audit(&self, before: Millis) -> Result<u64> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM audit_log WHERE at < $1").bind(before).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected())
    }

    /// Newest first: entries of `organization` (all when `None`), older
    /// than entry `before` when given.
    pub async fn list_audit(
        &self,
        organization: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, at, key_id, actor, organization, role, via, method, route, path, status FROM audit_log
             WHERE ($1 = '' OR organization = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(organization.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                id: r.get(0),
                at: r.get(1),
                key_id: r.get(2),
                actor: r.get(3),
                organization: r.get(4),
                role: r.get(5),
                via: r.get(6),
                method: r.get(7),
                route: r.get(8),
                path: r.get(9),
                status: r.get::<i64, _>(10),
            })
            .collect())
    }
}

impl Store {
    /// The document text of a service declared in the dashboard.
    pub async fn ui_document(&self, service_id: i64) -> Result<Option<String>> {
        Ok(sqlx::query("SELECT document FROM ui_documents WHERE service_id = $1")
            .bind(service_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    /// Keep `document` as the text of these services (dashboard applies).
    pub async fn set_ui_documents(&self, service_ids: &[i64], document: &str, now: Millis) -> Result<()> {
        let mut w = self.write_tx().await?;
        for id in service_ids {
            sqlx::query(
                "INSERT INTO ui_documents (service_id, document, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (service_id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
            )
            .bind(*id)
            .bind(document)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(())
    }
}
