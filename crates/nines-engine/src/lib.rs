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
//!   workers.
//!
//! Not here: HTTP handlers, authentication and pages (`nines-server`),
//! storage (`nines-store`), the domain rules of one status or one service
//! (`nines-core`).

pub mod config;
pub mod leadership;
pub mod maintenance;
pub mod metrics;
pub mod observability;
pub mod report;
pub mod slo;

/// A label value in the Prometheus exposition format: backslash, double
/// quote and newline escaped.
pub(crate) fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
