//! Kinds the operator writes from discovery (Endpoint, Certificate, Backup,
//! BackupSchedule, K8sApp, Artifact) and the user-written StatusService and
//! StatusServiceGroup. Each carries the nines API object it maps to in its
//! status, plus the hash of the spec last sent (`configHash`).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// An expected HTTP status: a code (`200` or `"200"`) or a range or class
/// as a string (`"200-299"`, `"2xx"`). Written back as an integer when it
/// is one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusCode(pub String);

impl From<&str> for StatusCode {
    fn from(s: &str) -> Self {
        StatusCode(s.to_string())
    }
}

impl Serialize for StatusCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u16>() {
            Ok(n) if n.to_string() == self.0 => s.serialize_u16(n),
            _ => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Int(u16),
            Text(String),
        }
        Ok(StatusCode(match Either::deserialize(d)? {
            Either::Int(n) => n.to_string(),
            Either::Text(t) => t,
        }))
    }
}

impl JsonSchema for StatusCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusCode".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An HTTP status code (200) or a range or class as a string (\"200-299\", \"2xx\").",
            "x-kubernetes-int-or-string": true,
        })
    }
}

/// One HTTP endpoint per Ingress host, checked by nines.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Endpoint",
    namespaced,
    status = "EndpointStatus",
    shortname = "ep",
    shortname = "pep",
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.remoteAddress"),
    printcolumn(name = "Path", type_ = "string", json_path = ".spec.path"),
    printcolumn(name = "TLS", type_ = "boolean", json_path = ".spec.tls"),
    printcolumn(name = "Interval", type_ = "integer", json_path = ".spec.interval"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSpec {
    pub display_name: String,
    /// The Ingress host.
    pub remote_address: String,
    pub remote_port: u16,
    /// Always `http` for Ingress discovery.
    pub kind: String,
    pub tls: bool,
    pub path: String,
    /// Seconds.
    pub timeout: u32,
    /// Seconds.
    pub interval: u32,
    /// Codes or ranges, e.g. `[200]`, `["200-299"]`, `[200, 301]`.
    pub expected_status_codes: Vec<StatusCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_body: Option<String>,
    /// Name of the Ingress this endpoint was discovered from.
    #[serde(default)]
    pub source_ingress: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointStatus {
    /// `pending`, `synced` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Id of the service in the nines API.
    #[serde(default, rename = "apiID", skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// `nodeId` and service name the API object lives under (what the finalizer deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
}

/// A TLS certificate mirrored from cert-manager.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Certificate",
    namespaced,
    status = "CertificateStatus",
    shortname = "cert",
    shortname = "pcert",
    printcolumn(name = "Issuer", type_ = "string", json_path = ".spec.issuer_name"),
    printcolumn(name = "Ready", type_ = "boolean", json_path = ".spec.is_ready"),
    printcolumn(name = "Status", type_ = "string", json_path = ".spec.certificate_status"),
    printcolumn(name = "NotAfter", type_ = "string", json_path = ".spec.not_after"),
    printcolumn(name = "Sync", type_ = "string", json_path = ".status.sync_status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct CertificateSpec {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    pub namespace: String,
    #[serde(default)]
    pub secret_name: String,
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(default)]
    pub issuer_name: String,
    #[serde(default)]
    pub issuer_kind: String,
    #[serde(default)]
    pub issuer_group: String,
    /// `ready`, `pending`, `failed`, `expired` or `expiring_soon`.
    pub certificate_status: String,
    pub is_ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<String>,
    /// The reason cert-manager gave, when not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub source_cert_manager: SourceRef,
}

/// The object a discovered CR mirrors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SourceRef {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
}

/// Sync state shared by the snake_case discovery kinds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CertificateStatus {
    /// `Pending`, `Synced` or `Error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `synced`, `pending` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
}

/// One Velero backup.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Backup",
    namespaced,
    status = "SyncStatus",
    shortname = "backup",
    printcolumn(name = "Status", type_ = "string", json_path = ".spec.status"),
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule_name"),
    printcolumn(name = "Completed", type_ = "string", json_path = ".spec.completed_at"),
    printcolumn(name = "Items", type_ = "integer", json_path = ".spec.items_backed_up"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct BackupSpec {
    pub name: String,
    /// `new`, `in_progress`, `completed`, `partially_failed`, `failed`, `deleting` or `unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_backed_up: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_name: Option<String>,
    /// Namespaces the backup covers; `*` means all.
    #[serde(default)]
    pub included_namespaces: Vec<String>,
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<i64>,
    /// The Velero Backup mirrored (empty for a CloudNativePG one).
    #[serde(default)]
    pub source_velero: SourceRef,
    /// The CloudNativePG Backup mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cnpg: Option<CnpgSource>,
}

/// A CloudNativePG object and the PostgreSQL cluster it backs up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct CnpgSource {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    /// The CNPG `Cluster`.
    pub cluster: String,
    /// `barmanObjectStore`, `volumeSnapshot` or `plugin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// Sync state of Backup, BackupSchedule, K8sApp (snake_case like the seed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct SyncStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
    /// Services the last report went to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_services: Vec<String>,
}

/// One Velero schedule.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "BackupSchedule",
    namespaced,
    status = "SyncStatus",
    shortname = "bs",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule_cron"),
    printcolumn(name = "Paused", type_ = "boolean", json_path = ".spec.paused"),
    printcolumn(name = "LastBackup", type_ = "string", json_path = ".spec.last_backup_at"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct BackupScheduleSpec {
    pub name: String,
    pub schedule_cron: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    #[serde(default)]
    pub included_namespaces: Vec<String>,
    /// The Velero Schedule mirrored (empty for a CloudNativePG one).
    #[serde(default)]
    pub source_velero: SourceRef,
    /// The CloudNativePG ScheduledBackup mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cnpg: Option<CnpgSource>,
}

/// A deployed block, from its meta-Secret.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "K8sApp",
    namespaced,
    status = "K8sAppStatus",
    shortname = "app",
    shortname = "pca",
    printcolumn(name = "Block", type_ = "string", json_path = ".spec.block.name"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.block.version"),
    printcolumn(name = "Artifacts", type_ = "integer", json_path = ".status.artifact_count"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct K8sAppSpec {
    pub block: BlockInfo,
    #[serde(default)]
    pub workspace: WorkspaceInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionInfo>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct BlockInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    /// The Helm chart the block installs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartInfo>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ChartInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct WorkspaceInfo {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub organization: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ActionInfo {
    pub name: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_executed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct K8sAppStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `installed`, `installing`, `install_failed`, `uninstalled` or `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default)]
    pub installed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<AppArtifact>,
    #[serde(default)]
    pub artifact_count: i64,
    /// Id of the app in the nines API (its inventory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    /// The last action reported to nines as an activity (`name/status/when`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AppArtifact {
    pub name: String,
    pub image: String,
    #[serde(default)]
    pub pod_count: i64,
}

/// A container image running in the cluster (cluster-scoped).
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Artifact",
    status = "ArtifactStatus",
    shortname = "art",
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.image"),
    printcolumn(name = "Pods", type_ = "integer", json_path = ".status.total_pod_count"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct ArtifactSpec {
    /// The normalized reference, e.g. `docker.io/library/nginx:1.25`.
    pub image: String,
    pub registry: RegistryInfo,
    pub repository: RepositoryInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct RegistryInfo {
    pub hostname: String,
    pub port: u16,
    pub scheme: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct RepositoryInfo {
    /// e.g. `library/nginx`.
    pub path: String,
    /// Last segment, e.g. `nginx`.
    pub name: String,
    /// Everything before the last segment, e.g. `library`.
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ArtifactStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub used_in_namespaces: Vec<NamespaceUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_discovered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
    #[serde(default)]
    pub total_pod_count: i64,
    /// The K8sApps of the namespaces that run the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by_k8sapps: Vec<AppRef>,
    /// Id of the artifact in the nines API (its inventory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
}

/// A K8sApp that uses an image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct AppRef {
    pub name: String,
    pub namespace: String,
    /// The app's id in the nines API, once synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_app_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceUsage {
    pub name: String,
    pub pod_count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<String>,
}

/// A Service whose ready endpoints nines follows (status-service seed).
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "StatusService",
    namespaced,
    status = "StatusServiceStatus",
    shortname = "ssvc",
    printcolumn(name = "Service", type_ = "string", json_path = ".spec.serviceName"),
    printcolumn(name = "Group", type_ = "string", json_path = ".spec.group"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyEndpoints"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StatusServiceSpec {
    /// A Service in the same namespace.
    pub service_name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub display_description: String,
    /// Name of a StatusServiceGroup; `Default` when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusServiceStatus {
    /// `ok`, `warning` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub ready_endpoints: i64,
    /// Since when no endpoint has been ready (RFC 3339).
    // null when unset (not skipped), so that a status merge patch clears it on recovery
    #[serde(default)]
    pub not_ready_since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reported_at: Option<String>,
}

/// A group of StatusServices on the status page.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "StatusServiceGroup",
    namespaced,
    status = "StatusServiceGroupStatus",
    shortname = "ssg",
    printcolumn(name = "Display", type_ = "string", json_path = ".spec.displayName"),
    printcolumn(name = "Members", type_ = "integer", json_path = ".status.members"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StatusServiceGroupSpec {
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub display_description: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusServiceGroupStatus {
    #[serde(default)]
    pub members: i64,
    /// Worst state of the members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub member_states: BTreeMap<String, String>,
}
