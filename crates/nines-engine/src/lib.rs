//! The engines that run behind `nines serve`, without HTTP: whatever the
//! API, the dashboard, the status page and the `nines report` command show
//! is computed here.
//!
//! - [`slo`]: availability, error budgets, burn rates and conditions, from
//!   the status timeline; the one source of every figure.
//! - [`maintenance`]: maintenance windows, their occurrences and what they
//!   cover.
//! - [`config`]: SystemConfig, the runtime settings with their defaults and
//!   validation.
//! - [`report`]: the daily SLA report (JSON and PDF) and its push.
//! - [`metrics`]: `/metrics` in the Prometheus text format.
//! - [`observability`]: log and series accounting per organization from
//!   VictoriaLogs and VictoriaMetrics.
//! - [`leadership`]: the lease that picks the replica running the singleton
//!   workers; [`workers`]: those workers (stale detection, downtimes and
//!   their timelines, SLO figures, retention).
//! - [`error`]: the classes of an engine's refusal or failure, which the
//!   HTTP layer maps to its answers.
//! - [`ingest`]: the batched writer of health reports, which acknowledges a
//!   report only once it is committed.
//! - [`probes`]: the server's own checks, agents and what becomes of every
//!   probe result; [`probe_live`]: what the probe engine keeps in memory.
//! - [`notify`]: the notification pipeline (events, routes, deliveries) and
//!   the status-page subscribers' messages.
//!
//! Not here: HTTP handlers, authentication and pages (`nines-server`),
//! storage (`nines-store`), the domain rules of one status or one service
//! (`nines-core`).

pub mod config;
pub mod error;
pub mod ingest;
pub mod leadership;
pub mod maintenance;
pub mod metrics;
pub mod notify;
pub mod observability;
pub mod probe_live;
pub mod probes;
pub mod report;
pub mod slo;
pub mod workers;

/// A label value in the Prometheus exposition format: backslash, double
/// quote and newline escaped.
pub(crate) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
