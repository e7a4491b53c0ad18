//! The notification events: plain data, everything a message needs and
//! nothing a channel would have to look up. The downtime engine, the
//! certificate/backup/storage watchers, the agent silence check and the SLO
//! engine build them; the
//! renderer turns them into text; routing reads their organization,
//! criticality and tags. No I/O here.

use std::collections::BTreeSet;

use nines_core::Criticality;
use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::BurnRates;
use serde::{Deserialize, Serialize};

/// How loud an event is. Alertmanager's conventional `severity` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A service as a message shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    /// The service's id in nines; the link is `{baseUrl}/ui/services/{id}`.
    pub id: String,
    pub name: String,
    /// `organization/platform/environment/cluster` or `unknown`.
    pub node_id: String,
    pub status: Status,
    #[serde(default)]
    pub criticality: Criticality,
    #[serde(default)]
    pub tags: Vec<String>,
    /// An absolute link that replaces the one built from the base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why its status is what it is: the reason of its latest change on the
    /// timeline (a report's message, a check's failure, a stale push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A downtime: the services that went down together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Downtime {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    pub organization: String,
    pub services: Vec<ServiceRef>,
    pub started_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Millis>,
    /// How long it lasted (resolved) or has lasted so far (opened, updated),
    /// in milliseconds. When absent, `resolvedAt - startedAt` if resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    pub counts_towards_sla: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_reason: Option<String>,
    /// An absolute link that replaces `{baseUrl}/ui/downtimes/{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The severity word the downtime itself shows (`critical`, `major`,
    /// `minor`); `severity` is its place on the routing scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_label: Option<String>,
}

impl Downtime {
    /// The word a message shows: the downtime's own, else the routing scale's.
    pub fn severity_word(&self) -> &str {
        self.severity_label.as_deref().unwrap_or(self.severity.as_str())
    }

    pub fn duration_ms(&self) -> Option<i64> {
        self.duration_ms.or_else(|| self.resolved_at.map(|r| r - self.started_at)).filter(|d| *d >= 0)
    }
}

/// A certificate close to or past its expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    pub organization: String,
    pub service: ServiceRef,
    /// The subject's common name or first DNS name.
    pub subject: String,
    pub not_after: Millis,
    /// When it was observed; the days left are counted from here.
    pub at: Millis,
    /// When the condition ended (renewed, caught up, freed): the event is
    /// then its resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}

/// A backup that did not arrive in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub organization: String,
    pub service: ServiceRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_backup_at: Option<Millis>,
    /// The expected interval between backups.
    pub expected_every_seconds: u64,
    pub at: Millis,
    /// When the condition ended (renewed, caught up, freed): the event is
    /// then its resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}

/// Storage below the critical free share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    pub organization: String,
    pub service: ServiceRef,
    pub used_bytes: u64,
    pub total_bytes: u64,
    pub free_percent: f64,
    pub at: Millis,
    /// When the condition ended (renewed, caught up, freed): the event is
    /// then its resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}

/// A remote agent that went silent (or, with `cleared_at`, came back). While
/// it is silent the checks it runs are UNKNOWN at its location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub organization: String,
    /// Where the agent probes from (`nines agent --location`).
    pub location: String,
    /// The version it last sent, if it ever sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When it was last heard from.
    pub last_seen: Millis,
    /// The silence that makes it silent: three intervals of its slowest
    /// check, at least a minute.
    pub silent_after_seconds: u64,
    /// How many checks it runs (of this organization).
    pub checks: u64,
    /// The services whose checks it runs.
    #[serde(default)]
    pub services: Vec<ServiceRef>,
    pub at: Millis,
    /// When it was heard from again: the event is then its resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Millis>,
}

/// Which multi-window burn-rate alert: page (fast burn) or ticket (slow burn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BurnSeverity {
    Page,
    Ticket,
}

impl BurnSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            BurnSeverity::Page => "page",
            BurnSeverity::Ticket => "ticket",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Raised,
    Cleared,
}

/// A burn-rate alert raised or cleared by the SLO engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    pub organization: String,
    pub service: ServiceRef,
    pub severity: BurnSeverity,
    pub state: AlertState,
    pub burn_rates: BurnRates,
    pub slo_target_percent: f64,
    pub at: Millis,
}

/// Every event nines notifies about. Serialized with its kind in `kind`
/// (`downtime_opened`, …): that is what the webhook channel posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    DowntimeOpened(Downtime),
    DowntimeUpdated(Downtime),
    DowntimeResolved(Downtime),
    CertificateExpiring(Certificate),
    CertificateExpired(Certificate),
    BackupOverdue(Backup),
    StorageCritical(Storage),
    SloBurnRate(BurnRate),
    AgentSilent(Agent),
}

/// The kinds of [`Event`], for route rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    DowntimeOpened,
    DowntimeUpdated,
    DowntimeResolved,
    CertificateExpiring,
    CertificateExpired,
    BackupOverdue,
    StorageCritical,
    SloBurnRate,
    AgentSilent,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DowntimeOpened => "downtime_opened",
            EventKind::DowntimeUpdated => "downtime_updated",
            EventKind::DowntimeResolved => "downtime_resolved",
            EventKind::CertificateExpiring => "certificate_expiring",
            EventKind::CertificateExpired => "certificate_expired",
            EventKind::BackupOverdue => "backup_overdue",
            EventKind::StorageCritical => "storage_critical",
            EventKind::SloBurnRate => "slo_burn_rate",
            EventKind::AgentSilent => "agent_silent",
        }
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::DowntimeOpened(_) => EventKind::DowntimeOpened,
            Event::DowntimeUpdated(_) => EventKind::DowntimeUpdated,
            Event::DowntimeResolved(_) => EventKind::DowntimeResolved,
            Event::CertificateExpiring(_) => EventKind::CertificateExpiring,
            Event::CertificateExpired(_) => EventKind::CertificateExpired,
            Event::BackupOverdue(_) => EventKind::BackupOverdue,
            Event::StorageCritical(_) => EventKind::StorageCritical,
            Event::SloBurnRate(_) => EventKind::SloBurnRate,
            Event::AgentSilent(_) => EventKind::AgentSilent,
        }
    }

    pub fn organization(&self) -> &str {
        match self {
            Event::DowntimeOpened(d) | Event::DowntimeUpdated(d) | Event::DowntimeResolved(d) => &d.organization,
            Event::CertificateExpiring(c) | Event::CertificateExpired(c) => &c.organization,
            Event::BackupOverdue(b) => &b.organization,
            Event::StorageCritical(s) => &s.organization,
            Event::SloBurnRate(b) => &b.organization,
            Event::AgentSilent(a) => &a.organization,
        }
    }

    /// The services the event is about.
    pub fn services(&self) -> &[ServiceRef] {
        match self {
            Event::DowntimeOpened(d) | Event::DowntimeUpdated(d) | Event::DowntimeResolved(d) => &d.services,
            Event::CertificateExpiring(c) | Event::CertificateExpired(c) => std::slice::from_ref(&c.service),
            Event::BackupOverdue(b) => std::slice::from_ref(&b.service),
            Event::StorageCritical(s) => std::slice::from_ref(&s.service),
            Event::SloBurnRate(b) => std::slice::from_ref(&b.service),
            Event::AgentSilent(a) => &a.services,
        }
    }

    /// The most critical criticality among the services (a downtime that
    /// takes down one critical service is critical); `None` without services.
    pub fn criticality(&self) -> Option<Criticality> {
        self.services().iter().map(|s| s.criticality).min_by_key(|c| c.tier())
    }

    /// The union of the services' tags.
    pub fn tags(&self) -> BTreeSet<&str> {
        self.services().iter().flat_map(|s| s.tags.iter().map(String::as_str)).collect()
    }

    /// The severity a channel such as Alertmanager labels the event with.
    pub fn severity(&self) -> Severity {
        match self {
            Event::DowntimeOpened(d) | Event::DowntimeUpdated(d) | Event::DowntimeResolved(d) => d.severity,
            Event::CertificateExpiring(_) | Event::BackupOverdue(_) | Event::AgentSilent(_) => Severity::Warning,
            Event::CertificateExpired(_) | Event::StorageCritical(_) => Severity::Critical,
            Event::SloBurnRate(b) => match b.severity {
                BurnSeverity::Page => Severity::Critical,
                BurnSeverity::Ticket => Severity::Warning,
            },
        }
    }

    /// Whether the event ends the condition it reports (resolved downtime,
    /// cleared burn-rate alert, renewed certificate, backup caught up,
    /// storage freed, agent back).
    pub fn is_resolution(&self) -> bool {
        self.cleared_at().is_some()
    }

    /// When the condition ended, for a resolution.
    pub fn cleared_at(&self) -> Option<Millis> {
        match self {
            Event::DowntimeResolved(d) => Some(d.resolved_at.unwrap_or(d.started_at)),
            Event::SloBurnRate(b) => (b.state == AlertState::Cleared).then_some(b.at),
            Event::CertificateExpiring(c) | Event::CertificateExpired(c) => c.cleared_at,
            Event::BackupOverdue(b) => b.cleared_at,
            Event::StorageCritical(s) => s.cleared_at,
            Event::AgentSilent(a) => a.cleared_at,
            Event::DowntimeOpened(_) | Event::DowntimeUpdated(_) => None,
        }
    }
}
