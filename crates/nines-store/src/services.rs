//! Services and SLA groups: creation on first push, GitOps apply.

use nines_core::apply::ServiceSpec;
use nines_core::clock::Millis;
use nines_core::wire::{ApplyItem, LinkedService};
use nines_core::{Criticality, Source};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::Conn;
use crate::{Result, Store};

/// Attributes a push gives a service it creates. Later pushes do not change them.
#[derive(Debug, Clone)]
pub struct NewService {
    pub organization: String,
    pub node_id: String,
    pub name: String,
    pub kind: String,
    pub criticality: Criticality,
    pub sla_group: Option<String>,
    pub tags: Vec<String>,
    pub source: Source,
    pub backup_expected: bool,
}

/// The group's id, creating it on first use. Unique by (organization, name):
/// members from every source and cluster join the same row.
pub(crate) async fn ensure_sla_group(conn: &mut Conn, org: &str, name: &str, now: Millis) -> Result<i64> {
    sqlx::query("INSERT INTO sla_groups (organization, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (organization, name) DO NOTHING")
        .bind(org)
        .bind(name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query("SELECT id FROM sla_groups WHERE organization = $1 AND name = $2")
        .bind(org)
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.get::<i64, _>(0))
}

/// Services changed in a way the SLO engine caches (created, declared, new
/// targets): bump the version so every replica reloads.
pub(crate) async fn bump_services_version(conn: &mut Conn) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('services_version', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn find_service(conn: &mut Conn, org: &str, node: &str, name: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM services WHERE organization = $1 AND node_id = $2 AND name = $3")
        .bind(org)
        .bind(node)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0)))
}

/// Find or create; returns `(id, created)`.
pub(crate) async fn ensure_service(conn: &mut Conn, s: &NewService, now: Millis) -> Result<(i64, bool)> {
    if let Some(id) = find_service(conn, &s.organization, &s.node_id, &s.name).await? {
        return Ok((id, false));
    }
    let group = match &s.sla_group {
        Some(g) => Some(ensure_sla_group(conn, &s.organization, g, now).await?),
        None => None,
    };
    let tags = serde_json::to_string(&s.tags).unwrap_or_else(|_| "[]".into());
    let row = sqlx::query(
        "INSERT INTO services (organization, node_id, name, kind, criticality, sla_group_id, tags, source, backup_expected, backup_max_age_days, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(&s.organization)
    .bind(&s.node_id)
    .bind(&s.name)
    .bind(&s.kind)
    .bind(s.criticality.as_str())
    .bind(group)
    .bind(tags)
    .bind(s.source.as_str())
    .bind(s.backup_expected as i64)
    .bind(crate::OptF64(s.backup_expected.then_some(nines_core::apply::DEFAULT_BACKUP_MAX_AGE_DAYS)))
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    bump_services_version(conn).await?;
    Ok((row.get::<i64, _>(0), true))
}

fn spec_hash(spec: &ServiceSpec, source: Source) -> String {
    // Debug output of the validated spec is deterministic (BTreeMap, Vec).
    let digest = Sha256::digest(format!("{source:?}|{spec:?}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Register or update services from validated config documents, all in
    /// one transaction. Applying the same documents again changes nothing.
    pub async fn apply(&self, specs: &[ServiceSpec], source: Source, now: Millis) -> Result<Vec<ApplyItem>> {
        self.apply_with_checks(specs, &[], source, now).await
    }

    /// [`Store::apply`] with the validated checks of each spec (parallel to
    /// `specs`; a missing entry means no checks). A service's checks are
    /// replaced by the declared ones.
    pub async fn apply_with_checks(
        &self,
        specs: &[ServiceSpec],
        checks: &[Vec<crate::checks::CheckRow>],
        source: Source,
        now: Millis,
    ) -> Result<Vec<ApplyItem>> {
        let mut w = self.write_tx().await?;
        let mut items = Vec::with_capacity(specs.len());
        for (k, spec) in specs.iter().enumerate() {
            let conn: &mut Conn = &mut w.tx;
            let node = spec.node.to_string();
            let hash = spec_hash(spec, source);
            let existing = sqlx::query(
                "SELECT id, config_hash FROM services WHERE organization = $1 AND node_id = $2 AND name = $3",
            )
            .bind(&spec.organization)
            .bind(&node)
            .bind(&spec.name)
            .fetch_optional(&mut *conn)
            .await?;
            let group = match &spec.sla_group {
                Some(g) => Some(ensure_sla_group(conn, &spec.organization, g, now).await?),
                None => None,
            };
            let (id, action) = match existing {
                Some(row) if row.get::<Option<String>, _>(1).as_deref() == Some(hash.as_str()) => {
                    (row.get::<i64, _>(0), "unchanged")
                }
                Some(row) => (row.get::<i64, _>(0), "updated"),
                None => {
                    let row = sqlx::query(
                        "INSERT INTO services (organization, node_id, name, kind, criticality, source, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                    )
                    .bind(&spec.organization)
                    .bind(&node)
                    .bind(&spec.name)
                    .bind(&spec.kind)
                    .bind(spec.criticality.as_str())
                    .bind(source.as_str())
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await?;
                    (row.get::<i64, _>(0), "created")
                }
            };
            if action != "unchanged" {
                let tags = serde_json::to_string(&spec.tags).unwrap_or_else(|_| "[]".into());
                let metadata = serde_json::to_string(&spec.metadata).unwrap_or_else(|_| "{}".into());
                let used_by = serde_json::to_string(&spec.used_by).unwrap_or_else(|_| "[]".into());
                let b = spec.backup.as_ref();
                sqlx::query(
                    "UPDATE services SET display_name = $2, kind = $3, criticality = $4, sla_group_id = $5, tags = $6,
                        metadata = $7, source = $8, namespace = $9, workload_type = $10, workload_name = $11,
                        used_by = $12, backup_expected = $13, backup_max_age_days = $14, backup_schedule = $15,
                        backup_storage_size = $16, config_hash = $17, updated_at = $18
                     WHERE id = $1",
                )
                .bind(id)
                .bind(spec.display_name.clone())
                .bind(&spec.kind)
                .bind(spec.criticality.as_str())
                .bind(group)
                .bind(tags)
                .bind(metadata)
                .bind(source.as_str())
                .bind(spec.namespace.clone())
                .bind(spec.workload_type.clone())
                .bind(spec.workload_name.clone())
                .bind(used_by)
                .bind(b.is_some_and(|b| b.expected) as i64)
                .bind(crate::OptF64(b.map(|b| b.max_age_days)))
                .bind(b.and_then(|b| b.schedule.clone()))
                .bind(b.and_then(|b| b.storage_size.clone()))
                .bind(&hash)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                // Declared storage facts fill the Storage tab until a push reports real numbers.
                if let Some((alloc, used, free)) = spec.storage {
                    sqlx::query(
                        "UPDATE services SET storage_allocated_bytes = $2, storage_used_bytes = $3, storage_free_percent = $4
                         WHERE id = $1 AND storage_reported_at IS NULL",
                    )
                    .bind(id)
                    .bind(alloc.map(|v| v as i64))
                    .bind(used.map(|v| v as i64))
                    .bind(free)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            let rows: &[crate::checks::CheckRow] = checks.get(k).map(|v| v.as_slice()).unwrap_or(&[]);
            crate::checks::replace_checks(&mut w.tx, id, &spec.organization, rows, now).await?;
            items.push(ApplyItem { id, service: spec.name.clone(), node_id: node, action: action.to_string() });
        }
        if items.iter().any(|i| i.action != "unchanged") {
            bump_services_version(&mut w.tx).await?;
        }
        w.tx.commit().await?;
        Ok(items)
    }
}

pub(crate) fn parse_used_by(s: &str) -> Vec<LinkedService> {
    serde_json::from_str(s).unwrap_or_default()
}

impl Store {
    /// Delete a service and everything recorded about it (its timeline,
    /// results, checks). Returns false when there was none.
    pub async fn delete_service(&self, organization: &str, node_id: &str, name: &str) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let conn: &mut Conn = &mut w.tx;
        let Some(id) = find_service(conn, organization, node_id, name).await? else { return Ok(false) };
        for sql in [
            "DELETE FROM observations WHERE service_id = $1",
            "DELETE FROM transitions WHERE service_id = $1",
            "DELETE FROM backup_reports WHERE service_id = $1",
            "DELETE FROM period_results WHERE service_id = $1",
            "DELETE FROM period_dirty WHERE service_id = $1",
            "DELETE FROM check_states WHERE check_id IN (SELECT id FROM checks WHERE service_id = $1)",
            "DELETE FROM checks WHERE service_id = $1",
            "DELETE FROM ui_documents WHERE service_id = $1",
            "DELETE FROM services WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *conn).await?;
        }
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('checks_version', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)",
        )
        .execute(&mut *conn)
        .await?;
        bump_services_version(conn).await?;
        w.tx.commit().await?;
        if let Ok(mut m) = self.service_ids.write() {
            m.remove(&crate::identity(organization, node_id, name));
        }
        Ok(true)
    }
}
