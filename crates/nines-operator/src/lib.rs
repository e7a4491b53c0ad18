//! The Kubernetes operator of nines (`nines operator ...`).
//!
//! It is a client of the nines API with an operator key and never touches
//! the database. What lives where:
//!
//! - [`crd`]: the 17 custom resources (`nines.dev/v1alpha1`) as Rust types;
//!   [`crdgen`] turns them into CRD YAML (CLI and Helm chart).
//! - [`mapping`]: pure functions from what Kubernetes shows (Ingress
//!   annotations, cert-manager and Velero objects, Pods, Nodes, meta-Secrets,
//!   EndpointSlices, workloads) to nines' model. Table-tested; no I/O.
//! - [`reconcile`]: pure decisions: given observed objects and existing CRs,
//!   what to create, patch or delete, when to add or remove finalizers, how
//!   long to back off.
//! - [`api`]: the typed client of the nines API; [`wire`]: the bodies it
//!   sends and reads, which the mappings build.
//! - [`runtime`]: what every controller runs on (the shared context,
//!   errors, settings, back-off, gating by the OperatorConfig switches,
//!   reconcile counters).
//! - [`controller`]: starting the operator (health, metrics, leader
//!   election, the OperatorConfig loop) and the Ingress/Endpoint
//!   controllers; [`discovery`]: every other discovery controller;
//!   [`tenant`] and [`tenant_kinds`]: the tenant controllers.
//! - [`cli`]: `OperatorArgs` and [`run_cli`]; [`options`]: the cluster
//!   connection and the options of `run`, which `cli` parses and
//!   `controller` runs with.
//! - [`provision`]: the clients of the systems tenants are provisioned into
//!   (Keycloak, GitLab, Harbor, Argo CD), and the cache that keeps them.
//!
//! Adding a discovery source: a config struct in `crd/config.rs`, a CR kind
//! in `crd/discovery.rs` (and in [`crdgen::all_crds`]), a mapping module with
//! its table test, a decision function in `reconcile`, then the controller.

pub mod api;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod discovery;
pub mod mapping;
pub mod options;
pub mod provision;
pub mod reconcile;
pub mod runtime;
pub mod table;
pub mod tenant;
pub mod tenant_kinds;
pub mod wire;

pub use cli::{OperatorArgs, run_cli};
