//! SystemConfig: runtime settings with defaults, each with its meaning and
//! validation, stored in the database and changed through the API.

use nines_core::FieldError;
use nines_core::slo::{Class, Policy, Target, Thresholds};
use nines_store::Store;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// One setting's definition.
pub struct Key {
    pub key: &'static str,
    pub default: &'static str,
    pub description: &'static str,
    pub kind: Kind,
}

#[derive(Clone, Copy)]
pub enum Kind {
    /// A percentage strictly between 0 and 100.
    Target,
    /// A percentage from 0 to 100.
    Percent,
    /// Whole days, 1 to 366.
    Days,
    /// Whole minutes, 0 to 1440.
    Minutes,
    /// Whole seconds, 0 to 86400.
    Seconds,
    /// good, bad or excluded.
    Counting,
    /// Empty (off) or an http(s) URL without credentials.
    Url,
    /// A Prometheus label name.
    LabelName,
    /// A VictoriaLogs field name: any non-empty text of at most 256 bytes.
    FieldName,
    /// true or false.
    Bool,
    /// A VictoriaMetrics cluster tenant: `accountID` or `accountID:projectID`.
    Tenant,
}

pub const KEYS: &[Key] = &[
    Key {
        key: "DEFAULT_SLO_TARGET",
        default: "99.9",
        description: "Default SLO target (%) of a service without its own; never below its tier's SLA target.",
        kind: Kind::Target,
    },
    Key {
        key: "DEFAULT_SLA_TARGET",
        default: "99.0",
        description: "Default SLA target (%) of SLA groups, hierarchy nodes and organizations; a service's SLA target defaults to its criticality tier's uptime target.",
        kind: Kind::Target,
    },
    Key {
        key: "DEFAULT_SLO_WINDOW_DAYS",
        default: "30",
        description: "Rolling window (days) of SLO figures when none is asked for.",
        kind: Kind::Days,
    },
    Key {
        key: "DEFAULT_SLA_WINDOW_DAYS",
        default: "30",
        description: "Rolling window (days) of SLA figures when none is asked for.",
        kind: Kind::Days,
    },
    Key {
        key: "ERROR_BUDGET_WARNING_THRESHOLD",
        default: "50",
        description: "Budget consumed (%) from which an object is at risk (SLO_WARNING, budget state warning).",
        kind: Kind::Percent,
    },
    Key {
        key: "ERROR_BUDGET_CRITICAL_THRESHOLD",
        default: "90",
        description: "Budget consumed (%) from which the budget state is critical.",
        kind: Kind::Percent,
    },
    Key {
        key: "SLO_SETTLE_DELAY_MINUTES",
        default: "15",
        description: "How long after its end a 5-minute bucket or a day becomes final, so late agents are counted.",
        kind: Kind::Minutes,
    },
    Key {
        key: "SLO_MIN_HISTORY_MINUTES",
        default: "60",
        description: "Counted time (minutes) a window needs before its error budget, conditions and burn alerts hold; below it the budget state is insufficient_data.",
        kind: Kind::Minutes,
    },
    Key {
        key: "STATUS_PAGE_MIN_UNKNOWN_SECONDS",
        default: "60",
        description: "UNKNOWN stretches shorter than this are not shown as incidents on the public status page (they still count in the SLO by UNKNOWN_COUNTS_AS).",
        kind: Kind::Seconds,
    },
    Key {
        key: "DEGRADED_COUNTS_AS",
        default: "good",
        description: "How DEGRADED time counts for services that do not say: good, bad or excluded.",
        kind: Kind::Counting,
    },
    Key {
        key: "UNKNOWN_COUNTS_AS",
        default: "excluded",
        description: "How UNKNOWN time (no data, nines or an agent not listening) counts: excluded, good or bad.",
        kind: Kind::Counting,
    },
    Key {
        key: "DOWNTIME_CORRELATION_MINUTES",
        default: "5",
        description: "Services of one SLA group or cluster that turn DOWN within this many minutes of a downtime's start join it.",
        kind: Kind::Minutes,
    },
    Key {
        key: "MAINTENANCE_COUNTS_AS",
        default: "excluded",
        description: "How MAINTENANCE time counts: excluded (planned work stays out of the SLA), good or bad.",
        kind: Kind::Counting,
    },
    Key {
        key: "VICTORIALOGS_URL",
        default: "",
        description: "VictoriaLogs base URL (e.g. http://victorialogs:9428) whose logs are accounted per organization; empty turns log accounting off.",
        kind: Kind::Url,
    },
    Key {
        key: "VICTORIALOGS_ORG_LABEL",
        default: "organizations.polycrate.io/name",
        description: "Log field whose value names a log line's organization (the organization's name, or its override).",
        kind: Kind::FieldName,
    },
    Key {
        key: "VICTORIAMETRICS_URL",
        default: "",
        description: "VictoriaMetrics base URL (vmselect of a cluster, or a single node) whose active series are accounted per organization; empty turns it off.",
        kind: Kind::Url,
    },
    Key {
        key: "VICTORIAMETRICS_ORG_LABEL",
        default: "customer",
        description: "Series label whose value names a series' organization.",
        kind: Kind::LabelName,
    },
    Key {
        key: "VICTORIAMETRICS_IS_CLUSTER",
        default: "true",
        description: "true: a cluster's vmselect, queried at /select/{tenant}/prometheus/api/v1/...; false: a single node at /api/v1/....",
        kind: Kind::Bool,
    },
    Key {
        key: "OBSERVABILITY_BACKFILL_DAYS",
        default: "30",
        description: "How far back (days, at most 30) observability accounting fills intervals it has not sampled (a first run, an outage); set it to the backends' retention when that is shorter (VictoriaLogs keeps 7 days by default), so hours they no longer hold stay gaps instead of zeros.",
        kind: Kind::Days,
    },
    Key {
        key: "VICTORIAMETRICS_TENANT",
        default: "0",
        description: "The cluster tenant queried (accountID or accountID:projectID); unused on a single node.",
        kind: Kind::Tenant,
    },
];

pub fn key(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.key == name)
}

/// Check a value for a key; returns it normalized.
pub fn validate(k: &Key, value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let num = || v.parse::<f64>().ok().filter(|x| x.is_finite());
    let bad = |reason: &str| FieldError::invalid("value", format!("{}: {reason}, got {v:?}", k.key));
    match k.kind {
        Kind::Target => match num() {
            Some(x) if x > 0.0 && x < 100.0 => Ok(x.to_string()),
            _ => Err(bad("a percentage between 0 and 100 (exclusive)")),
        },
        Kind::Percent => match num() {
            Some(x) if (0.0..=100.0).contains(&x) => Ok(x.to_string()),
            _ => Err(bad("a percentage from 0 to 100")),
        },
        Kind::Days => match v.parse::<i64>() {
            Ok(x) if (1..=366).contains(&x) => Ok(x.to_string()),
            _ => Err(bad("a whole number of days from 1 to 366")),
        },
        Kind::Minutes => match v.parse::<i64>() {
            Ok(x) if (0..=1440).contains(&x) => Ok(x.to_string()),
            _ => Err(bad("a whole number of minutes from 0 to 1440")),
        },
        Kind::Seconds => match v.parse::<i64>() {
            Ok(x) if (0..=86_400).contains(&x) => Ok(x.to_string()),
            _ => Err(bad("a whole number of seconds from 0 to 86400")),
        },
        Kind::Counting => match Class::parse(v) {
            Some(c) => Ok(c.as_str().to_string()),
            None => Err(bad("one of good, bad, excluded")),
        },
        Kind::Url => {
            // a refused URL is never echoed: it may hold a password or a token
            let refuse = |why: &str| Err(FieldError::invalid("value", format!("{}: {why}", k.key)));
            if v.is_empty() {
                return Ok(String::new());
            }
            let Some(rest) = v.strip_prefix("http://").or_else(|| v.strip_prefix("https://")) else {
                return refuse("empty, or a URL starting with http:// or https://");
            };
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            if host.contains('@') {
                return refuse("credentials in the URL are not accepted (they would be stored in clear)");
            }
            if v.contains(['?', '#']) {
                return refuse("a base URL without a query or fragment (a token there would be stored in clear)");
            }
            if host.is_empty() || v.len() > 512 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return refuse("a URL with a host, without spaces, of at most 512 characters");
            }
            Ok(v.trim_end_matches('/').to_string())
        }
        Kind::LabelName => {
            let ok = !v.is_empty()
                && v.len() <= 256
                && v.chars()
                    .enumerate()
                    .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
                && !v.starts_with("__");
            if ok {
                Ok(v.to_string())
            } else {
                Err(bad("a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"))
            }
        }
        Kind::FieldName => {
            if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
                Err(bad("a field name of 1 to 256 bytes without control characters"))
            } else {
                Ok(v.to_string())
            }
        }
        Kind::Bool => match v {
            "true" | "false" => Ok(v.to_string()),
            _ => Err(bad("true or false")),
        },
        Kind::Tenant => {
            let part = |p: &str| {
                !p.is_empty() && p.len() <= 10 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok()
            };
            let ok = match v.split_once(':') {
                Some((a, p)) => part(a) && part(p),
                None => part(v),
            };
            if ok { Ok(v.to_string()) } else { Err(bad("accountID or accountID:projectID (whole numbers)")) }
        }
    }
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct SloConfig {
    pub default_slo: Target,
    pub default_sla: Target,
    pub slo_window_days: i64,
    pub sla_window_days: i64,
    pub thresholds: Thresholds,
    pub settle_ms: i64,
    /// Correlation window of downtimes.
    pub correlation_ms: i64,
    /// UNKNOWN stretches shorter than this are left off the public page.
    pub public_unknown_min_ms: i64,
    pub policy: Policy,
}

impl SloConfig {
    pub fn from_map(stored: &HashMap<String, String>) -> SloConfig {
        let get = |k: &str| -> String {
            let def = key(k).map(|d| d.default).unwrap_or("0");
            stored.get(k).cloned().unwrap_or_else(|| def.to_string())
        };
        let f = |k: &str| get(k).parse::<f64>().unwrap_or(0.0);
        let i = |k: &str| get(k).parse::<i64>().unwrap_or(0);
        let c = |k: &str, d: Class| Class::parse(&get(k)).unwrap_or(d);
        SloConfig {
            default_slo: Target::from_percent(f("DEFAULT_SLO_TARGET"))
                .unwrap_or(Target::from_percent(99.9).expect("valid")),
            default_sla: Target::from_percent(f("DEFAULT_SLA_TARGET"))
                .unwrap_or(Target::from_percent(99.0).expect("valid")),
            slo_window_days: i("DEFAULT_SLO_WINDOW_DAYS").max(1),
            sla_window_days: i("DEFAULT_SLA_WINDOW_DAYS").max(1),
            thresholds: Thresholds {
                warning_percent: f("ERROR_BUDGET_WARNING_THRESHOLD"),
                critical_percent: f("ERROR_BUDGET_CRITICAL_THRESHOLD"),
                min_known_ms: i("SLO_MIN_HISTORY_MINUTES") * 60_000,
            },
            settle_ms: i("SLO_SETTLE_DELAY_MINUTES") * 60_000,
            correlation_ms: i("DOWNTIME_CORRELATION_MINUTES") * 60_000,
            public_unknown_min_ms: i("STATUS_PAGE_MIN_UNKNOWN_SECONDS") * 1000,
            policy: Policy {
                degraded: c("DEGRADED_COUNTS_AS", Class::Good),
                unknown: c("UNKNOWN_COUNTS_AS", Class::Excluded),
                maintenance: c("MAINTENANCE_COUNTS_AS", Class::Excluded),
            },
        }
    }

    pub async fn load(store: &Store) -> nines_store::Result<SloConfig> {
        Ok(SloConfig::from_map(&store.system_config().await?))
    }
}

/// A setting as the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
    pub default: String,
    pub description: String,
    /// True when the value differs from the default because it was set.
    pub overridden: bool,
}

pub fn entries(stored: &HashMap<String, String>) -> Vec<ConfigEntry> {
    KEYS.iter()
        .map(|k| ConfigEntry {
            key: k.key.into(),
            value: stored.get(k.key).cloned().unwrap_or_else(|| k.default.into()),
            default: k.default.into(),
            description: k.description.into(),
            overridden: stored.contains_key(k.key),
        })
        .collect()
}

/// Cross-key rules, checked with the would-be settings.
pub fn check_consistency(stored: &HashMap<String, String>) -> Result<(), FieldError> {
    let c = SloConfig::from_map(stored);
    if c.thresholds.warning_percent > c.thresholds.critical_percent {
        return Err(FieldError::invalid(
            "value",
            "ERROR_BUDGET_WARNING_THRESHOLD must not exceed ERROR_BUDGET_CRITICAL_THRESHOLD",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_values() {
        let c = SloConfig::from_map(&HashMap::new());
        assert_eq!(c.default_slo.percent(), 99.9);
        assert_eq!(c.default_sla.percent(), 99.0);
        assert_eq!((c.slo_window_days, c.sla_window_days), (30, 30));
        assert_eq!((c.thresholds.warning_percent, c.thresholds.critical_percent), (50.0, 90.0));
        assert_eq!(c.settle_ms, 15 * 60_000);
        assert_eq!(c.policy, Policy::default());
    }

    #[test]
    fn values_are_validated_with_the_key_named() {
        let k = key("DEFAULT_SLO_TARGET").unwrap();
        assert_eq!(validate(k, " 99.95 ").unwrap(), "99.95");
        let e = validate(k, "100").unwrap_err();
        assert!(e.message.contains("DEFAULT_SLO_TARGET"), "{e}");
        assert!(validate(key("DEFAULT_SLO_WINDOW_DAYS").unwrap(), "0").is_err());
        assert!(validate(key("UNKNOWN_COUNTS_AS").unwrap(), "ignored").is_err());
        let mut m = HashMap::new();
        m.insert("ERROR_BUDGET_WARNING_THRESHOLD".to_string(), "95".to_string());
        assert!(check_consistency(&m).is_err());
    }
}
