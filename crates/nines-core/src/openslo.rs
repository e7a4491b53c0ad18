//! OpenSLO v1 (`kind: SLO`) import and export for availability SLOs.
//!
//! nines measures availability from the status timeline, so an imported SLO
//! sets a service's objective: its target, its window (rolling days or the
//! calendar month) and its budgeting method — `Occurrences` (every second
//! counts) or `Timeslices` (slices of `timeSliceWindow` are good when their
//! own availability reaches `timeSliceTarget`). The indicator of an imported
//! document is kept as given but not evaluated: the indicator is always the
//! service's status timeline.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::{FieldError, FieldErrors};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SloDoc {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub service: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_ref: Option<String>,
    pub budgeting_method: String,
    pub time_window: Vec<TimeWindow>,
    pub objectives: Vec<Objective>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_policies: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TimeWindow {
    pub duration: String,
    pub is_rolling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<Calendar>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calendar {
    pub start_time: String,
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Objective {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_slice_target: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_slice_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composite_weight: Option<f64>,
}

/// The annotation naming the service's node when its name is not unique.
pub const NODE_ANNOTATION: &str = "nines.dev/node-id";

/// How an objective is budgeted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    Occurrences,
    Timeslices { slice_ms: i64, slice_target: f64 },
}

/// The window of an objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    RollingDays(i64),
    CalendarMonth,
}

/// What an imported SLO sets on a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective0 {
    pub name: String,
    pub service: String,
    pub node_id: Option<String>,
    /// Percent, e.g. 99.9.
    pub target_percent: f64,
    pub window: Window,
    pub budgeting: Budgeting,
}

/// `30d`, `4w`, `12h`, `5m`, `30s` in milliseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

fn fmt_duration(ms: i64) -> String {
    for (unit, m) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)] {
        if ms % m == 0 {
            return format!("{}{unit}", ms / m);
        }
    }
    format!("{}s", ms / 1000)
}

/// Parse and validate every SLO document in `text`; every problem at once.
pub fn import(text: &str) -> Result<Vec<Objective0>, FieldErrors> {
    let mut errs = FieldErrors::default();
    let mut out = Vec::new();
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(text)
        .map(serde_yaml_ng::Value::deserialize)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| FieldErrors::from(FieldError::new("document", "invalid_yaml", e.to_string())))?
        .into_iter()
        .filter(|v| !v.is_null())
        .collect();
    if docs.is_empty() {
        return Err(FieldError::new("document", "missing_field", "no document found").into());
    }
    let many = docs.len() > 1;
    for (i, v) in docs.into_iter().enumerate() {
        let p = if many { format!("documents[{i}].") } else { String::new() };
        let doc: SloDoc = match serde_path_to_error::deserialize(v) {
            Ok(d) => d,
            Err(e) => {
                errs.push(crate::apply::path_error(&p, &e));
                continue;
            }
        };
        match check(&doc, &p) {
            Ok(o) => out.push(o),
            Err(e) => errs.0.extend(e.0),
        }
    }
    errs.into_result(out)
}

fn check(d: &SloDoc, p: &str) -> Result<Objective0, FieldErrors> {
    let mut errs = FieldErrors::default();
    if d.api_version != "openslo/v1" {
        errs.push(FieldError::invalid(
            format!("{p}apiVersion"),
            format!("{:?} is not supported; expected openslo/v1", d.api_version),
        ));
    }
    if d.kind != "SLO" {
        errs.push(FieldError::invalid(format!("{p}kind"), format!("{:?}: only kind SLO is imported", d.kind)));
    }
    if let Err(r) = crate::model::check_name(&d.spec.service) {
        errs.push(FieldError::invalid(format!("{p}spec.service"), r));
    }
    let window = match d.spec.time_window.as_slice() {
        [w] => {
            let dur = parse_duration(&w.duration);
            match (w.is_rolling, dur, w.duration.as_str()) {
                (true, Some(ms), _) if ms % 86_400_000 == 0 && ms / 86_400_000 <= 366 => {
                    Some(Window::RollingDays(ms / 86_400_000))
                }
                (true, _, _) => {
                    errs.push(FieldError::invalid(
                        format!("{p}spec.timeWindow[0].duration"),
                        format!("{:?}: a rolling window is whole days (e.g. 30d, 4w), at most 366 days", w.duration),
                    ));
                    None
                }
                (false, _, "1M") => Some(Window::CalendarMonth),
                (false, _, other) => {
                    errs.push(FieldError::invalid(
                        format!("{p}spec.timeWindow[0].duration"),
                        format!("{other:?}: a calendar window is one month (1M)"),
                    ));
                    None
                }
            }
        }
        _ => {
            errs.push(FieldError::invalid(format!("{p}spec.timeWindow"), "exactly one time window"));
            None
        }
    };
    let objective = match d.spec.objectives.as_slice() {
        [o] => Some(o),
        _ => {
            errs.push(FieldError::invalid(format!("{p}spec.objectives"), "exactly one objective (availability)"));
            None
        }
    };
    let mut target = None;
    let mut budgeting = None;
    if let Some(o) = objective {
        let op = format!("{p}spec.objectives[0]");
        target = match (o.target, o.target_percent) {
            (Some(t), None) if t > 0.0 && t < 1.0 => Some(t * 100.0),
            (None, Some(t)) if t > 0.0 && t < 100.0 => Some(t),
            (Some(_), Some(_)) => {
                errs.push(FieldError::invalid(format!("{op}.target"), "give target or targetPercent, not both"));
                None
            }
            (None, None) => {
                errs.push(FieldError::missing(format!("{op}.target")));
                None
            }
            _ => {
                errs.push(FieldError::invalid(
                    format!("{op}.target"),
                    "target is a ratio between 0 and 1 (targetPercent between 0 and 100)",
                ));
                None
            }
        };
        budgeting = match d.spec.budgeting_method.as_str() {
            "Occurrences" => Some(Budgeting::Occurrences),
            "Timeslices" => {
                let slice = o.time_slice_window.as_deref().and_then(parse_duration);
                match (slice, o.time_slice_target) {
                    (Some(ms), Some(t)) if t > 0.0 && t <= 1.0 => {
                        Some(Budgeting::Timeslices { slice_ms: ms, slice_target: t })
                    }
                    (None, _) => {
                        errs.push(FieldError::invalid(
                            format!("{op}.timeSliceWindow"),
                            "Timeslices needs a timeSliceWindow such as 5m",
                        ));
                        None
                    }
                    _ => {
                        errs.push(FieldError::invalid(
                            format!("{op}.timeSliceTarget"),
                            "Timeslices needs a timeSliceTarget between 0 and 1",
                        ));
                        None
                    }
                }
            }
            other => {
                errs.push(FieldError::invalid(
                    format!("{p}spec.budgetingMethod"),
                    format!("{other:?}: expected Occurrences or Timeslices"),
                ));
                None
            }
        };
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(Objective0 {
        name: d.metadata.name.clone(),
        service: d.spec.service.clone(),
        node_id: d.metadata.annotations.get(NODE_ANNOTATION).cloned(),
        target_percent: target.unwrap_or_default(),
        window: window.unwrap_or(Window::RollingDays(30)),
        budgeting: budgeting.unwrap_or(Budgeting::Occurrences),
    })
}

/// The OpenSLO document of a service's objective.
pub fn export(o: &Objective0, display_name: Option<&str>) -> SloDoc {
    let (budgeting_method, time_slice_target, time_slice_window) = match o.budgeting {
        Budgeting::Occurrences => ("Occurrences", None, None),
        Budgeting::Timeslices { slice_ms, slice_target } => {
            ("Timeslices", Some(slice_target), Some(fmt_duration(slice_ms)))
        }
    };
    let time_window = match o.window {
        Window::RollingDays(d) => TimeWindow { duration: format!("{d}d"), is_rolling: true, calendar: None },
        Window::CalendarMonth => TimeWindow {
            duration: "1M".into(),
            is_rolling: false,
            calendar: Some(Calendar { start_time: "2020-01-01 00:00:00".into(), time_zone: "UTC".into() }),
        },
    };
    let mut annotations = BTreeMap::new();
    if let Some(n) = &o.node_id {
        annotations.insert(NODE_ANNOTATION.to_string(), n.clone());
    }
    SloDoc {
        api_version: "openslo/v1".into(),
        kind: "SLO".into(),
        metadata: Metadata {
            name: o.name.clone(),
            display_name: display_name.map(str::to_string),
            labels: BTreeMap::new(),
            annotations,
        },
        spec: Spec {
            description: Some(format!("Availability of {} from its nines status timeline", o.service)),
            service: o.service.clone(),
            indicator: None,
            indicator_ref: None,
            budgeting_method: budgeting_method.into(),
            time_window: vec![time_window],
            objectives: vec![Objective {
                display_name: Some("availability".into()),
                target: Some((o.target_percent * 10_000.0).round() / 1_000_000.0),
                time_slice_target,
                time_slice_window,
                ..Default::default()
            }],
            alert_policies: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
  annotations:
    nines.dev/node-id: acme/pf/prod/c1
spec:
  service: checkout
  indicatorRef: checkout-uptime
  budgetingMethod: Timeslices
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - displayName: good minutes
      target: 0.995
      timeSliceTarget: 0.9
      timeSliceWindow: 1m
"#;

    #[test]
    fn imports_and_exports_round_trip() {
        let o = import(DOC).unwrap();
        assert_eq!(o.len(), 1);
        let o = &o[0];
        assert_eq!(o.service, "checkout");
        assert_eq!(o.node_id.as_deref(), Some("acme/pf/prod/c1"));
        assert_eq!(o.target_percent, 99.5);
        assert_eq!(o.window, Window::RollingDays(28));
        assert_eq!(o.budgeting, Budgeting::Timeslices { slice_ms: 60_000, slice_target: 0.9 });
        let back = export(o, Some("Checkout availability"));
        let text = serde_yaml_ng::to_string(&back).unwrap();
        assert_eq!(&import(&text).unwrap()[0], o);
    }

    #[test]
    fn calendar_month_and_occurrences() {
        let doc = DOC.replace("Timeslices", "Occurrences").replace(
            "duration: 28d\n      isRolling: true",
            "duration: 1M\n      isRolling: false\n      calendar: {startTime: \"2026-01-01 00:00:00\", timeZone: UTC}",
        );
        let o = &import(&doc).unwrap()[0];
        assert_eq!(o.window, Window::CalendarMonth);
        assert_eq!(o.budgeting, Budgeting::Occurrences);
    }

    #[test]
    fn every_problem_is_named() {
        let bad =
            DOC.replace("openslo/v1", "openslo/v2").replace("target: 0.995", "target: 99.5").replace("28d", "90m");
        let errs = import(&bad).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["apiVersion", "spec.timeWindow[0].duration", "spec.objectives[0].target"]);
        let errs = import("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec: {service: s, budgetingMethod: Occurrences, timeWindow: [], objectives: [], colour: red}\n").unwrap_err();
        assert_eq!(errs.0[0].field, "spec.colour");
    }
}
