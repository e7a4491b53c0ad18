//! Tenant kinds (operator seed): SoftwareDeliveryPlatform, Organization,
//! Contact, ContactGroup, GitLabGroup, HarborProject, ArgoCDProject and
//! K8sCluster. Their controllers live in [`crate::tenant`]. camelCase, as
//! in the seed.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;

/// Status every tenant kind shares (seed: "Status-Updates").
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// `Provisioning`, `Ready`, `Error` or `Deleting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, rename = "keycloakGroupID", skip_serializing_if = "Option::is_none")]
    pub keycloak_group_id: Option<String>,
    #[serde(default, rename = "gitlabGroupID", skip_serializing_if = "Option::is_none")]
    pub gitlab_group_id: Option<i64>,
    #[serde(default, rename = "harborProjectID", skip_serializing_if = "Option::is_none")]
    pub harbor_project_id: Option<i64>,
    #[serde(default, rename = "argoCDProjectCreated", skip_serializing_if = "Option::is_none")]
    pub argocd_project_created: Option<bool>,
    /// What exists in each system, per platform, with its id, whether
    /// nines created it (and so may delete it), and why not where it does
    /// not exist. Always written, so that an emptied list clears.
    #[serde(default)]
    pub resources: Vec<ProvisionedResource>,
}

/// One thing nines provisioned, adopted or failed to provision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedResource {
    /// `Keycloak`, `GitLab`, `Harbor`, `ArgoCD`, or `Nines` (a K8sCluster
    /// registered with nines' API).
    pub system: String,
    /// The SoftwareDeliveryPlatform it lives in (empty for `Nines`).
    pub sdp: String,
    /// `group`, `subgroup`, `membership`, `member`, `binding` (an Argo CD
    /// project role's group: `role:group`), `project`, `cluster`.
    pub kind: String,
    /// Its name or path in the system.
    pub name: String,
    /// Its id in the system, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// nines created it (it deletes only what it created); false when it
    /// existed before and was adopted.
    #[serde(default)]
    pub created: bool,
    /// `Present`, `Failed`, `MarkedForDeletion`, `Deleting`, or `Skipped`
    /// (not provisioned on purpose; `message` says why).
    pub state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What deleting the custom resource does to what it provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete what nines created (never what it adopted).
    #[default]
    Delete,
    /// Leave everything in place.
    Orphan,
}

/// Credentials of one connected system, each key naming a Secret entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSecretRef {
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemConnection {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    pub credentials_ref: CredentialsSecretRef,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ArgoRolePolicies {
    #[serde(default)]
    pub policies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgoConnection {
    pub url: String,
    pub credentials_ref: CredentialsSecretRef,
    #[serde(default)]
    pub roles: BTreeMap<String, ArgoRolePolicies>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformSettings {
    #[serde(default)]
    pub auto_create_role_subgroups: bool,
    #[serde(default)]
    pub default_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subgroup_name_pattern: Option<String>,
}

/// The platform's components: Keycloak, GitLab, Harbor, ArgoCD.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "SoftwareDeliveryPlatform",
    namespaced,
    status = "TenantStatus",
    shortname = "sdp",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Keycloak",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"KeycloakReady\")].status"
    ),
    printcolumn(
        name = "GitLab",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"GitLabReady\")].status"
    ),
    printcolumn(
        name = "Harbor",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"HarborReady\")].status"
    ),
    printcolumn(
        name = "ArgoCD",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"ArgoCDReady\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareDeliveryPlatformSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<SystemConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<SystemConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor: Option<SystemConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<ArgoConnection>,
    #[serde(default)]
    pub settings: PlatformSettings,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakGroupSpec {
    pub group_name: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgGitLab {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgHarbor {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_quota: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgoRoleBinding {
    pub role: String,
    #[serde(default)]
    pub keycloak_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgArgoCd {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default)]
    pub source_repos: Vec<String>,
    #[serde(default)]
    pub role_bindings: Vec<ArgoRoleBinding>,
}

/// One organization across Keycloak, GitLab, Harbor and ArgoCD.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Organization",
    namespaced,
    status = "TenantStatus",
    shortname = "org",
    printcolumn(name = "SDP", type_ = "string", json_path = ".spec.sdp"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Keycloak Group", type_ = "string", json_path = ".status.keycloakGroupID"),
    printcolumn(name = "GitLab Group", type_ = "integer", json_path = ".status.gitlabGroupID"),
    printcolumn(name = "Harbor Project", type_ = "integer", json_path = ".status.harborProjectID"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSpec {
    pub sdp: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<KeycloakGroupSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitlab: Option<OrgGitLab>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor: Option<OrgHarbor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<OrgArgoCd>,
    /// `Delete` (default): deleting this resource deletes what nines
    /// created for it; `Orphan`: leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct KeycloakUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OrgMembership {
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalGroup {
    pub contact_group: String,
}

/// A Keycloak user mapped to organizations and groups.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "Contact",
    namespaced,
    status = "TenantStatus",
    shortname = "ct",
    printcolumn(name = "User", type_ = "string", json_path = ".spec.keycloak.username"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ContactSpec {
    pub keycloak: KeycloakUser,
    #[serde(default)]
    pub organizations: Vec<OrgMembership>,
    #[serde(default)]
    pub additional_groups: Vec<AdditionalGroup>,
}

/// A Keycloak group as identity source, in one or more platforms.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "ContactGroup",
    namespaced,
    status = "TenantStatus",
    shortname = "cg",
    printcolumn(name = "Group", type_ = "string", json_path = ".spec.keycloak.groupName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ContactGroupSpec {
    #[serde(default)]
    pub sdp: Vec<String>,
    pub keycloak: KeycloakGroupSpec,
    /// `Delete` (default): deleting this resource deletes what nines
    /// created for it; `Orphan`: leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupAccess {
    pub keycloak_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationAccess {
    pub organization: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// A standalone GitLab group.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "GitLabGroup",
    namespaced,
    status = "TenantStatus",
    shortname = "glg",
    printcolumn(name = "Path", type_ = "string", json_path = ".spec.groupPath"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct GitLabGroupSpec {
    #[serde(default)]
    pub sdp: Vec<String>,
    pub group_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    #[serde(default)]
    pub access_control: Vec<GroupAccess>,
    #[serde(default)]
    pub organization_access: Vec<OrganizationAccess>,
    /// `Delete` (default): deleting this resource deletes what nines
    /// created for it; `Orphan`: leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// A standalone Harbor project.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "HarborProject",
    namespaced,
    status = "TenantStatus",
    shortname = "hp",
    printcolumn(name = "Project", type_ = "string", json_path = ".spec.projectName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct HarborProjectSpec {
    #[serde(default)]
    pub sdp: Vec<String>,
    pub project_name: String,
    #[serde(default)]
    pub public: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_quota: Option<String>,
    #[serde(default)]
    pub access_control: Vec<GroupAccess>,
    #[serde(default)]
    pub organization_access: Vec<OrganizationAccess>,
    /// `Delete` (default): deleting this resource deletes what nines
    /// created for it; `Orphan`: leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgoDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<String>,
    pub namespace: String,
}

/// A standalone ArgoCD project.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "ArgoCDProject",
    namespaced,
    status = "TenantStatus",
    shortname = "acp",
    printcolumn(name = "Project", type_ = "string", json_path = ".spec.projectName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ArgoCDProjectSpec {
    #[serde(default)]
    pub sdp: Vec<String>,
    pub project_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub source_repos: Vec<String>,
    #[serde(default)]
    pub destinations: Vec<ArgoDestination>,
    #[serde(default)]
    pub access_control: Vec<GroupAccess>,
    /// `Delete` (default): deleting this resource deletes what nines
    /// created for it; `Orphan`: leaves it in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRefByName {
    pub secret_ref: super::SecretKeyRef,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAuthentication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_token: Option<SecretKeyRefByName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<SecretKeyRefByName>,
}

/// An external Kubernetes cluster.
#[derive(CustomResource, Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "nines.dev",
    version = "v1alpha1",
    kind = "K8sCluster",
    namespaced,
    status = "TenantStatus",
    shortname = "k8sc",
    printcolumn(name = "API Server", type_ = "string", json_path = ".spec.apiServer"),
    printcolumn(name = "Workspace", type_ = "string", json_path = ".spec.workspace"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct K8sClusterSpec {
    /// The platform whose Argo CD the cluster is registered in (when it
    /// names one). Empty: no Argo CD registration.
    #[serde(default)]
    pub sdp: String,
    /// The nines workspace (`organization/platform/environment`) the
    /// cluster is registered in through nines' API, as the cluster named
    /// like this object (its node is `<workspace>/<name>`). A workspace has
    /// one cluster, so it must not be the operator's own. Unset: not
    /// registered with nines (`status.resources` says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default)]
    pub display_name: String,
    pub api_server: String,
    #[serde(default)]
    pub authentication: ClusterAuthentication,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}
