//! What the operator reports about a cluster besides services: the local
//! cluster's registration (one cluster per workspace; the operator seed's
//! idempotency rules) and the inventory of container images, deployed apps
//! and hosts. Items are upserted by their key per cluster node; items not
//! named stay (the operator keeps API objects whose cluster objects went).
//! Removing a cluster takes its inventory with it and leaves the services
//! at its node, with their history, where they are.
//! Writing needs an operator or admin key of the node's organization;
//! reading is scoped to the key's organization.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, NodeId, OrgScope};
use nines_store::inventory::{InventoryKind, InventoryRow, Registration, Upserted};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/clusters/register", post(register))
        .route("/api/v1/clusters", get(list_clusters))
        .route("/api/v1/clusters/{id}", axum::routing::delete(delete_cluster))
        .route("/api/v1/inventory/artifacts", get(list_artifacts).put(put_artifacts))
        .route("/api/v1/inventory/apps", get(list_apps).put(put_apps))
        .route("/api/v1/inventory/hosts", get(list_hosts).put(put_hosts))
}

/// Most items one request may carry.
pub const MAX_ITEMS: usize = 5000;

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterRegistration {
    /// `organization/platform/environment`.
    pub workspace: String,
    /// Used only when the workspace has no cluster yet.
    #[serde(default)]
    pub cluster_name: Option<String>,
    #[serde(default)]
    pub api_server_url: Option<String>,
    #[serde(default)]
    pub kubernetes_version: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// The cluster id; null when nothing was registered.
    pub id: Option<String>,
    pub registered: bool,
    /// True when this call created the cluster.
    pub created: bool,
    pub name: Option<String>,
    /// The hierarchy node of the cluster's services.
    pub node_id: Option<String>,
    pub workspace: String,
    pub api_server_url: Option<String>,
    pub kubernetes_version: Option<String>,
}

fn cluster_view(c: nines_store::inventory::ClusterRow, created: bool) -> ClusterView {
    ClusterView {
        id: Some(c.id.to_string()),
        registered: true,
        created,
        name: Some(c.name),
        node_id: Some(c.node_id),
        workspace: c.workspace,
        api_server_url: c.api_server_url,
        kubernetes_version: c.kubernetes_version,
    }
}

fn check_name(field: &str, v: &str) -> Result<(), FieldError> {
    nines_core::check_name(v).map_err(|r| FieldError::invalid(field, r))
}

fn check_text(field: &str, v: &str, max: usize) -> Result<(), FieldError> {
    if v.trim().is_empty() {
        return Err(FieldError::invalid(field, "must not be empty"));
    }
    if v.len() > max {
        return Err(FieldError::invalid(field, format!("must be at most {max} characters, got {}", v.len())));
    }
    Ok(())
}

/// Register a workspace's cluster, or return the one it already has
///
/// A workspace (`organization/platform/environment`, in the key's organization)
/// has at most one cluster. The first registration with a `clusterName` creates
/// it (201) and names the hierarchy node of its services; later calls answer
/// the existing cluster (200) and ignore the name asked for. Without a
/// `clusterName` and no cluster yet, nothing is registered (200 with
/// `registered: false`). `apiServerUrl` and `kubernetesVersion` are at most 512
/// characters.
#[utoipa::path(post, path = "/api/v1/clusters/register", tag = "inventory", request_body = ClusterRegistration,
    responses((status = 201, description = "Created", body = ClusterView), (status = 200, description = "The workspace's cluster (existing), or none registered", body = ClusterView),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn register(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ClusterRegistration>,
) -> ApiResult<(StatusCode, Json<ClusterView>)> {
    let name = b.cluster_name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(n) = name {
        check_name("clusterName", n)?;
    }
    // a workspace is a node path without its cluster level
    let probe = format!("{}/{}", b.workspace.trim_end_matches('/'), name.unwrap_or("cluster"));
    let node = NodeId::parse("workspace", &probe)?;
    let Some(org) = node.organization().map(str::to_string) else {
        return Err(FieldError::invalid("workspace", "must be organization/platform/environment").into());
    };
    caller.require_org(&org, "workspace")?;
    let workspace = b.workspace.trim_end_matches('/').to_string();
    for (f, v) in [("apiServerUrl", &b.api_server_url), ("kubernetesVersion", &b.kubernetes_version)] {
        if let Some(v) = v {
            check_text(f, v, 512)?;
        }
    }
    let r = s
        .store
        .register_cluster(
            &org,
            &workspace,
            name,
            b.api_server_url.as_deref(),
            b.kubernetes_version.as_deref(),
            s.clock.now_ms(),
        )
        .await?;
    Ok(match r {
        Registration::Created(c) => {
            tracing::info!(cluster = %c.node_id, by = %caller.key_id, "cluster registered");
            (StatusCode::CREATED, Json(cluster_view(c, true)))
        }
        Registration::Existing(c) => (StatusCode::OK, Json(cluster_view(c, false))),
        Registration::NotRegistered => (
            StatusCode::OK,
            Json(ClusterView {
                id: None,
                registered: false,
                created: false,
                name: None,
                node_id: None,
                workspace,
                api_server_url: None,
                kubernetes_version: None,
            }),
        ),
    })
}

/// List the registered clusters
///
/// Every cluster of the key's organization with its workspace, hierarchy node,
/// API server URL and Kubernetes version.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "inventory", params(PageQuery),
    responses((status = 200, body = Page<ClusterView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_clusters(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ClusterView>>> {
    let paging = page::only(q)?;
    let rows = s.store.list_clusters(caller.scope.as_option()).await?;
    Ok(Json(paging.page(rows, |c| c.id)?.map(|c| cluster_view(c, false))))
}

/// Remove a registered cluster
///
/// The cluster's registration goes with the inventory reported for its node
/// (container images, deployed apps, hosts). The services at its node, their
/// history, certificates and downtimes stay: the hierarchy is built from the
/// services, not from the registration, and registering the workspace again
/// under the same name finds them where they were. The workspace is free for
/// another cluster afterwards. A cluster of another organization is answered
/// as a missing one.
#[utoipa::path(delete, path = "/api/v1/clusters/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Cluster id, as the registration and the list answer it")),
    responses((status = 204, description = "Removed, with its inventory"), (status = 403, body = ErrorBody),
        (status = 404, description = "No such cluster in the key's organization", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn delete_cluster(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let missing = || ApiError::not_found(format!("no cluster {id}"));
    // ids are numbers; anything else names no cluster
    let Ok(n) = id.parse::<i64>() else { return Err(missing()) };
    let c = match s.store.get_cluster(n).await? {
        Some(c) if caller.scope.allows(&c.organization) => c,
        _ => return Err(missing()),
    };
    if !s.store.delete_cluster(n).await? {
        return Err(missing());
    }
    tracing::info!(cluster = %c.node_id, by = %caller.key_id, "cluster removed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceUse {
    pub name: String,
    #[serde(default)]
    pub pod_count: i64,
}

/// A container image in use in the cluster.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactItem {
    /// The normalized reference (`docker.io/library/nginx:1.25`); the key.
    pub image: String,
    pub registry: String,
    pub repository: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub used_in_namespaces: Vec<NamespaceUse>,
    #[serde(default)]
    pub total_pod_count: i64,
}

/// A deployed app (a block with its meta-Secret).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppItem {
    pub name: String,
    pub namespace: String,
    pub block: String,
    #[serde(default)]
    pub version: Option<String>,
    /// `installed`, `installing`, `install_failed`, `uninstalled` or `unknown`.
    pub state: String,
    #[serde(default)]
    pub last_action: Option<String>,
    #[serde(default)]
    pub last_action_status: Option<String>,
    /// Images of the app's namespace.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

pub const APP_STATES: [&str; 5] = ["installed", "installing", "install_failed", "uninstalled", "unknown"];

/// A cluster node as a host.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostItem {
    /// The node name; the key.
    pub name: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub default_ipv4: Option<String>,
    #[serde(default)]
    pub resource_cpu_cores: Option<f64>,
    #[serde(default)]
    pub resource_memory_mb: Option<i64>,
    #[serde(default)]
    pub resource_cpu_architecture: Option<String>,
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub kubelet_version: Option<String>,
    #[serde(default)]
    pub os_image: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactsPut {
    /// The cluster node (`organization/platform/environment/cluster`).
    pub node_id: String,
    pub items: Vec<ArtifactItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppsPut {
    /// The cluster node (`organization/platform/environment/cluster`).
    pub node_id: String,
    pub items: Vec<AppItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostsPut {
    /// The cluster node (`organization/platform/environment/cluster`).
    pub node_id: String,
    pub items: Vec<HostItem>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpsertedItem {
    pub id: String,
    pub key: String,
    /// `created`, `updated` or `unchanged`.
    #[schema(value_type = String)]
    pub action: Upserted,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UpsertResult {
    pub items: Vec<UpsertedItem>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryView {
    pub id: String,
    pub node_id: String,
    pub key: String,
    #[schema(value_type = Object)]
    pub item: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InventoryQuery {
    /// Only this cluster node.
    pub node_id: Option<String>,
}

/// The organization and node of a write; the node must be a full path.
fn write_node(caller: &Caller, node_id: &str) -> ApiResult<(String, String)> {
    match NodeId::parse("nodeId", node_id)? {
        NodeId::Unknown => {
            Err(FieldError::invalid("nodeId", "must be organization/platform/environment/cluster").into())
        }
        p => {
            let org = p.organization().unwrap_or_default().to_string();
            caller.require_org(&org, "nodeId")?;
            Ok((org, p.to_string()))
        }
    }
}

fn check_count(n: usize) -> Result<(), FieldError> {
    if n > MAX_ITEMS {
        Err(FieldError::invalid("items", format!("at most {MAX_ITEMS} items, got {n}")))
    } else {
        Ok(())
    }
}

/// Reject two items with the same key: which one should win?
fn check_unique(keys: &[String]) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if !seen.insert(k) {
            return Err(FieldError::invalid(format!("items[{i}]"), format!("duplicate key {k:?}")));
        }
    }
    Ok(())
}

async fn upsert<T: Serialize>(
    s: &AppState,
    caller: &Caller,
    kind: InventoryKind,
    node_id: &str,
    keyed: Vec<(String, T)>,
) -> ApiResult<Json<UpsertResult>> {
    let (org, node) = write_node(caller, node_id)?;
    check_count(keyed.len())?;
    check_unique(&keyed.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())?;
    let items: Vec<(String, serde_json::Value)> =
        keyed.into_iter().map(|(k, v)| (k, serde_json::to_value(v).unwrap_or(serde_json::Value::Null))).collect();
    let done = s.store.upsert_inventory(&org, &node, kind, &items, s.clock.now_ms()).await?;
    Ok(Json(UpsertResult {
        items: done
            .into_iter()
            .zip(items)
            .map(|((id, action), (key, _))| UpsertedItem { id: id.to_string(), key, action })
            .collect(),
    }))
}

async fn list(
    s: &AppState,
    caller: &Caller,
    kind: InventoryKind,
    q: Option<String>,
) -> ApiResult<Json<Page<InventoryView>>> {
    let (paging, q) = page::split(q)?;
    let q: InventoryQuery = crate::extract::parse_query(q)?;
    if let (Some(n), OrgScope::One(_)) = (&q.node_id, &caller.scope)
        && let Some(org) = NodeId::parse("nodeId", n)?.organization()
    {
        caller.require_org(org, "nodeId")?;
    }
    let rows = s.store.list_inventory(kind, caller.scope.as_option(), q.node_id.as_deref()).await?;
    Ok(Json(paging.page(rows, |r| (r.node_id.clone(), r.key.clone()))?.map(inventory_view)))
}

fn inventory_view(r: InventoryRow) -> InventoryView {
    InventoryView {
        id: r.id.to_string(),
        node_id: r.node_id,
        key: r.key,
        item: r.payload,
        created_at: nines_core::clock::rfc3339(r.created_at),
        updated_at: nines_core::clock::rfc3339(r.updated_at),
    }
}

/// Create or update a cluster's container images in use
///
/// The images one cluster node (`nodeId`, a full
/// `organization/platform/environment/cluster` path in the key's organization)
/// runs, keyed by normalized `image` reference, with registry, repository, tag,
/// digest (`algorithm:hex`) and the namespaces using them. At most 5000 items,
/// no key twice; images not named are left alone. The answer says per item
/// whether it was created, updated or unchanged.
#[utoipa::path(put, path = "/api/v1/inventory/artifacts", tag = "inventory", request_body = ArtifactsPut,
    responses((status = 200, body = UpsertResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn put_artifacts(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ArtifactsPut>,
) -> ApiResult<Json<UpsertResult>> {
    for (i, a) in b.items.iter().enumerate() {
        check_text(&format!("items[{i}].image"), &a.image, 512)?;
        check_text(&format!("items[{i}].registry"), &a.registry, 253)?;
        check_text(&format!("items[{i}].repository"), &a.repository, 512)?;
        if a.digest.as_ref().is_some_and(|d| !d.contains(':')) {
            return Err(FieldError::invalid(format!("items[{i}].digest"), "must be algorithm:hex").into());
        }
        for (j, n) in a.used_in_namespaces.iter().enumerate() {
            check_name(&format!("items[{i}].usedInNamespaces[{j}].name"), &n.name)?;
        }
    }
    let keyed = b.items.into_iter().map(|a| (a.image.clone(), a)).collect();
    upsert(&s, &caller, InventoryKind::Artifact, &b.node_id, keyed).await
}

/// List the container images in use in clusters
///
/// The images reported for the clusters of the key's organization, each with
/// its node, key and what was reported; `nodeId` limits the list to one cluster
/// node.
#[utoipa::path(get, path = "/api/v1/inventory/artifacts", tag = "inventory", params(InventoryQuery, PageQuery),
    responses((status = 200, body = Page<InventoryView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_artifacts(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<InventoryView>>> {
    list(&s, &caller, InventoryKind::Artifact, q).await
}

/// Create or update a cluster's deployed apps
///
/// The apps (blocks) deployed in one cluster node (`nodeId`, a full path in the
/// key's organization), keyed by `namespace/name`, with their block and state
/// (`installed`, `installing`, `install_failed`, `uninstalled` or `unknown`).
/// At most 5000 items, no key twice; apps not named are left alone. The answer
/// says per item whether it was created, updated or unchanged.
#[utoipa::path(put, path = "/api/v1/inventory/apps", tag = "inventory", request_body = AppsPut,
    responses((status = 200, body = UpsertResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn put_apps(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<AppsPut>,
) -> ApiResult<Json<UpsertResult>> {
    for (i, a) in b.items.iter().enumerate() {
        check_name(&format!("items[{i}].name"), &a.name)?;
        check_name(&format!("items[{i}].namespace"), &a.namespace)?;
        check_text(&format!("items[{i}].block"), &a.block, 253)?;
        if !APP_STATES.contains(&a.state.as_str()) {
            return Err(FieldError::invalid(
                format!("items[{i}].state"),
                format!("must be one of {}, got {:?}", APP_STATES.join(", "), a.state),
            )
            .into());
        }
    }
    let keyed = b.items.into_iter().map(|a| (format!("{}/{}", a.namespace, a.name), a)).collect();
    upsert(&s, &caller, InventoryKind::App, &b.node_id, keyed).await
}

/// List the apps deployed in clusters
///
/// The apps reported for the clusters of the key's organization, each with its
/// node, key (`namespace/name`) and what was reported; `nodeId` limits the list
/// to one cluster node.
#[utoipa::path(get, path = "/api/v1/inventory/apps", tag = "inventory", params(InventoryQuery, PageQuery),
    responses((status = 200, body = Page<InventoryView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_apps(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<InventoryView>>> {
    list(&s, &caller, InventoryKind::App, q).await
}

/// Create or update a cluster's hosts (its nodes)
///
/// The Kubernetes nodes of one cluster node (`nodeId`, a full path in the key's
/// organization) as hosts, keyed by node name, with addresses, resources, roles
/// and versions; `defaultIpv4` must be an IPv4 address. At most 5000 items, no
/// key twice; hosts not named are left alone. The answer says per item whether
/// it was created, updated or unchanged.
#[utoipa::path(put, path = "/api/v1/inventory/hosts", tag = "inventory", request_body = HostsPut,
    responses((status = 200, body = UpsertResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn put_hosts(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<HostsPut>,
) -> ApiResult<Json<UpsertResult>> {
    for (i, h) in b.items.iter().enumerate() {
        check_name(&format!("items[{i}].name"), &h.name)?;
        if h.default_ipv4.as_ref().is_some_and(|ip| ip.parse::<std::net::Ipv4Addr>().is_err()) {
            return Err(FieldError::invalid(format!("items[{i}].defaultIpv4"), "must be an IPv4 address").into());
        }
        if h.resource_cpu_cores.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(
                FieldError::invalid(format!("items[{i}].resourceCpuCores"), "must be a non-negative number").into()
            );
        }
    }
    let keyed = b.items.into_iter().map(|h| (h.name.clone(), h)).collect();
    upsert(&s, &caller, InventoryKind::Host, &b.node_id, keyed).await
}

/// List the hosts of clusters
///
/// The hosts reported for the clusters of the key's organization, each with its
/// node, key (the node name) and what was reported; `nodeId` limits the list to
/// one cluster node.
#[utoipa::path(get, path = "/api/v1/inventory/hosts", tag = "inventory", params(InventoryQuery, PageQuery),
    responses((status = 200, body = Page<InventoryView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_hosts(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<InventoryView>>> {
    list(&s, &caller, InventoryKind::Host, q).await
}
