//! The domain model: status, criticality, source, hierarchy path, storage level.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

use crate::error::FieldError;

/// The status of a service at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Operational,
    Degraded,
    Down,
    Maintenance,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Operational, Status::Degraded, Status::Down, Status::Maintenance, Status::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Operational => "OPERATIONAL",
            Status::Degraded => "DEGRADED",
            Status::Down => "DOWN",
            Status::Maintenance => "MAINTENANCE",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl Status {
    /// How bad a status is when several sources speak for one service: DOWN
    /// over DEGRADED over UNKNOWN over MAINTENANCE over OPERATIONAL.
    pub fn severity(self) -> u8 {
        match self {
            Status::Down => 4,
            Status::Degraded => 3,
            Status::Unknown => 2,
            Status::Maintenance => 1,
            Status::Operational => 0,
        }
    }

    /// The worse of two statuses by [`Status::severity`].
    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() { other } else { self }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    /// Case-insensitive: cron scripts written by hand send `down` as often as `DOWN`.
    fn from_str(s: &str) -> Result<Self, String> {
        Status::ALL.into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            format!("unknown status {s:?}; expected one of OPERATIONAL, DEGRADED, DOWN, MAINTENANCE, UNKNOWN")
        })
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How much a service matters; maps to the SLA tiers 1..4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Critical,
    High,
    #[default]
    Medium,
    Low,
}

impl Criticality {
    pub const ALL: [Criticality; 4] = [Criticality::Critical, Criticality::High, Criticality::Medium, Criticality::Low];
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Critical => "critical",
            Criticality::High => "high",
            Criticality::Medium => "medium",
            Criticality::Low => "low",
        }
    }
    /// The SLA tier: critical = 1 … low = 4.
    pub fn tier(self) -> u8 {
        match self {
            Criticality::Critical => 1,
            Criticality::High => 2,
            Criticality::Medium => 3,
            Criticality::Low => 4,
        }
    }
}

impl FromStr for Criticality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        Criticality::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(t) || format!("tier-{}", v.tier()) == t.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown criticality {s:?}; expected one of critical, high, medium, low"))
    }
}

impl<'de> Deserialize<'de> for Criticality {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who created a service. Push-created services are what the SLA seed calls
/// `external`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Config,
    Push,
    Probe,
    Operator,
    /// Declared in the dashboard (an it-ops document written there).
    Ui,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Push => "push",
            Source::Probe => "probe",
            Source::Operator => "operator",
            Source::Ui => "ui",
        }
    }
}

impl FromStr for Source {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "config" => Ok(Source::Config),
            "push" | "external" => Ok(Source::Push),
            "probe" => Ok(Source::Probe),
            "operator" => Ok(Source::Operator),
            "ui" => Ok(Source::Ui),
            _ => Err(format!("unknown source {s:?}")),
        }
    }
}

/// The node name for services pushed without a `nodeId`.
pub const UNKNOWN_NODE: &str = "unknown";

/// A position in the hierarchy: `organization/platform/environment/cluster`,
/// or the flagged `unknown` node of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    Path { organization: String, platform: String, environment: String, cluster: String },
    Unknown,
}

impl NodeId {
    /// Parse the seed's four-level path. Segments must be non-empty and hold
    /// no whitespace; the organization segment is what API keys are scoped to.
    pub fn parse(field: &str, s: &str) -> Result<NodeId, FieldError> {
        let s = s.trim();
        if s == UNKNOWN_NODE {
            return Ok(NodeId::Unknown);
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 4 {
            return Err(FieldError::invalid(
                field,
                format!(
                    "expected organization/platform/environment/cluster (4 segments separated by '/'), got {} segment(s) in {s:?}",
                    parts.len()
                ),
            ));
        }
        for (name, p) in ["organization", "platform", "environment", "cluster"].iter().zip(&parts) {
            if let Err(reason) = check_name(p) {
                return Err(FieldError::invalid(field, format!("{name} segment {p:?}: {reason}")));
            }
        }
        Ok(NodeId::Path {
            organization: parts[0].to_string(),
            platform: parts[1].to_string(),
            environment: parts[2].to_string(),
            cluster: parts[3].to_string(),
        })
    }

    pub fn organization(&self) -> Option<&str> {
        match self {
            NodeId::Path { organization, .. } => Some(organization),
            NodeId::Unknown => None,
        }
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, NodeId::Unknown)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeId::Path { organization, platform, environment, cluster } => {
                write!(f, "{organization}/{platform}/{environment}/{cluster}")
            }
            NodeId::Unknown => f.write_str(UNKNOWN_NODE),
        }
    }
}

/// Names (services, SLA groups, path segments, tags): 1..=253 characters, no
/// whitespace or control characters, no '/' or '\', not "." or "..".
pub fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 253 {
        return Err(format!("must be at most 253 characters, got {}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\')) {
        return Err(format!("must not contain {c:?}"));
    }
    // names reach file paths (report directories) and URLs
    if s == "." || s == ".." {
        return Err(format!("{s:?} cannot be a name"));
    }
    Ok(())
}

/// Storage level from the free share, as the SLA seed's table: healthy above
/// 30 %, warning from 10 % to 30 %, critical below 10 %; `unknown` while no
/// figure was ever reported or declared (no data is not healthy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageLevel {
    Healthy,
    Warning,
    Critical,
    Unknown,
}

impl StorageLevel {
    /// The level of a known free share, or `unknown` without one.
    pub fn of(free: Option<f64>) -> StorageLevel {
        free.map_or(StorageLevel::Unknown, StorageLevel::from_free_percent)
    }

    pub fn from_free_percent(free: f64) -> StorageLevel {
        if free > 30.0 {
            StorageLevel::Healthy
        } else if free >= 10.0 {
            StorageLevel::Warning
        } else {
            StorageLevel::Critical
        }
    }
}

/// Tags that put a service on the Storage tab (SLA seed).
pub const STORAGE_TAGS: [&str; 7] = ["storage", "s3", "ebs", "database", "rds", "elasticache", "cache"];

pub fn is_storage_service(tags: &[String]) -> bool {
    tags.iter().any(|t| STORAGE_TAGS.contains(&t.as_str()))
}

/// Roles of API keys, from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ReadOnly,
    Agent,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ReadOnly => "read-only",
            Role::Agent => "agent",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read-only" | "readonly" | "read_only" => Ok(Role::ReadOnly),
            "agent" => Ok(Role::Agent),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role {s:?}; expected one of agent, operator, admin, read-only")),
        }
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The organization scope of an API key: one organization, or all of them
/// (the key that `nines serve` creates on first start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgScope {
    All,
    One(String),
}

impl OrgScope {
    pub fn allows(&self, org: &str) -> bool {
        match self {
            OrgScope::All => true,
            OrgScope::One(o) => o == org,
        }
    }
    pub fn as_option(&self) -> Option<&str> {
        match self {
            OrgScope::All => None,
            OrgScope::One(o) => Some(o),
        }
    }
}

/// The organization a service without a `nodeId` belongs to when the key
/// that pushed it spans all organizations.
pub const UNKNOWN_ORG: &str = "unknown";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_parses_four_segments() {
        let n = NodeId::parse("nodeId", "myorg/platform/prod/cluster1").unwrap();
        assert_eq!(n.organization(), Some("myorg"));
        assert_eq!(n.to_string(), "myorg/platform/prod/cluster1");
        assert_eq!(NodeId::parse("nodeId", "unknown").unwrap(), NodeId::Unknown);
    }

    #[test]
    fn node_id_rejects_bad_paths_with_reason() {
        for (input, needle) in [
            ("myorg/prod", "got 2 segment"),
            ("a/b/c/d/e", "got 5 segment"),
            ("a//c/d", "platform segment \"\": must not be empty"),
            ("a/b c/c/d", "platform segment \"b c\""),
        ] {
            let e = NodeId::parse("nodeId", input).unwrap_err();
            assert_eq!(e.field, "nodeId");
            assert!(e.message.contains(needle), "{input}: {}", e.message);
        }
    }

    #[test]
    fn storage_levels_follow_the_seed_table() {
        assert_eq!(StorageLevel::from_free_percent(100.0), StorageLevel::Healthy);
        assert_eq!(StorageLevel::from_free_percent(30.01), StorageLevel::Healthy);
        assert_eq!(StorageLevel::from_free_percent(30.0), StorageLevel::Warning);
        assert_eq!(StorageLevel::from_free_percent(10.0), StorageLevel::Warning);
        assert_eq!(StorageLevel::from_free_percent(9.99), StorageLevel::Critical);
        assert_eq!(StorageLevel::from_free_percent(0.0), StorageLevel::Critical);
    }

    #[test]
    fn status_parse_is_case_insensitive_and_names_choices() {
        assert_eq!("down".parse::<Status>().unwrap(), Status::Down);
        assert_eq!("OPERATIONAL".parse::<Status>().unwrap(), Status::Operational);
        assert!("UP".parse::<Status>().unwrap_err().contains("OPERATIONAL, DEGRADED"));
    }

    #[test]
    fn criticality_accepts_tier_names() {
        assert_eq!("tier-1".parse::<Criticality>().unwrap(), Criticality::Critical);
        assert_eq!("Low".parse::<Criticality>().unwrap(), Criticality::Low);
        assert!("urgent".parse::<Criticality>().is_err());
    }
}

/// A certificate's state, as the operator seed's table names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Ready,
    Pending,
    Failed,
    Expired,
    ExpiringSoon,
}

/// A certificate whose `notAfter` is this close is `expiring_soon`.
pub const CERT_EXPIRING_SOON_MS: i64 = 30 * 86_400_000;

impl CertificateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::Ready => "ready",
            CertificateStatus::Pending => "pending",
            CertificateStatus::Failed => "failed",
            CertificateStatus::Expired => "expired",
            CertificateStatus::ExpiringSoon => "expiring_soon",
        }
    }

    pub fn parse(s: &str) -> Option<CertificateStatus> {
        Some(match s {
            "ready" => CertificateStatus::Ready,
            "pending" => CertificateStatus::Pending,
            "failed" => CertificateStatus::Failed,
            "expired" => CertificateStatus::Expired,
            "expiring_soon" => CertificateStatus::ExpiringSoon,
            _ => return None,
        })
    }

    /// The state at `now` of a certificate reported as `reported`: a ready
    /// (or earlier expiring) certificate ages into `expiring_soon` and then
    /// `expired` without a new report, because time alone changes it. A
    /// pending or failed one stays as reported.
    pub fn at(reported: CertificateStatus, not_after: Option<crate::clock::Millis>, now: crate::clock::Millis) -> Self {
        match (reported, not_after) {
            (CertificateStatus::Pending | CertificateStatus::Failed, _) => reported,
            (_, Some(t)) if t <= now => CertificateStatus::Expired,
            (_, Some(t)) if t < now + CERT_EXPIRING_SOON_MS => CertificateStatus::ExpiringSoon,
            (_, Some(_)) => CertificateStatus::Ready,
            (_, None) => reported,
        }
    }
}

#[cfg(test)]
mod certificate_tests {
    use super::CertificateStatus as C;

    #[test]
    fn certificates_age_with_time() {
        let day = 86_400_000;
        let now = 1_800_000_000_000;
        let cases = [
            (C::Ready, Some(now + 31 * day), C::Ready),
            (C::Ready, Some(now + 30 * day), C::Ready),
            (C::Ready, Some(now + 30 * day - 1), C::ExpiringSoon),
            (C::Ready, Some(now + 1), C::ExpiringSoon),
            (C::Ready, Some(now), C::Expired),
            (C::ExpiringSoon, Some(now + 40 * day), C::Ready),
            (C::Expired, Some(now - day), C::Expired),
            (C::Pending, Some(now - day), C::Pending),
            (C::Failed, Some(now + day), C::Failed),
            (C::Ready, None, C::Ready),
        ];
        for (reported, not_after, want) in cases {
            assert_eq!(C::at(reported, not_after, now), want, "{reported:?} {not_after:?}");
        }
        for s in [C::Ready, C::Pending, C::Failed, C::Expired, C::ExpiringSoon] {
            assert_eq!(C::parse(s.as_str()), Some(s));
        }
        assert_eq!(C::parse("valid"), None);
    }
}
