//! `OperatorConfig`: the singleton `default` that switches discovery on and
//! off, filters namespaces and says how to reach the nines API. Snake_case
//! field names, as in the operator seed.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// The only OperatorConfig the operator reads.
pub const OPERATOR_CONFIG_NAME: &str = "default";

fn yes() -> bool {
    true
}
fn default_check_interval() -> u32 {
    60
}
fn default_token_key() -> String {
    "token".into()
}
fn default_velero_namespace() -> String {
    "velero".into()
}
fn default_stale_hours() -> u32 {
    1
}
fn default_workload_interval() -> u32 {
    30
}

/// Operator-wide configuration: discovery switches, API sync, local cluster.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "OperatorConfig",
    namespaced,
    status = "OperatorConfigStatus",
    shortname = "oc",
    shortname = "opcfg",
    printcolumn(name = "API", type_ = "string", json_path = ".spec.api_sync.api_url"),
    printcolumn(name = "Organization", type_ = "string", json_path = ".status.api_sync.organization_name"),
    printcolumn(name = "Cluster", type_ = "string", json_path = ".status.local_cluster.node_id"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct OperatorConfigSpec {
    /// Where the nines API is and which operator key to use.
    #[serde(default)]
    pub api_sync: ApiSyncConfig,
    /// Where this cluster sits in the hierarchy; the organization comes from
    /// the key unless given here.
    #[serde(default)]
    pub hierarchy: HierarchyConfig,
    /// Register the cluster the operator runs in.
    #[serde(default)]
    pub local_cluster: LocalClusterConfig,
    /// Ingress → Endpoint.
    #[serde(default)]
    pub endpoint_discovery: EndpointDiscoveryConfig,
    /// Meta-Secrets → K8sApp.
    #[serde(default)]
    pub app_discovery: NamespacedDiscoveryConfig,
    /// Nodes → host inventory.
    #[serde(default)]
    pub node_discovery: NodeDiscoveryConfig,
    /// Velero → Backup, BackupSchedule.
    #[serde(default)]
    pub backup_discovery: BackupDiscoveryConfig,
    /// cert-manager → Certificate.
    #[serde(default)]
    pub certificate_discovery: CertificateDiscoveryConfig,
    /// Pods → Artifact.
    #[serde(default)]
    pub artifact_discovery: ArtifactDiscoveryConfig,
    /// ConfigMaps with `it-ops.yaml` → services, and workload readiness.
    #[serde(default)]
    pub service_discovery: ServiceDiscoveryConfig,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApiSyncConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Base URL of `nines serve`, e.g. `https://nines.example.com`.
    #[serde(default)]
    pub api_url: String,
    #[serde(default)]
    pub credentials_ref: Option<CredentialsRef>,
}

/// The Secret holding the operator key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CredentialsRef {
    pub secret_name: String,
    /// Key in the Secret (default `token`).
    #[serde(default = "default_token_key")]
    pub token_key: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct HierarchyConfig {
    /// Overrides the organization the key resolves to (needed for a key of every organization).
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    /// Default: `local_cluster.cluster_name`.
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct LocalClusterConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Used only when the API has no cluster for this node yet.
    #[serde(default)]
    pub cluster_name: Option<String>,
}

/// Discovery switch plus namespace filter; `ignore_namespaces` wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamespacedDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Empty: every namespace.
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
}

impl Default for NamespacedDiscoveryConfig {
    fn default() -> Self {
        Self { enabled: true, watch_namespaces: Vec::new(), ignore_namespaces: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
    /// Empty: every ingress class.
    #[serde(default)]
    pub ingress_classes: Vec<String>,
    /// Seconds between checks when the Ingress has no `interval` annotation.
    #[serde(default = "default_check_interval")]
    pub default_check_interval: u32,
}

impl Default for EndpointDiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            watch_namespaces: Vec::new(),
            ignore_namespaces: Vec::new(),
            ingress_classes: Vec::new(),
            default_check_interval: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub label_selector: String,
}

impl Default for NodeDiscoveryConfig {
    fn default() -> Self {
        Self { enabled: true, label_selector: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BackupDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_velero_namespace")]
    pub velero_namespace: String,
    /// CloudNativePG `Backup`s and `ScheduledBackup`s (postgresql.cnpg.io/v1)
    /// in the watched namespaces, once their CRDs are installed.
    #[serde(default = "yes")]
    pub cnpg_enabled: bool,
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
}

impl Default for BackupDiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            velero_namespace: default_velero_namespace(),
            cnpg_enabled: true,
            watch_namespaces: Vec::new(),
            ignore_namespaces: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct IssuerFilter {
    /// Empty: every issuer.
    #[serde(default)]
    pub include_issuers: Vec<String>,
    /// Wins over `include_issuers`.
    #[serde(default)]
    pub exclude_issuers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CertificateDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
    #[serde(default)]
    pub issuer_filter: IssuerFilter,
}

impl Default for CertificateDiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            watch_namespaces: Vec::new(),
            ignore_namespaces: Vec::new(),
            issuer_filter: IssuerFilter::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactCleanupConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Hours without a pod before an Artifact CR is removed (the API object is kept).
    #[serde(default = "default_stale_hours")]
    pub stale_threshold_hours: u32,
}

impl Default for ArtifactCleanupConfig {
    fn default() -> Self {
        Self { enabled: true, stale_threshold_hours: 1 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
    /// Registries whose images are not tracked, e.g. `registry.k8s.io`.
    #[serde(default)]
    pub exclude_registries: Vec<String>,
    #[serde(default)]
    pub cleanup: ArtifactCleanupConfig,
    #[serde(default = "yes")]
    pub sync_to_api: bool,
}

impl Default for ArtifactDiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            watch_namespaces: Vec::new(),
            ignore_namespaces: Vec::new(),
            exclude_registries: Vec::new(),
            cleanup: ArtifactCleanupConfig::default(),
            sync_to_api: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceDiscoveryConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub watch_namespaces: Vec<String>,
    #[serde(default)]
    pub ignore_namespaces: Vec<String>,
    /// Seconds between two workload readiness reports (default 30).
    #[serde(default = "default_workload_interval")]
    pub report_interval_seconds: u32,
}

impl Default for ServiceDiscoveryConfig {
    fn default() -> Self {
        Self { enabled: true, watch_namespaces: Vec::new(), ignore_namespaces: Vec::new(), report_interval_seconds: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OperatorConfigStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_sync: Option<ApiSyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_cluster: Option<LocalClusterStatus>,
}

/// What the operator key resolved to (seed: auto workspace resolution).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ApiSyncStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// The hierarchy node (`org/platform/env/cluster`) the operator writes under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct LocalClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// False when the API already knew the cluster.
    #[serde(default)]
    pub created: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
}
