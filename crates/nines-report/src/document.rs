//! The report document: what the daily SLA report says, as plain data.
//!
//! This is the versioned JSON contract (`schemaVersion: 1`, described in
//! `SCHEMA.md`) and the only input of the renderers. It holds results, not
//! inputs: availabilities, budgets and downtimes are computed by the SLO and
//! downtime engines and copied in; nothing here does arithmetic over
//! timelines. Instants are milliseconds since the Unix epoch in Rust and
//! RFC 3339 UTC strings in JSON; percentages are `0..=100`.

use nines_core::clock::Millis;
use nines_core::slo::Condition;
use nines_core::{Criticality, StorageLevel};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The schema version this crate writes and reads. Bump it on any change a
/// consumer could notice (renamed or removed field, changed meaning); adding
/// an optional field does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// The daily SLA report: the report day and the month to date, per organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportDocument {
    /// Always [`SCHEMA_VERSION`] when written by this crate.
    pub schema_version: u32,
    /// The reported day, a civil date in [`Period::time_zone`] (`2026-11-20`).
    pub report_date: String,
    /// The windows the figures cover.
    pub period: Period,
    /// When the report was generated.
    #[serde(with = "rfc3339")]
    pub generated_at: Millis,
    /// One entry per organization, in display order.
    pub organizations: Vec<OrganizationReport>,
}

/// The windows of a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// IANA time zone the day boundaries are drawn in (`Europe/Berlin`).
    pub time_zone: String,
    /// The report day: local midnight to the next local midnight.
    pub day: TimeSpan,
    /// From local midnight of the first of the month to the end of the report day.
    pub month_to_date: TimeSpan,
    /// Set when the report day was not over when the report was made: the
    /// day and the month to date then end here, and the figures count only
    /// time that has passed.
    #[serde(default, with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    pub partial_until: Option<Millis>,
}

/// A half-open interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeSpan {
    #[serde(with = "rfc3339")]
    pub start: Millis,
    #[serde(with = "rfc3339")]
    pub end: Millis,
}

/// A pair of figures for the report day and the month to date.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayAndMonth<T> {
    pub day: T,
    pub month_to_date: T,
}

/// Availability in percent; `None` when nothing counted in the window (no
/// data, or excluded for the whole window).
pub type Availability = DayAndMonth<Option<f64>>;

/// Everything the report says about one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationReport {
    /// The organization (first segment of `nodeId`).
    pub name: String,
    /// Availability of the organization, weighted by criticality, against its SLA.
    pub overall: OverallAvailability,
    /// SLA groups with their members.
    pub sla_groups: Vec<SlaGroupReport>,
    /// Every service with an SLA, in display order.
    pub services: Vec<ServiceReport>,
    /// Downtimes overlapping the month to date.
    pub downtimes: Vec<DowntimeReport>,
    /// Maintenance windows overlapping the month to date.
    pub maintenance_windows: Vec<MaintenanceWindowReport>,
    /// Services whose last successful backup is older than allowed, at generation time.
    pub backups_overdue: Vec<BackupOverdue>,
    /// Services with storage at the critical level, at generation time.
    pub storage_critical: Vec<StorageCritical>,
    /// Certificates that expire soon or have expired, at generation time.
    pub certificates_expiring: Vec<CertificateExpiring>,
    /// Availability of the organization per day of the month, first day first.
    pub daily_availability: Vec<DailyAvailability>,
    /// Log and series accounting as of the end of the reported day; absent
    /// when neither VictoriaLogs nor VictoriaMetrics is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilityFigures>,
}

/// Observability accounting of an organization: sums and averages over whole
/// closed UTC hours ending at `windowsEnd`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilityFigures {
    /// The end of the windows: the last closed UTC hour at generation.
    #[serde(with = "rfc3339")]
    pub windows_end: Millis,
    /// Log lines (VictoriaLogs); absent when it is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_lines: Option<Windowed>,
    /// Bytes of the log messages (`_msg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<Windowed>,
    /// Active series (VictoriaMetrics); absent when it is not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_series: Option<ActiveSeriesFigures>,
    /// Share (0..=1) of the 30-day window's hours VictoriaLogs answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs_coverage_30d: Option<f64>,
    /// Share (0..=1) of the 30-day window's 5-minute samples VictoriaMetrics answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_coverage_30d: Option<f64>,
    /// The newest error of a backend whose last run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// A sum over the last 1 h, 24 h and 30 d; `null` where nothing was covered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Windowed {
    #[serde(rename = "1h")]
    pub h1: Option<i64>,
    #[serde(rename = "24h")]
    pub h24: Option<i64>,
    #[serde(rename = "30d")]
    pub d30: Option<i64>,
}

/// Active series now and on average over the windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSeriesFigures {
    pub current: Option<i64>,
    pub avg1h: Option<f64>,
    pub avg24h: Option<f64>,
    pub avg30d: Option<f64>,
}

/// Overall availability and whether the SLA was met.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OverallAvailability {
    /// SLA target in percent.
    pub sla_target: f64,
    pub availability: Availability,
    /// `availability >= slaTarget`; `None` without data.
    pub sla_met: DayAndMonth<Option<bool>>,
}

/// An SLA group: services, possibly in several clusters, that count as one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaGroupReport {
    pub name: String,
    /// How members combine: `all`, `any` or `quorum:<k>`.
    pub mode: String,
    /// SLA target of the group in percent.
    pub sla_target: f64,
    pub availability: Availability,
    pub sla_met: DayAndMonth<Option<bool>>,
    /// Member services by id (see [`ServiceReport::id`]).
    pub members: Vec<i64>,
}

/// One service's SLA figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReport {
    pub id: i64,
    pub name: String,
    /// `organization/platform/environment/cluster`, or `unknown`.
    pub node_id: String,
    pub sla_group: Option<String>,
    /// SLA tier 1 (critical) .. 4 (low).
    pub tier: u8,
    pub criticality: Criticality,
    /// SLO target in percent.
    pub slo_target: f64,
    /// SLA target in percent.
    pub sla_target: f64,
    pub availability: Availability,
    /// Minutes that counted as bad (DOWN, and what the policy counts as bad).
    pub downtime_minutes: DayAndMonth<f64>,
    /// Error budget left of the SLO at the end of the report day.
    pub error_budget: ErrorBudgetRemaining,
    /// `SLO_WARNING`, `SLO_BREACH`, `SLA_BREACH` at the end of the report day.
    pub conditions: Vec<Condition>,
}

/// What is left of an error budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBudgetRemaining {
    /// Seconds of bad time still allowed; negative once overspent.
    pub remaining_seconds: f64,
    /// Share of the budget left, `100` untouched, `0` or below exhausted.
    pub remaining_percent: f64,
}

/// A downtime: services that went down together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeReport {
    pub id: i64,
    pub title: String,
    /// Names of the affected services.
    pub services: Vec<String>,
    #[serde(with = "rfc3339")]
    pub start: Millis,
    /// `None` while ongoing at generation time.
    #[serde(with = "rfc3339_opt")]
    pub end: Option<Millis>,
    /// `end - start`, or `generatedAt - start` while ongoing.
    pub duration_seconds: i64,
    /// Whether the downtime counts against the SLA.
    pub counts_towards_sla: bool,
    /// Why it does not count (set when `countsTowardsSla` is false).
    pub excluded_reason: Option<String>,
    /// `critical`, `major` or `minor`, from the most critical member.
    pub severity: String,
}

/// A planned maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindowReport {
    pub title: String,
    #[serde(with = "rfc3339")]
    pub start: Millis,
    #[serde(with = "rfc3339")]
    pub end: Millis,
    /// Names of the services in maintenance.
    pub services: Vec<String>,
}

/// A service whose backup is overdue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupOverdue {
    pub service: String,
    pub node_id: String,
    /// Last successful backup; `None` when none was ever reported.
    #[serde(with = "rfc3339_opt")]
    pub last_backup_at: Option<Millis>,
    /// Allowed age of the last backup in days.
    pub max_age_days: u32,
}

/// A service whose storage is at the critical level (< 10 % free).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageCritical {
    pub service: String,
    pub node_id: String,
    pub free_percent: f64,
    pub used_bytes: Option<u64>,
    pub allocated_bytes: Option<u64>,
    pub level: StorageLevel,
}

/// A certificate close to or past its expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateExpiring {
    pub service: String,
    /// Subject common name or first DNS name.
    pub subject: String,
    #[serde(with = "rfc3339")]
    pub not_after: Millis,
    /// Whole days left at generation time; negative once expired.
    pub days_remaining: i64,
}

/// Availability of one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyAvailability {
    /// Civil date in the report's time zone.
    pub date: String,
    pub availability: Option<f64>,
}

impl ReportDocument {
    /// The document as pretty-printed JSON, ending in a newline.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self).map_err(Error::Json)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Reads a document, refusing other schema versions.
    pub fn from_json(bytes: &[u8]) -> Result<ReportDocument> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Version {
            schema_version: u32,
        }
        let v: Version = serde_json::from_slice(bytes).map_err(Error::Json)?;
        if v.schema_version != SCHEMA_VERSION {
            return Err(Error::SchemaVersion(v.schema_version));
        }
        serde_json::from_slice(bytes).map_err(Error::Json)
    }
}

impl OrganizationReport {
    /// The organization's daily availability as the chart takes it.
    pub fn chart_series(&self) -> Vec<(String, Option<f64>)> {
        self.daily_availability.iter().map(|d| (d.date.clone(), d.availability)).collect()
    }
}

mod rfc3339 {
    use nines_core::clock::{Millis, parse_rfc3339, rfc3339};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

mod rfc3339_opt {
    use nines_core::clock::{Millis, parse_rfc3339, rfc3339};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_str(&rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| parse_rfc3339(&s).map_err(serde::de::Error::custom)).transpose()
    }
}
