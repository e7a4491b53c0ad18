//! The bodies the operator sends to and reads from the nines API, with no
//! client: the mappings build them (`crate::mapping`), the client sends them
//! (`crate::api`, which re-exports them).

use nines_core::Status;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    pub key_id: String,
    /// `None` for a key of every organization.
    pub organization: Option<String>,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedItem {
    /// The server sends a number; kept as text like every other API id here.
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    pub service: String,
    pub node_id: String,
    pub action: String,
}

/// An id the API may send as a number or as a string.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        v => v.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub items: Vec<AppliedItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub service: String,
    pub status: Status,
    pub node_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub timestamp: String,
    /// `operator` for the workload sync (never stale); None for a push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<nines_core::wire::ReportSource>,
}

/// `POST /api/v1/certificates`: upserted by (nodeId, namespace, name).
/// Snake_case fields, as the contract (and the seed's API) has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateReport {
    #[serde(rename = "nodeId")]
    pub node_id: String,
    pub namespace: String,
    pub name: String,
    pub secret_name: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub issuer_name: String,
    pub issuer_kind: String,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub renewal_time: Option<String>,
    pub is_ready: bool,
    pub certificate_status: String,
}

/// What the API answers for an upserted object: at least its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Created {
    pub id: serde_json::Value,
}

impl Created {
    /// The id as text, whether the API sent a number or a string.
    pub fn id(&self) -> String {
        match &self.id {
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
}

/// `POST /api/v1/clusters/register`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRegistration {
    /// `organization/platform/environment`.
    pub workspace: String,
    pub cluster_name: Option<String>,
    pub api_server_url: Option<String>,
    pub kubernetes_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRegistered {
    pub id: Option<String>,
    pub registered: bool,
    #[serde(default)]
    pub created: bool,
    pub name: Option<String>,
    pub node_id: Option<String>,
}

/// One cluster of `GET /api/v1/clusters` (the key's organization's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredCluster {
    pub id: Option<String>,
    pub name: Option<String>,
    pub node_id: Option<String>,
    /// `organization/platform/environment`: one cluster each.
    pub workspace: String,
    #[serde(default)]
    pub api_server_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceUse {
    pub name: String,
    pub pod_count: i64,
}

/// One image of `PUT /api/v1/inventory/artifacts` (upserted by `image`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactItem {
    pub image: String,
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub used_in_namespaces: Vec<NamespaceUse>,
    pub total_pod_count: i64,
}

/// One app of `PUT /api/v1/inventory/apps` (upserted by namespace/name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppItem {
    pub name: String,
    pub namespace: String,
    pub block: String,
    pub version: Option<String>,
    pub state: String,
    pub last_action: Option<String>,
    pub last_action_status: Option<String>,
    pub artifacts: Vec<String>,
}

/// One host of `PUT /api/v1/inventory/hosts` (upserted by name): a cluster node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostItem {
    pub name: String,
    pub hostname: Option<String>,
    pub default_ipv4: Option<String>,
    pub resource_cpu_cores: Option<f64>,
    pub resource_memory_mb: Option<i64>,
    pub resource_cpu_architecture: Option<String>,
    pub provider_id: Option<String>,
    pub ready: bool,
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    pub os_image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsertedItem {
    pub id: String,
    pub key: String,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpsertResult {
    pub items: Vec<UpsertedItem>,
}

/// An activity: `kind` (deployment, install, uninstall, …), a message, and
/// the node and service it concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    pub kind: String,
    pub message: String,
    pub node_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub timestamp: String,
}

/// A member of a status page group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMember {
    pub node_id: String,
    pub service: String,
    pub display_name: String,
    pub description: String,
}

/// `PUT /api/v1/status-page/groups/{name}`: replaces the group's membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusPageGroup {
    pub display_name: String,
    pub description: String,
    pub services: Vec<GroupMember>,
}
