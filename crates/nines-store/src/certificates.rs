//! TLS certificates as reported (by the operator from cert-manager, or by any
//! agent): one row per (node, namespace, name), replaced by each report. The
//! state shown is recomputed from `not_after` at read time
//! ([`CertificateStatus::at`]), so a certificate turns `expiring_soon` and
//! `expired` without anyone reporting it again.

use nines_core::clock::Millis;
use nines_core::model::CertificateStatus;
use serde::Serialize;
use sqlx::Row;

use crate::{Result, Store};

/// A certificate as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRow {
    pub id: i64,
    pub organization: String,
    pub node_id: String,
    pub namespace: String,
    pub name: String,
    pub secret_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub issuer_name: Option<String>,
    pub issuer_kind: Option<String>,
    pub not_before: Option<Millis>,
    pub not_after: Option<Millis>,
    pub renewal_time: Option<Millis>,
    pub is_ready: bool,
    /// What the reporter said.
    pub reported_status: CertificateStatus,
    pub message: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl CertificateRow {
    /// The state at `now` (see [`CertificateStatus::at`]).
    pub fn status_at(&self, now: Millis) -> CertificateStatus {
        CertificateStatus::at(self.reported_status, self.not_after, now)
    }
}

const COLUMNS: &str =
    "id, organization, node_id, namespace, name, secret_name, dns_names, ip_addresses, issuer_name, issuer_kind,
    not_before, not_after, renewal_time, is_ready, reported_status, message, created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> CertificateRow {
    CertificateRow {
        id: r.get(0),
        organization: r.get(1),
        node_id: r.get(2),
        namespace: r.get(3),
        name: r.get(4),
        secret_name: r.get(5),
        dns_names: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        ip_addresses: serde_json::from_str(&r.get::<String, _>(7)).unwrap_or_default(),
        issuer_name: r.get(8),
        issuer_kind: r.get(9),
        not_before: r.get(10),
        not_after: r.get(11),
        renewal_time: r.get(12),
        is_ready: r.get::<i64, _>(13) != 0,
        reported_status: CertificateStatus::parse(&r.get::<String, _>(14)).unwrap_or(CertificateStatus::Pending),
        message: r.get(15),
        created_at: r.get(16),
        updated_at: r.get(17),
    }
}

impl Store {
    /// Insert or replace the certificate keyed by (node, namespace, name).
    /// Returns its id and whether it was new.
    pub async fn upsert_certificate(&self, c: &CertificateRow, now: Millis) -> Result<(i64, bool)> {
        let mut w = self.write_tx().await?;
        let existing: Option<i64> =
            sqlx::query("SELECT id FROM certificates WHERE node_id = $1 AND namespace = $2 AND name = $3")
                .bind(&c.node_id)
                .bind(&c.namespace)
                .bind(&c.name)
                .fetch_optional(&mut *w.tx)
                .await?
                .map(|r| r.get(0));
        let dns = serde_json::to_string(&c.dns_names).unwrap_or_default();
        let ips = serde_json::to_string(&c.ip_addresses).unwrap_or_default();
        let id = match existing {
            Some(id) => {
                sqlx::query(
                    "UPDATE certificates SET organization = $2, secret_name = $3, dns_names = $4, ip_addresses = $5, issuer_name = $6,
                        issuer_kind = $7, not_before = $8, not_after = $9, renewal_time = $10, is_ready = $11, reported_status = $12,
                        message = $13, updated_at = $14 WHERE id = $1",
                )
                .bind(id)
                .bind(&c.organization)
                .bind(c.secret_name.clone())
                .bind(dns)
                .bind(ips)
                .bind(c.issuer_name.clone())
                .bind(c.issuer_kind.clone())
                .bind(c.not_before)
                .bind(c.not_after)
                .bind(c.renewal_time)
                .bind(c.is_ready as i64)
                .bind(c.reported_status.as_str())
                .bind(c.message.clone())
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                id
            }
            None => sqlx::query(
                "INSERT INTO certificates (organization, node_id, namespace, name, secret_name, dns_names, ip_addresses, issuer_name,
                    issuer_kind, not_before, not_after, renewal_time, is_ready, reported_status, message, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING id",
            )
            .bind(&c.organization)
            .bind(&c.node_id)
            .bind(&c.namespace)
            .bind(&c.name)
            .bind(c.secret_name.clone())
            .bind(dns)
            .bind(ips)
            .bind(c.issuer_name.clone())
            .bind(c.issuer_kind.clone())
            .bind(c.not_before)
            .bind(c.not_after)
            .bind(c.renewal_time)
            .bind(c.is_ready as i64)
            .bind(c.reported_status.as_str())
            .bind(c.message.clone())
            .bind(now)
            .fetch_one(&mut *w.tx)
            .await?
            .get(0),
        };
        w.tx.commit().await?;
        Ok((id, existing.is_none()))
    }

    /// Certificates of an organization (None: all), soonest expiry first.
    pub async fn list_certificates(&self, organization: Option<&str>) -> Result<Vec<CertificateRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM certificates WHERE ($1 IS NULL OR organization = $1)
             ORDER BY CASE WHEN not_after IS NULL THEN 1 ELSE 0 END, not_after, id"
        )))
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    pub async fn get_certificate(&self, id: i64) -> Result<Option<CertificateRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM certificates WHERE id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(from_row))
    }

    pub async fn delete_certificate(&self, id: i64) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM certificates WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }
}
