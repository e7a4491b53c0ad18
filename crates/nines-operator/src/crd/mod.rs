//! The custom resources of nines (`nines.dev/v1alpha1`), as Rust types from
//! which the CRD YAML is generated (see [`crate::crdgen`]).
//!
//! Discovery kinds (Endpoint, Certificate, Backup, BackupSchedule, K8sApp,
//! Artifact) are written by the operator from what it observes; StatusService
//! and StatusServiceGroup are written by users; OperatorConfig is the
//! singleton `default`; the tenant kinds have their schemas here and their
//! reconcilers in a later change. Field names follow the seeds (snake_case
//! where the operator seed shows snake_case, camelCase elsewhere), so
//! manifests written for those systems need only the API group changed.
//! No logic lives here beyond small accessors.

// clippy reads repeated `printcolumn(type_ = "string", ...)` arguments of
// `#[kube(...)]` as duplicated attributes; they are separate columns.
#![allow(clippy::duplicated_attributes)]

mod config;
mod discovery;
mod tenant;

pub use config::*;
pub use discovery::*;
pub use tenant::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every nines custom resource.
pub const GROUP: &str = "nines.dev";
/// API version of every nines custom resource.
pub const VERSION: &str = "v1alpha1";
/// Label on every object the operator created from discovery.
pub const DISCOVERED_LABEL: &str = "operator.nines.dev/discovered";
/// Finalizer that deletes the matching object in the nines API.
pub const CLEANUP_FINALIZER: &str = "nines.dev/cleanup";
/// Field manager of every server-side apply the operator does.
pub const FIELD_MANAGER: &str = "nines-operator";

/// A status condition as the Kubernetes API conventions define it
/// (`type`, `status` True/False/Unknown, `reason` in CamelCase, `message`,
/// `lastTransitionTime`, `observedGeneration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    /// RFC 3339; changes only when `status` changes.
    #[serde(default)]
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A key of a Secret in the resource's namespace (camelCase form).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    pub name: String,
    pub key: String,
}
