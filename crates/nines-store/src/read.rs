//! Read side: services with their facets, the timeline, SLA groups.

use nines_core::clock::{Millis, rfc3339};
use nines_core::timeline::{Cause, Transition};
use nines_core::wire::{BackupState, BackupView, ServiceRef, ServiceView, SlaGroupView, StorageView, TransitionView};
use nines_core::{Criticality, StorageLevel, UNKNOWN_NODE};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::{BTreeMap, BTreeSet};

use crate::services::parse_used_by;
use crate::{Result, Store, opt_f64, opt_i64, opt_str};

/// Filters of `GET /api/v1/services`. `organization` is the caller's scope.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    pub organization: Option<String>,
    /// A full node path, or a prefix of whole segments (`myorg/platform`).
    pub node_id: Option<String>,
    pub tag: Option<String>,
    pub status: Option<String>,
    pub sla_group: Option<String>,
}

const COLUMNS: &str =
    "s.id, s.organization, s.node_id, s.name, s.display_name, s.kind, s.criticality, g.name AS sla_group,
    s.tags, s.metadata, s.source, s.namespace, s.status, s.message, s.last_seen_at, s.created_at, s.updated_at,
    s.backup_expected, s.backup_max_age_days, s.backup_schedule, s.backup_last_at, s.backup_last_status,
    s.backup_last_success_at, s.backup_size_bytes, s.backup_message, s.storage_allocated_bytes, s.storage_used_bytes,
    s.storage_free_percent, s.storage_type, s.storage_mount_path, s.storage_reported_at, s.used_by";

/// A service row with every facet, as stored.
#[derive(Debug, Clone)]
pub struct ServiceRecord {
    pub view: ServiceView,
    row: Facets,
}

#[derive(Debug, Clone)]
struct Facets {
    backup_expected: bool,
    backup_max_age_days: Option<f64>,
    backup_schedule: Option<String>,
    backup_last_at: Option<i64>,
    backup_last_status: Option<String>,
    backup_last_success_at: Option<i64>,
    backup_size_bytes: Option<i64>,
    backup_message: Option<String>,
    storage_allocated_bytes: Option<i64>,
    storage_used_bytes: Option<i64>,
    storage_free_percent: Option<f64>,
    storage_type: Option<String>,
    storage_mount_path: Option<String>,
    storage_reported_at: Option<i64>,
    used_by: String,
}

fn record(r: &AnyRow) -> ServiceRecord {
    let tags: Vec<String> = serde_json::from_str(&r.get::<String, _>("tags")).unwrap_or_default();
    let metadata: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&r.get::<String, _>("metadata")).unwrap_or_default();
    let criticality: Criticality = r.get::<String, _>("criticality").parse().unwrap_or_default();
    let node_id: String = r.get("node_id");
    ServiceRecord {
        view: ServiceView {
            id: r.get("id"),
            service: r.get("name"),
            organization: r.get("organization"),
            node_flagged: node_id == UNKNOWN_NODE,
            node_id,
            status: r.get::<String, _>("status").parse().unwrap_or(nines_core::Status::Unknown),
            message: opt_str(r, "message"),
            kind: r.get("kind"),
            criticality,
            tier: criticality.tier(),
            sla_group: opt_str(r, "sla_group"),
            tags,
            source: r.get("source"),
            namespace: opt_str(r, "namespace"),
            display_name: opt_str(r, "display_name"),
            metadata,
            last_seen: opt_i64(r, "last_seen_at").map(rfc3339),
            created_at: rfc3339(r.get("created_at")),
            updated_at: rfc3339(r.get("updated_at")),
        },
        row: Facets {
            backup_expected: r.get::<i64, _>("backup_expected") != 0,
            backup_max_age_days: opt_f64(r, "backup_max_age_days"),
            backup_schedule: opt_str(r, "backup_schedule"),
            backup_last_at: opt_i64(r, "backup_last_at"),
            backup_last_status: opt_str(r, "backup_last_status"),
            backup_last_success_at: opt_i64(r, "backup_last_success_at"),
            backup_size_bytes: opt_i64(r, "backup_size_bytes"),
            backup_message: opt_str(r, "backup_message"),
            storage_allocated_bytes: opt_i64(r, "storage_allocated_bytes"),
            storage_used_bytes: opt_i64(r, "storage_used_bytes"),
            storage_free_percent: opt_f64(r, "storage_free_percent"),
            storage_type: opt_str(r, "storage_type"),
            storage_mount_path: opt_str(r, "storage_mount_path"),
            storage_reported_at: opt_i64(r, "storage_reported_at"),
            used_by: r.get("used_by"),
        },
    }
}

impl ServiceRecord {
    /// The backup facet, when a backup is expected or was ever reported.
    pub fn backup(&self, now: Millis) -> Option<BackupView> {
        let f = &self.row;
        if !f.backup_expected && f.backup_last_at.is_none() {
            return None;
        }
        let max_age = f.backup_max_age_days.unwrap_or(nines_core::apply::DEFAULT_BACKUP_MAX_AGE_DAYS);
        let max_age_ms = (max_age * 86_400_000.0) as i64;
        let created = nines_core::clock::parse_rfc3339(&self.view.created_at).unwrap_or(now);
        // Overdue: no successful backup within maxAgeDays (counted from
        // registration when none ever arrived).
        let reference = f.backup_last_success_at.unwrap_or(created);
        let overdue = f.backup_expected && now - reference > max_age_ms;
        let state = if overdue {
            BackupState::Overdue
        } else if f.backup_last_status.as_deref() == Some("failed") {
            BackupState::Failed
        } else if f.backup_expected || f.backup_last_at.is_some() {
            BackupState::Current
        } else {
            BackupState::NotRequired
        };
        Some(BackupView {
            id: self.view.id,
            service: self.view.service.clone(),
            node_id: self.view.node_id.clone(),
            sla_group: self.view.sla_group.clone(),
            namespace: self.view.namespace.clone(),
            expected: f.backup_expected,
            max_age_days: max_age,
            schedule: f.backup_schedule.clone(),
            last_backup: f.backup_last_at.map(rfc3339),
            last_status: f.backup_last_status.clone(),
            last_success: f.backup_last_success_at.map(rfc3339),
            size_bytes: f.backup_size_bytes.map(|v| v as u64),
            message: f.backup_message.clone(),
            overdue,
            state,
        })
    }

    /// The storage facet, for services with a storage tag.
    pub fn storage(&self) -> Option<StorageView> {
        if !nines_core::is_storage_service(&self.view.tags) {
            return None;
        }
        let f = &self.row;
        let free = f.storage_free_percent;
        Some(StorageView {
            id: self.view.id,
            service: self.view.service.clone(),
            node_id: self.view.node_id.clone(),
            allocated_bytes: f.storage_allocated_bytes.map(|v| v as u64),
            used_bytes: f.storage_used_bytes.map(|v| v as u64),
            free_percent: free,
            level: StorageLevel::of(free),
            storage_type: f.storage_type.clone(),
            mount_path: f.storage_mount_path.clone(),
            reported_at: f.storage_reported_at.map(rfc3339),
            used_by: parse_used_by(&f.used_by),
        })
    }
}

impl Store {
    pub async fn list_services(&self, f: &ServiceFilter) -> Result<Vec<ServiceRecord>> {
        let node_prefix = f.node_id.as_ref().map(|n| format!("{}/%", n.trim_end_matches('/')));
        let sql = format!(
            "SELECT {COLUMNS} FROM services s LEFT JOIN sla_groups g ON g.id = s.sla_group_id
             WHERE ($1 IS NULL OR s.organization = $1)
               AND ($2 IS NULL OR s.node_id = $2 OR s.node_id LIKE $3)
               AND ($4 IS NULL OR s.status = $4)
               AND ($5 IS NULL OR g.name = $5)
             ORDER BY s.organization, s.node_id, s.name"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(f.organization.clone())
            .bind(f.node_id.clone())
            .bind(node_prefix)
            .bind(f.status.clone())
            .bind(f.sla_group.clone());
        let mut out: Vec<ServiceRecord> = crate::fetch_map(q, &self.pool, record).await?;
        if let Some(tag) = &f.tag {
            out.retain(|s| s.view.tags.iter().any(|t| t == tag));
        }
        Ok(out)
    }

    /// The services with these ids (those that exist), in no set order.
    pub async fn services_by_id(&self, ids: &[i64]) -> Result<Vec<ServiceRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {COLUMNS} FROM services s LEFT JOIN sla_groups g ON g.id = s.sla_group_id WHERE s.id IN ({})",
                crate::placeholders(self.dialect, 1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(crate::fetch_map(q, &self.pool, record).await?);
        }
        Ok(out)
    }

    pub async fn get_service(&self, id: i64) -> Result<Option<ServiceRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM services s LEFT JOIN sla_groups g ON g.id = s.sla_group_id WHERE s.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(record))
    }

    /// The status timeline of a service in `[from, to)`, oldest first, each
    /// transition with its reason.
    pub async fn timeline(&self, id: i64, from: Millis, to: Millis) -> Result<Vec<(Transition, Option<String>)>> {
        Ok(self.timelines(&[id], from, to).await?.remove(&id).unwrap_or_default())
    }

    /// The status timelines of many services in `[from, to)`, oldest first
    /// (a downtime's members: one query per 500 services).
    pub async fn timelines(
        &self,
        ids: &[i64],
        from: Millis,
        to: Millis,
    ) -> Result<std::collections::HashMap<i64, Vec<(Transition, Option<String>)>>> {
        let mut out: std::collections::HashMap<i64, Vec<(Transition, Option<String>)>> =
            std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT service_id, at, from_status, to_status, cause, reason FROM transitions
                 WHERE service_id IN ({}) AND at >= {} AND at < {} ORDER BY service_id, at, id",
                crate::placeholders(self.dialect, 1, chunk.len()),
                self.dialect.ph(chunk.len() + 1),
                self.dialect.ph(chunk.len() + 2)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            crate::for_each_row(q.bind(from).bind(to), &self.pool, |r| {
                let t = Transition {
                    at: r.get(1),
                    from: r.get::<String, _>(2).parse().unwrap_or(nines_core::Status::Unknown),
                    to: r.get::<String, _>(3).parse().unwrap_or(nines_core::Status::Unknown),
                    cause: Cause::parse(&r.get::<String, _>(4)).unwrap_or(Cause::Report),
                };
                out.entry(r.get::<i64, _>(0)).or_default().push((t, r.get::<Option<String>, _>(5)));
            })
            .await?;
        }
        Ok(out)
    }

    /// Count of stored observations of a service (tests and diagnostics).
    pub async fn observation_count(&self, id: i64) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM observations WHERE service_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// SLA groups visible to `organization` (None: all), with members from every source.
    pub async fn sla_groups(&self, organization: Option<&str>) -> Result<Vec<SlaGroupView>> {
        let groups = sqlx::query("SELECT id, organization, name, mode FROM sla_groups WHERE ($1 IS NULL OR organization = $1) ORDER BY organization, name")
            .bind(organization.map(str::to_string))
            .fetch_all(&self.pool)
            .await?;
        let members = sqlx::query(
            "SELECT s.sla_group_id, s.id, s.name, s.node_id, s.source FROM services s
             WHERE s.sla_group_id IS NOT NULL AND ($1 IS NULL OR s.organization = $1) ORDER BY s.id",
        )
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(groups.len());
        for g in &groups {
            let gid: i64 = g.get(0);
            let mut refs = Vec::new();
            let mut sources = BTreeSet::new();
            let mut clusters = BTreeSet::new();
            for m in members.iter().filter(|m| m.get::<i64, _>(0) == gid) {
                let node: String = m.get(3);
                refs.push(ServiceRef { id: m.get(1), service: m.get(2), node_id: node.clone() });
                sources.insert(m.get::<String, _>(4));
                clusters.insert(node);
            }
            out.push(SlaGroupView {
                organization: g.get(1),
                name: g.get(2),
                mode: g.get(3),
                members: refs,
                sources: sources.into_iter().collect(),
                clusters: clusters.into_iter().collect(),
            });
        }
        Ok(out)
    }
}

pub fn transition_view((t, reason): &(Transition, Option<String>)) -> TransitionView {
    TransitionView {
        at: rfc3339(t.at),
        from: t.from,
        to: t.to,
        cause: t.cause.as_str().to_string(),
        reason: reason.clone(),
    }
}
