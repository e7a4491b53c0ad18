//! Wire types shared by the server, the CLI, the agent and the operator.
//!
//! Field names are camelCase, as in the SLA seed's push API. Request types
//! reject unknown fields so a typo is reported instead of silently dropped.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::clock::{Millis, parse_rfc3339};
use crate::error::{FieldError, FieldErrors};
use crate::model::{Criticality, Role, Status, StorageLevel, check_name};

/// Byte counts: JSON integers, or numbers in exponent notation as `awk`
/// prints large products (`1.07374e+11`), rounded to whole bytes.
fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = Option::<serde_json::Number>::deserialize(d)?;
    let Some(n) = v else { return Ok(None) };
    if let Some(u) = n.as_u64() {
        return Ok(Some(u));
    }
    match n.as_f64() {
        Some(f) if (0.0..1.8e19).contains(&f) => Ok(Some(f.round() as u64)),
        _ => Err(serde::de::Error::custom(format!("{n} is not a byte count (a whole number >= 0)"))),
    }
}

/// `POST /api/v1/health/report`
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthReport {
    /// Service name, unique within its node.
    pub service: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `organization/platform/environment/cluster`; without it the service
    /// lands under the flagged node `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Used when the service is created; later pushes update status only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<Criticality>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Event time (RFC 3339) so agents can deliver late; not in the future.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Who observed this status: `push` (a script or agent, the default; its
    /// silence turns the push source stale) or `operator` (the Kubernetes
    /// operator's workload sync, which reports on change and never goes
    /// stale). Each keeps its own state; the service is the worst of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ReportSource>,
}

/// The source a health report speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportSource {
    Push,
    Operator,
}

/// `POST /api/v1/backup/report`: exactly one of `service`, `slaGroup`, `namespace`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// `success` or `failed`.
    pub status: BackupStatus,
    #[serde(default, deserialize_with = "de_bytes", skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupStatus {
    Success,
    Failed,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Success => "success",
            BackupStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "success" | "succeeded" | "completed" => Some(BackupStatus::Success),
            "failed" | "failure" | "error" => Some(BackupStatus::Failed),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for BackupStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BackupStatus::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown backup status {s:?}; expected success or failed")))
    }
}

/// `POST /api/v1/storage/report`
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageReport {
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, deserialize_with = "de_bytes", skip_serializing_if = "Option::is_none")]
    pub allocated_bytes: Option<u64>,
    #[serde(default, deserialize_with = "de_bytes", skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

/// The free share a storage report stands for: `freePercent` when given,
/// else from `allocatedBytes`/`usedBytes`, else 100 % (SLA seed).
pub fn storage_free_percent(r: &StorageReport) -> Result<f64, FieldErrors> {
    let mut errs = FieldErrors::default();
    if let Some(f) = r.free_percent
        && !(f.is_finite() && (0.0..=100.0).contains(&f))
    {
        errs.push(FieldError::invalid("freePercent", format!("must be between 0 and 100, got {f}")));
    }
    match (r.allocated_bytes, r.used_bytes) {
        (Some(a), Some(u)) => {
            if a == 0 {
                errs.push(FieldError::invalid("allocatedBytes", "must be greater than 0"));
            } else if u > a {
                errs.push(FieldError::invalid("usedBytes", format!("{u} exceeds allocatedBytes {a}")));
            }
        }
        (Some(_), None) => {
            errs.push(FieldError::missing("usedBytes").with_reason("usedBytes is required with allocatedBytes"))
        }
        (None, Some(_)) => {
            errs.push(FieldError::missing("allocatedBytes").with_reason("allocatedBytes is required with usedBytes"))
        }
        (None, None) => {}
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(match (r.free_percent, r.allocated_bytes, r.used_bytes) {
        (Some(f), _, _) => f,
        (None, Some(a), Some(u)) => (a - u) as f64 * 100.0 / a as f64,
        _ => 100.0,
    })
}

impl FieldError {
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.message = reason.into();
        self
    }
}

/// Checks shared by every push: names, tags and the event time.
pub fn check_service_name(field: &str, name: &str) -> Result<(), FieldError> {
    check_name(name).map_err(|r| FieldError::invalid(field, r))
}

/// How far ahead of the server's clock an event time may be (clock skew).
pub const MAX_FUTURE_SKEW_MS: i64 = 5_000;
/// How late an event may be delivered.
pub const MAX_LATENESS_MS: i64 = 7 * 86_400_000;

/// Resolve an optional event time against `now`: absent means now; more than
/// [`MAX_FUTURE_SKEW_MS`] ahead is rejected; within the skew it is clamped to
/// now; older than [`MAX_LATENESS_MS`] is rejected.
pub fn event_time(ts: Option<&str>, now: Millis) -> Result<Millis, FieldError> {
    let at = fact_time(ts, now)?;
    if at < now - MAX_LATENESS_MS {
        let s = ts.unwrap_or_default();
        return Err(FieldError::invalid("timestamp", format!("{s} is more than 7 days old")));
    }
    Ok(at)
}

/// Resolve the time of a fact that happened elsewhere (a backup's
/// completion): absent means now, ahead of the skew is rejected, and any age
/// is accepted. The lateness limit of [`event_time`] is for status on the
/// timeline; a backup completed weeks ago is still the service's last backup,
/// and the operator meets such backups the first time it starts in a cluster.
pub fn fact_time(ts: Option<&str>, now: Millis) -> Result<Millis, FieldError> {
    let Some(s) = ts else { return Ok(now) };
    let at = parse_rfc3339(s).map_err(|r| FieldError::invalid("timestamp", r))?;
    if at > now + MAX_FUTURE_SKEW_MS {
        return Err(FieldError::invalid(
            "timestamp",
            format!("{s} is in the future (server time {})", crate::clock::rfc3339(now)),
        ));
    }
    Ok(at.min(now))
}

pub fn check_tags(tags: &[String]) -> Result<(), FieldError> {
    if tags.len() > 64 {
        return Err(FieldError::invalid("tags", format!("at most 64 tags, got {}", tags.len())));
    }
    for (i, t) in tags.iter().enumerate() {
        check_name(t).map_err(|r| FieldError::invalid(format!("tags[{i}]"), r))?;
    }
    Ok(())
}

/// Limits on free text so one report cannot bloat the database.
pub const MAX_MESSAGE_LEN: usize = 4096;

pub fn check_message(field: &str, m: Option<&str>) -> Result<(), FieldError> {
    match m {
        Some(m) if m.len() > MAX_MESSAGE_LEN => {
            Err(FieldError::invalid(field, format!("at most {MAX_MESSAGE_LEN} bytes, got {}", m.len())))
        }
        _ => Ok(()),
    }
}

/// The path of the first string (value or key) holding a NUL character, as
/// the API names fields (`results[0].message`). PostgreSQL cannot store NUL
/// in text and SQLite would keep it, so every body is refused with it
/// instead, on both backends alike.
pub fn nul_field(v: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &mut String) -> bool {
        match v {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, x)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let hit = walk(x, path);
                if !hit {
                    path.truncate(len);
                }
                hit
            }),
            serde_json::Value::Object(map) => map.iter().any(|(k, x)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.replace('\0', "\\u0000"));
                let hit = k.contains('\0') || walk(x, path);
                if !hit {
                    path.truncate(len);
                }
                hit
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(v, &mut path).then(|| if path.is_empty() { "body".to_string() } else { path })
}

/// The field error for a NUL character at `field`.
pub fn nul_error(field: String) -> FieldError {
    FieldError::invalid(field, "must not contain the NUL character (\\u0000)")
}

/// Answer to a health report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthAck {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    pub status: Status,
    /// The service was created by this report.
    pub created: bool,
    /// The report was placed before the latest one (delivered late).
    pub late: bool,
}

/// Answer to a backup report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupAck {
    pub status: String,
    /// The services whose last backup this report set.
    pub services: Vec<ServiceRef>,
    pub created: bool,
}

/// Answer to a storage report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageAck {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    pub free_percent: f64,
    pub level: StorageLevel,
    pub created: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    pub id: i64,
    pub service: String,
    pub node_id: String,
}

/// A service as the read API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub id: i64,
    pub service: String,
    pub organization: String,
    pub node_id: String,
    /// True for the `unknown` node: the push source is missing its nodeId.
    pub node_flagged: bool,
    pub status: Status,
    pub message: Option<String>,
    pub kind: String,
    pub criticality: Criticality,
    pub tier: u8,
    pub sla_group: Option<String>,
    pub tags: Vec<String>,
    pub source: String,
    pub namespace: Option<String>,
    pub display_name: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// RFC 3339 time of the latest report received.
    pub last_seen: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One transition of the status timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransitionView {
    pub at: String,
    pub from: Status,
    pub to: Status,
    pub cause: String,
    /// Why, in words: the report's message, the check's failure, or the
    /// silence that made the push source stale (`no report for 5m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDetail {
    #[serde(flatten)]
    pub service: ServiceView,
    pub backup: Option<BackupView>,
    pub storage: Option<StorageView>,
    /// The status timeline, oldest first.
    pub timeline: Vec<TransitionView>,
}

/// The answer of every list of the API: one page of items, in the list's
/// order, and where the next page starts. A client passes `nextCursor` back
/// as `cursor` until it is null; `limit` sets the page size (1 to 1,000,
/// default 100). The cursor is opaque: it names a position in the list, not
/// an offset, so items added or removed meanwhile neither repeat nor skip
/// the items that stay.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The same page with each item turned into another.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupView {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    pub sla_group: Option<String>,
    pub namespace: Option<String>,
    pub expected: bool,
    pub max_age_days: f64,
    pub schedule: Option<String>,
    pub last_backup: Option<String>,
    pub last_status: Option<String>,
    pub last_success: Option<String>,
    pub size_bytes: Option<u64>,
    pub message: Option<String>,
    /// No successful backup within maxAgeDays (counted from the last
    /// successful backup, or from registration when none ever succeeded).
    pub overdue: bool,
    /// `overdue` (above), else `failed` (the latest backup failed), else
    /// `current`; `not_required` when no backup is expected and none is overdue.
    pub state: BackupState,
}

/// The state of a service's backups, as the dashboard shows it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    Current,
    Failed,
    Overdue,
    NotRequired,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinkedService {
    pub name: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StorageView {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    pub allocated_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    /// None while no figure was ever reported or declared (level `unknown`).
    pub free_percent: Option<f64>,
    pub level: StorageLevel,
    pub storage_type: Option<String>,
    pub mount_path: Option<String>,
    pub reported_at: Option<String>,
    pub used_by: Vec<LinkedService>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlaGroupView {
    pub name: String,
    pub organization: String,
    /// `all` (every member up), `any`, or `quorum`.
    pub mode: String,
    pub members: Vec<ServiceRef>,
    /// Where the members come from (config, push, ...), merged.
    pub sources: Vec<String>,
    /// Member clusters.
    pub clusters: Vec<String>,
}

/// Status counts of a hierarchy node and everything under it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusCounts {
    pub operational: u32,
    pub degraded: u32,
    pub down: u32,
    pub maintenance: u32,
    pub unknown: u32,
    pub total: u32,
}

impl StatusCounts {
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Operational => self.operational += 1,
            Status::Degraded => self.degraded += 1,
            Status::Down => self.down += 1,
            Status::Maintenance => self.maintenance += 1,
            Status::Unknown => self.unknown += 1,
        }
        self.total += 1;
    }
    pub fn merge(&mut self, o: &StatusCounts) {
        self.operational += o.operational;
        self.degraded += o.degraded;
        self.down += o.down;
        self.maintenance += o.maintenance;
        self.unknown += o.unknown;
        self.total += o.total;
    }
}

/// A node of the hierarchy tree.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HierarchyNode {
    pub name: String,
    /// `organization`, `platform`, `environment`, `cluster`, or `unknown`.
    pub level: String,
    /// Path from the organization, e.g. `myorg/platform/prod`.
    pub path: String,
    /// Set on the `unknown` node: services pushed without a nodeId.
    pub flagged: bool,
    pub counts: StatusCounts,
    #[schema(no_recursion)]
    pub children: Vec<HierarchyNode>,
    /// Services directly under this node (clusters and `unknown` only).
    pub services: Vec<ServiceRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HierarchyTree {
    pub organizations: Vec<HierarchyNode>,
}

/// The body of every rejected request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// The offending field's path, when one field is to blame.
    pub field: Option<String>,
    /// Further problems in the same document, when there were several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// An API key as listed (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    /// None for a key that spans every organization.
    pub organization: Option<String>,
    pub role: Role,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKey {
    pub organization: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The key itself: shown once, stored only as its SHA-256.
    pub secret: String,
}

/// Answer to `POST /api/v1/services/apply`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub items: Vec<ApplyItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApplyItem {
    pub id: i64,
    pub service: String,
    pub node_id: String,
    /// `created`, `updated` or `unchanged`.
    pub action: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_characters_are_found_with_their_path() {
        use super::nul_field;
        let v = serde_json::json!({"a": "ok", "results": [{"m": "fine"}, {"m": "bad\u{0}x"}]});
        assert_eq!(nul_field(&v).as_deref(), Some("results[1].m"));
        assert_eq!(nul_field(&serde_json::json!({"ok": ["a", 1, null]})), None);
        assert_eq!(nul_field(&serde_json::json!("\u{0}")).as_deref(), Some("body"));
        assert_eq!(nul_field(&serde_json::json!({"k\u{0}": 1})).as_deref(), Some("k\\u0000"));
        assert_eq!(nul_field(&serde_json::json!({"t": {"x\u{0}y": "v"}})).as_deref(), Some("t.x\\u0000y"));
    }

    use super::*;

    #[test]
    fn event_time_rules() {
        let now = 1_700_000_000_000;
        assert_eq!(event_time(None, now).unwrap(), now);
        let past = crate::clock::rfc3339(now - 60_000);
        assert_eq!(event_time(Some(&past), now).unwrap(), now - 60_000);
        // small skew is clamped to now
        let ahead = crate::clock::rfc3339(now + 2_000);
        assert_eq!(event_time(Some(&ahead), now).unwrap(), now);
        let future = crate::clock::rfc3339(now + 60_000);
        let e = event_time(Some(&future), now).unwrap_err();
        assert_eq!(e.field, "timestamp");
        assert!(e.message.contains("in the future"));
        assert!(event_time(Some("yesterday"), now).unwrap_err().message.contains("RFC 3339"));
        let old = crate::clock::rfc3339(now - 8 * 86_400_000);
        assert!(event_time(Some(&old), now).unwrap_err().message.contains("7 days"));
    }

    #[test]
    fn a_fact_time_has_no_age_limit_but_is_not_in_the_future() {
        let now = 1_700_000_000_000;
        for days in [8, 40, 400] {
            let old = crate::clock::rfc3339(now - days * 86_400_000);
            assert_eq!(fact_time(Some(&old), now).unwrap(), now - days * 86_400_000, "{days} days old");
            // the same instant is refused as a status on the timeline
            assert!(event_time(Some(&old), now).is_err());
        }
        let future = crate::clock::rfc3339(now + 60_000);
        assert_eq!(fact_time(Some(&future), now).unwrap_err().field, "timestamp");
        assert_eq!(fact_time(None, now).unwrap(), now);
    }

    fn storage(a: Option<u64>, u: Option<u64>, f: Option<f64>) -> StorageReport {
        StorageReport {
            service: "pg".into(),
            node_id: None,
            allocated_bytes: a,
            used_bytes: u,
            free_percent: f,
            storage_type: None,
            mount_path: None,
            timestamp: None,
        }
    }

    #[test]
    fn storage_free_percent_rules() {
        assert_eq!(storage_free_percent(&storage(None, None, None)).unwrap(), 100.0);
        assert_eq!(storage_free_percent(&storage(Some(107374182400), Some(53687091200), None)).unwrap(), 50.0);
        assert_eq!(storage_free_percent(&storage(Some(100), Some(95), Some(12.5))).unwrap(), 12.5);
        let e = storage_free_percent(&storage(Some(100), Some(101), None)).unwrap_err();
        assert_eq!(e.0[0].field, "usedBytes");
        let e = storage_free_percent(&storage(Some(100), None, None)).unwrap_err();
        assert_eq!(e.0[0].field, "usedBytes");
        let e = storage_free_percent(&storage(None, None, Some(120.0))).unwrap_err();
        assert_eq!(e.0[0].field, "freePercent");
    }

    #[test]
    fn byte_counts_accept_awk_exponent_notation() {
        let r: StorageReport =
            serde_json::from_str(r#"{"service":"x","allocatedBytes":1.07374e+11,"usedBytes":5368709120}"#).unwrap();
        assert_eq!(r.allocated_bytes, Some(107_374_000_000));
        assert!(serde_json::from_str::<StorageReport>(r#"{"service":"x","allocatedBytes":-1,"usedBytes":0}"#).is_err());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let e = serde_json::from_str::<HealthReport>(r#"{"service":"a","status":"DOWN","colour":"red"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"));
    }
}
