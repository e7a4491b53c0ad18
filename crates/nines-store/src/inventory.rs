//! What the operator reports about a cluster besides services: the cluster's
//! registration (one per workspace, the operator seed's idempotency rules)
//! and its inventory — container images, deployed apps, hosts — each item
//! upserted by its key and kept as JSON. Removing a registration takes its
//! inventory with it, never the services at its node. Validation and the
//! wire shapes are the server's; this module stores and reads.

use nines_core::clock::Millis;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRow {
    pub id: i64,
    pub organization: String,
    /// `organization/platform/environment`: the workspace the cluster belongs to.
    pub workspace: String,
    pub name: String,
    /// `workspace/name`: the hierarchy node of the cluster's services.
    pub node_id: String,
    pub api_server_url: Option<String>,
    pub kubernetes_version: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What registering did.
#[derive(Debug, Clone, PartialEq)]
pub enum Registration {
    /// The workspace already had a cluster; it wins and the name asked for is ignored.
    Existing(ClusterRow),
    Created(ClusterRow),
    /// No cluster yet and no name to create one under.
    NotRegistered,
}

/// Which inventory an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryKind {
    Artifact,
    App,
    Host,
}

impl InventoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryKind::Artifact => "artifact",
            InventoryKind::App => "app",
            InventoryKind::Host => "host",
        }
    }
}

/// One stored inventory item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryRow {
    pub id: i64,
    pub organization: String,
    pub node_id: String,
    pub key: String,
    pub payload: serde_json::Value,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What an upsert did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Upserted {
    Created,
    Updated,
    Unchanged,
}

fn cluster_row(r: &sqlx::any::AnyRow) -> ClusterRow {
    ClusterRow {
        id: r.get(0),
        organization: r.get(1),
        workspace: r.get(2),
        name: r.get(3),
        node_id: r.get(4),
        api_server_url: r.get(5),
        kubernetes_version: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    }
}

const CLUSTER_COLUMNS: &str =
    "id, organization, workspace, name, node_id, api_server_url, kubernetes_version, created_at, updated_at";

impl Store {
    /// Register the cluster of `workspace` (seed: a cluster the API already
    /// has for the workspace wins; otherwise one is created when `name` is
    /// given; otherwise none). Refreshes the existing cluster's API server
    /// URL and version when given.
    pub async fn register_cluster(
        &self,
        organization: &str,
        workspace: &str,
        name: Option<&str>,
        api_server_url: Option<&str>,
        kubernetes_version: Option<&str>,
        now: Millis,
    ) -> Result<Registration> {
        let mut w = self.write_tx().await?;
        let sql = format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters WHERE organization = $1 AND workspace = $2{}",
            self.dialect.for_update()
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organization)
            .bind(workspace)
            .fetch_optional(&mut *w.tx)
            .await?
            .map(|r| cluster_row(&r));
        let out = match (found, name) {
            (Some(mut c), _) => {
                sqlx::query(
                    "UPDATE clusters SET api_server_url = COALESCE($2, api_server_url),
                        kubernetes_version = COALESCE($3, kubernetes_version), updated_at = $4 WHERE id = $1",
                )
                .bind(c.id)
                .bind(api_server_url.map(str::to_string))
                .bind(kubernetes_version.map(str::to_string))
                .bind(now)
                .execute(&mut *w.tx)
                .await?;
                c.api_server_url = api_server_url.map(str::to_string).or(c.api_server_url);
                c.kubernetes_version = kubernetes_version.map(str::to_string).or(c.kubernetes_version);
                c.updated_at = now;
                Registration::Existing(c)
            }
            (None, Some(name)) => {
                let node_id = format!("{workspace}/{name}");
                let row = sqlx::query(
                    "INSERT INTO clusters (organization, workspace, name, node_id, api_server_url, kubernetes_version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                )
                .bind(organization)
                .bind(workspace)
                .bind(name)
                .bind(&node_id)
                .bind(api_server_url.map(str::to_string))
                .bind(kubernetes_version.map(str::to_string))
                .bind(now)
                .fetch_one(&mut *w.tx)
                .await?;
                Registration::Created(ClusterRow {
                    id: row.get(0),
                    organization: organization.into(),
                    workspace: workspace.into(),
                    name: name.into(),
                    node_id,
                    api_server_url: api_server_url.map(str::to_string),
                    kubernetes_version: kubernetes_version.map(str::to_string),
                    created_at: now,
                    updated_at: now,
                })
            }
            (None, None) => Registration::NotRegistered,
        };
        w.tx.commit().await?;
        Ok(out)
    }

    /// One cluster by id, whatever its organization (the caller checks).
    pub async fn get_cluster(&self, id: i64) -> Result<Option<ClusterRow>> {
        let sql = format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(cluster_row))
    }

    /// Remove a cluster's registration with the inventory reported for its
    /// node (images, apps, hosts: they describe the cluster and keep no
    /// history). Services, their history, certificates and downtimes at the
    /// node stay: the hierarchy is built from the services' node ids, not
    /// from this table, and registering the workspace again under the same
    /// name finds them where they were. `false` when there was no such cluster.
    pub async fn delete_cluster(&self, id: i64) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let sql = format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE id = $1{}", self.dialect.for_update());
        let found = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *w.tx).await?;
        let Some(c) = found.as_ref().map(cluster_row) else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM inventory_items WHERE organization = $1 AND node_id = $2")
            .bind(&c.organization)
            .bind(&c.node_id)
            .execute(&mut *w.tx)
            .await?;
        sqlx::query("DELETE FROM clusters WHERE id = $1").bind(id).execute(&mut *w.tx).await?;
        w.tx.commit().await?;
        Ok(true)
    }

    pub async fn list_clusters(&self, organization: Option<&str>) -> Result<Vec<ClusterRow>> {
        let sql = format!("SELECT {CLUSTER_COLUMNS} FROM clusters WHERE ($1 IS NULL OR organization = $1) ORDER BY id");
        let rows =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(organization.map(str::to_string)).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(cluster_row).collect())
    }

    /// Upsert inventory items of one node by key, in one transaction. Items
    /// not named are left alone (the operator keeps API objects whose
    /// cluster objects went).
    pub async fn upsert_inventory(
        &self,
        organization: &str,
        node_id: &str,
        kind: InventoryKind,
        items: &[(String, serde_json::Value)],
        now: Millis,
    ) -> Result<Vec<(i64, Upserted)>> {
        let mut w = self.write_tx().await?;
        let mut out = Vec::with_capacity(items.len());
        let select = format!(
            "SELECT id, payload FROM inventory_items WHERE organization = $1 AND node_id = $2 AND kind = $3 AND item_key = $4{}",
            self.dialect.for_update()
        );
        for (key, payload) in items {
            let text = payload.to_string();
            let found = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(organization)
                .bind(node_id)
                .bind(kind.as_str())
                .bind(key)
                .fetch_optional(&mut *w.tx)
                .await?;
            match found {
                Some(r) => {
                    let id: i64 = r.get(0);
                    let old: String = r.get(1);
                    if old == text {
                        out.push((id, Upserted::Unchanged));
                        continue;
                    }
                    sqlx::query("UPDATE inventory_items SET payload = $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(&text)
                        .bind(now)
                        .execute(&mut *w.tx)
                        .await?;
                    out.push((id, Upserted::Updated));
                }
                None => {
                    let r = sqlx::query(
                        "INSERT INTO inventory_items (organization, node_id, kind, item_key, payload, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                    )
                    .bind(organization)
                    .bind(node_id)
                    .bind(kind.as_str())
                    .bind(key)
                    .bind(&text)
                    .bind(now)
                    .fetch_one(&mut *w.tx)
                    .await?;
                    out.push((r.get(0), Upserted::Created));
                }
            }
        }
        w.tx.commit().await?;
        Ok(out)
    }

    /// Items of one kind, optionally of one organization and one node, by node and key.
    pub async fn list_inventory(
        &self,
        kind: InventoryKind,
        organization: Option<&str>,
        node_id: Option<&str>,
    ) -> Result<Vec<InventoryRow>> {
        let rows = sqlx::query(
            "SELECT id, organization, node_id, item_key, payload, created_at, updated_at FROM inventory_items
             WHERE kind = $1 AND ($2 IS NULL OR organization = $2) AND ($3 IS NULL OR node_id = $3)
             ORDER BY node_id, item_key",
        )
        .bind(kind.as_str())
        .bind(organization.map(str::to_string))
        .bind(node_id.map(str::to_string))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| InventoryRow {
                id: r.get(0),
                organization: r.get(1),
                node_id: r.get(2),
                key: r.get(3),
                payload: serde_json::from_str(&r.get::<String, _>(4)).unwrap_or(serde_json::Value::Null),
                created_at: r.get(5),
                updated_at: r.get(6),
            })
            .collect())
    }
}
