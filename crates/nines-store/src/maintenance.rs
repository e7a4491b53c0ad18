//! Maintenance windows as stored: one-off (start, end) or recurring (a cron
//! expression, a duration and a time zone), scoped to services, SLA groups
//! and hierarchy nodes. Expanding them into spans is the server's.

use nines_core::clock::Millis;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceRow {
    pub id: i64,
    pub organization: String,
    pub title: String,
    pub description: Option<String>,
    pub service_ids: Vec<i64>,
    pub sla_groups: Vec<String>,
    pub node_ids: Vec<String>,
    pub starts_at: Option<Millis>,
    pub ends_at: Option<Millis>,
    pub cron: Option<String>,
    pub duration_minutes: Option<i64>,
    pub time_zone: Option<String>,
    pub counts_towards_sla: bool,
    pub created_at: Millis,
    /// What status pages show of it (without a title: "Planned maintenance").
    pub public_title: Option<String>,
    pub public_description: Option<String>,
}

impl Store {
    pub async fn create_maintenance(&self, m: &MaintenanceRow) -> Result<i64> {
        let mut w = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO maintenance_windows (organization, title, description, service_ids, sla_groups, node_ids, starts_at, ends_at,
                cron, duration_minutes, time_zone, counts_towards_sla, created_at, public_title, public_description)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(&m.organization)
        .bind(&m.title)
        .bind(m.description.clone())
        .bind(serde_json::to_string(&m.service_ids).unwrap_or_default())
        .bind(serde_json::to_string(&m.sla_groups).unwrap_or_default())
        .bind(serde_json::to_string(&m.node_ids).unwrap_or_default())
        .bind(m.starts_at)
        .bind(m.ends_at)
        .bind(m.cron.clone())
        .bind(m.duration_minutes)
        .bind(m.time_zone.clone())
        .bind(m.counts_towards_sla as i64)
        .bind(m.created_at)
        .bind(m.public_title.clone())
        .bind(m.public_description.clone())
        .fetch_one(&mut *w.tx)
        .await?;
        // services' SLO figures depend on maintenance: drop cached subjects
        crate::services::bump_services_version(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(row.get(0))
    }

    pub async fn list_maintenance(&self, organization: Option<&str>) -> Result<Vec<MaintenanceRow>> {
        let rows = sqlx::query(
            "SELECT id, organization, title, description, service_ids, sla_groups, node_ids, starts_at, ends_at, cron, duration_minutes,
                time_zone, counts_towards_sla, created_at, public_title, public_description FROM maintenance_windows WHERE ($1 IS NULL OR organization = $1) ORDER BY id",
        )
        .bind(organization.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| MaintenanceRow {
                id: r.get(0),
                organization: r.get(1),
                title: r.get(2),
                description: r.get(3),
                service_ids: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default(),
                sla_groups: serde_json::from_str(&r.get::<String, _>(5)).unwrap_or_default(),
                node_ids: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
                starts_at: r.get(7),
                ends_at: r.get(8),
                cron: r.get(9),
                duration_minutes: r.get(10),
                time_zone: r.get(11),
                counts_towards_sla: r.get::<i64, _>(12) != 0,
                created_at: r.get(13),
                public_title: r.get(14),
                public_description: r.get(15),
            })
            .collect())
    }

    /// Replace window `m.id` (its organization and creation time stay).
    pub async fn update_maintenance(&self, m: &MaintenanceRow) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query(
            "UPDATE maintenance_windows SET title = $2, description = $3, service_ids = $4, sla_groups = $5, node_ids = $6,
                starts_at = $7, ends_at = $8, cron = $9, duration_minutes = $10, time_zone = $11, counts_towards_sla = $12,
                public_title = $13, public_description = $14
             WHERE id = $1",
        )
        .bind(m.id)
        .bind(&m.title)
        .bind(m.description.clone())
        .bind(serde_json::to_string(&m.service_ids).unwrap_or_default())
        .bind(serde_json::to_string(&m.sla_groups).unwrap_or_default())
        .bind(serde_json::to_string(&m.node_ids).unwrap_or_default())
        .bind(m.starts_at)
        .bind(m.ends_at)
        .bind(m.cron.clone())
        .bind(m.duration_minutes)
        .bind(m.time_zone.clone())
        .bind(m.counts_towards_sla as i64)
        .bind(m.public_title.clone())
        .bind(m.public_description.clone())
        .execute(&mut *w.tx)
        .await?;
        crate::services::bump_services_version(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn delete_maintenance(&self, id: i64) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("DELETE FROM maintenance_windows WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        crate::services::bump_services_version(&mut w.tx).await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }
}
