//! Backup and storage facets of services, fed by push reports.

use nines_core::clock::Millis;
use nines_core::wire::{BackupStatus, ServiceRef};
use sqlx::Row;

use crate::Conn;
use crate::services::{NewService, ensure_service};
use crate::{Error, Result, Store};

/// What a backup report is about.
#[derive(Debug, Clone)]
pub enum BackupTarget {
    /// One service; created on first report.
    Service(NewService),
    /// Every member with a backup expected of the SLA group named, in the
    /// organization (None: any organization the key spans).
    SlaGroup { organization: Option<String>, name: String },
    /// Every service with a backup expected in the namespace, optionally
    /// narrowed to one node.
    Namespace { organization: Option<String>, node_id: Option<String>, namespace: String },
}

/// A validated storage report.
#[derive(Debug, Clone)]
pub struct StorageOp {
    pub service: NewService,
    pub allocated_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub free_percent: f64,
    pub storage_type: Option<String>,
    pub mount_path: Option<String>,
    pub at: Millis,
}

impl Store {
    /// Record a backup report. Returns the services it applied to and
    /// whether one was created; a group or namespace report that matches no
    /// service with a backup expected is `NotFound` and writes nothing.
    #[allow(clippy::too_many_arguments)]
    pub async fn backup_report(
        &self,
        target: &BackupTarget,
        status: BackupStatus,
        size_bytes: Option<u64>,
        message: Option<&str>,
        at: Millis,
        now: Millis,
    ) -> Result<(Vec<ServiceRef>, bool)> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let mut created = false;
        let (scope, targets): (&str, Vec<ServiceRef>) = match target {
            BackupTarget::Service(s) => {
                let (id, c) = ensure_service(conn, s, now).await?;
                created = c;
                {
                    // a backup report says a backup is expected from now on
                    sqlx::query(
                        "UPDATE services SET backup_expected = 1, backup_max_age_days = COALESCE(backup_max_age_days, $2) WHERE id = $1",
                    )
                    .bind(id)
                    .bind(nines_core::apply::DEFAULT_BACKUP_MAX_AGE_DAYS)
                    .execute(&mut *conn)
                    .await?;
                }
                ("service", vec![ServiceRef { id, service: s.name.clone(), node_id: s.node_id.clone() }])
            }
            BackupTarget::SlaGroup { organization, name } => {
                let rows = sqlx::query(
                    "SELECT s.id, s.name, s.node_id FROM services s JOIN sla_groups g ON g.id = s.sla_group_id
                     WHERE g.name = $1 AND ($2 IS NULL OR g.organization = $2) AND s.backup_expected = 1 ORDER BY s.id",
                )
                .bind(name)
                .bind(organization.clone())
                .fetch_all(&mut *conn)
                .await?;
                if rows.is_empty() {
                    return Err(Error::Invalid {
                        field: "slaGroup".into(),
                        message: format!("no service with a backup expected in SLA group {name:?}"),
                    });
                }
                ("slaGroup", rows.iter().map(service_ref).collect())
            }
            BackupTarget::Namespace { organization, node_id, namespace } => {
                let rows = sqlx::query(
                    "SELECT id, name, node_id FROM services WHERE namespace = $1 AND ($2 IS NULL OR organization = $2)
                     AND ($3 IS NULL OR node_id = $3) AND backup_expected = 1 ORDER BY id",
                )
                .bind(namespace)
                .bind(organization.clone())
                .bind(node_id.clone())
                .fetch_all(&mut *conn)
                .await?;
                if rows.is_empty() {
                    return Err(Error::Invalid {
                        field: "namespace".into(),
                        message: format!("no service with a backup expected in namespace {namespace:?}"),
                    });
                }
                ("namespace", rows.iter().map(service_ref).collect())
            }
        };
        let success = status == BackupStatus::Success;
        for t in &targets {
            // A late report never replaces a newer one as "last backup".
            sqlx::query(
                "UPDATE services SET
                    backup_last_status = CASE WHEN backup_last_at IS NULL OR backup_last_at <= $2 THEN $3 ELSE backup_last_status END,
                    backup_size_bytes = CASE WHEN backup_last_at IS NULL OR backup_last_at <= $2 THEN $4 ELSE backup_size_bytes END,
                    backup_message = CASE WHEN backup_last_at IS NULL OR backup_last_at <= $2 THEN $5 ELSE backup_message END,
                    backup_last_at = CASE WHEN backup_last_at IS NULL OR backup_last_at <= $2 THEN $2 ELSE backup_last_at END,
                    backup_last_success_at = CASE WHEN $6 = 1 AND (backup_last_success_at IS NULL OR backup_last_success_at < $2) THEN $2 ELSE backup_last_success_at END,
                    last_seen_at = $7, updated_at = $7
                 WHERE id = $1",
            )
            .bind(t.id)
            .bind(at)
            .bind(status.as_str())
            .bind(size_bytes.map(|v| v as i64))
            .bind(message.map(str::to_string))
            .bind(success as i64)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO backup_reports (service_id, at, status, size_bytes, message, scope, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(t.id)
            .bind(at)
            .bind(status.as_str())
            .bind(size_bytes.map(|v| v as i64))
            .bind(message.map(str::to_string))
            .bind(scope)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        w.tx.commit().await?;
        Ok((targets, created))
    }

    /// Record a storage report; creates the service on first report and
    /// adds the `storage` tag (only this endpoint does).
    pub async fn storage_report(&self, op: &StorageOp, now: Millis) -> Result<(i64, bool)> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let (id, created) = ensure_service(conn, &op.service, now).await?;
        let row = sqlx::query("SELECT tags, storage_reported_at FROM services WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let mut tags: Vec<String> = serde_json::from_str(&row.get::<String, _>(0)).unwrap_or_default();
        if !tags.iter().any(|t| t == "storage") {
            tags.push("storage".into());
        }
        let newer = row.get::<Option<i64>, _>(1).is_none_or(|r| r <= op.at);
        if newer {
            sqlx::query(
                "UPDATE services SET tags = $2, storage_allocated_bytes = $3, storage_used_bytes = $4, storage_free_percent = $5,
                    storage_type = COALESCE($6, storage_type), storage_mount_path = COALESCE($7, storage_mount_path),
                    storage_reported_at = $8, last_seen_at = $9, updated_at = $9
                 WHERE id = $1",
            )
            .bind(id)
            .bind(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()))
            .bind(op.allocated_bytes.map(|v| v as i64))
            .bind(op.used_bytes.map(|v| v as i64))
            .bind(op.free_percent)
            .bind(op.storage_type.clone())
            .bind(op.mount_path.clone())
            .bind(op.at)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        } else {
            sqlx::query("UPDATE services SET tags = $2, last_seen_at = $3 WHERE id = $1")
                .bind(id)
                .bind(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()))
                .bind(now)
                .execute(&mut *conn)
                .await?;
        }
        w.tx.commit().await?;
        Ok((id, created))
    }
}

fn service_ref(r: &sqlx::any::AnyRow) -> ServiceRef {
    ServiceRef { id: r.get::<i64, _>(0), service: r.get::<String, _>(1), node_id: r.get::<String, _>(2) }
}
