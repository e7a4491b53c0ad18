//! Routing: which channels an event goes to. A rule matches on organization,
//! criticality (at least, or one of), tags and event kinds; every matching
//! rule contributes its channels, until a matching rule with `stop` ends the
//! walk. Pure; the rules are stored by the caller.

use nines_core::{Criticality, FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind};

/// How a rule's tags match the event's tags (the union of its services' tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMatch {
    /// At least one of the rule's tags.
    #[default]
    Any,
    /// Every one of the rule's tags.
    All,
}

/// One route rule. Empty lists match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteRule {
    /// Organizations the rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// Match events whose most critical service is at least this critical
    /// (`high` matches critical and high).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_criticality: Option<Criticality>,
    /// Match events whose most critical service has exactly one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criticalities: Vec<Criticality>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub tag_match: TagMatch,
    /// Event kinds (`downtime_opened`, `slo_burn_rate`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// Channel ids to send to.
    pub channels: Vec<String>,
    /// Stop at this rule when it matches.
    #[serde(default)]
    pub stop: bool,
}

impl RouteRule {
    pub fn matches(&self, event: &Event) -> bool {
        if !self.organizations.is_empty() && !self.organizations.iter().any(|o| o == event.organization()) {
            return false;
        }
        let crit = event.criticality();
        if let Some(min) = self.min_criticality {
            let at_least = crit.is_some_and(|c| c.tier() <= min.tier());
            if !at_least {
                return false;
            }
        }
        if !self.criticalities.is_empty() && !crit.is_some_and(|c| self.criticalities.contains(&c)) {
            return false;
        }
        if !self.tags.is_empty() {
            let tags = event.tags();
            let ok = match self.tag_match {
                TagMatch::Any => self.tags.iter().any(|t| tags.contains(t.as_str())),
                TagMatch::All => self.tags.iter().all(|t| tags.contains(t.as_str())),
            };
            if !ok {
                return false;
            }
        }
        self.events.is_empty() || self.events.contains(&event.kind())
    }
}

/// The channel ids for an event, in rule order, each once.
pub fn route<'r>(rules: &'r [RouteRule], event: &Event) -> Vec<&'r str> {
    let mut out: Vec<&str> = Vec::new();
    for rule in rules {
        if !rule.matches(event) {
            continue;
        }
        for c in &rule.channels {
            if !out.contains(&c.as_str()) {
                out.push(c);
            }
        }
        if rule.stop {
            break;
        }
    }
    out
}

/// Check rules against the known channel ids; every problem with its path
/// (`routes[2].channels[0]: unknown channel "ops"`).
pub fn validate_rules(rules: &[RouteRule], known_channels: &[&str]) -> Result<(), FieldErrors> {
    let mut errs = FieldErrors::default();
    for (i, r) in rules.iter().enumerate() {
        let p = format!("routes[{i}]");
        if r.channels.is_empty() {
            errs.push(FieldError::invalid(format!("{p}.channels"), "at least one channel is required"));
        }
        for (j, c) in r.channels.iter().enumerate() {
            if !known_channels.contains(&c.as_str()) {
                errs.push(FieldError::invalid(format!("{p}.channels[{j}]"), format!("unknown channel {c:?}")));
            }
        }
        for (j, o) in r.organizations.iter().enumerate() {
            if let Err(e) = nines_core::check_name(o) {
                errs.push(FieldError::invalid(format!("{p}.organizations[{j}]"), e));
            }
        }
        for (j, t) in r.tags.iter().enumerate() {
            if let Err(e) = nines_core::check_name(t) {
                errs.push(FieldError::invalid(format!("{p}.tags[{j}]"), e));
            }
        }
    }
    errs.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::{downtime, svc};
    use nines_core::Status;

    fn event(org: &str, crit: &[Criticality], tags: &[&str]) -> Event {
        let mut d = downtime();
        d.organization = org.into();
        d.services = crit
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut s = svc(&i.to_string(), "s", Status::Down);
                s.criticality = *c;
                s.tags = tags.iter().map(|t| t.to_string()).collect();
                s
            })
            .collect();
        Event::DowntimeOpened(d)
    }

    fn rule(json: &str) -> RouteRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rule_table() {
        use Criticality::*;
        let cases: &[(&str, Event, bool)] = &[
            (r#"{"channels":["a"]}"#, event("acme", &[Low], &[]), true),
            (r#"{"organizations":["acme"],"channels":["a"]}"#, event("acme", &[Low], &[]), true),
            (r#"{"organizations":["acme"],"channels":["a"]}"#, event("other", &[Low], &[]), false),
            (r#"{"minCriticality":"high","channels":["a"]}"#, event("acme", &[Critical], &[]), true),
            (r#"{"minCriticality":"high","channels":["a"]}"#, event("acme", &[High], &[]), true),
            (r#"{"minCriticality":"high","channels":["a"]}"#, event("acme", &[Medium], &[]), false),
            // The most critical service decides.
            (r#"{"minCriticality":"high","channels":["a"]}"#, event("acme", &[Low, Critical], &[]), true),
            (r#"{"minCriticality":"tier-2","channels":["a"]}"#, event("acme", &[High], &[]), true),
            (r#"{"criticalities":["medium"],"channels":["a"]}"#, event("acme", &[Medium], &[]), true),
            (r#"{"criticalities":["medium"],"channels":["a"]}"#, event("acme", &[Critical], &[]), false),
            (r#"{"tags":["db","s3"],"channels":["a"]}"#, event("acme", &[Low], &["s3"]), true),
            (r#"{"tags":["db","s3"],"channels":["a"]}"#, event("acme", &[Low], &["web"]), false),
            (r#"{"tags":["db","s3"],"tagMatch":"all","channels":["a"]}"#, event("acme", &[Low], &["s3"]), false),
            (r#"{"tags":["db","s3"],"tagMatch":"all","channels":["a"]}"#, event("acme", &[Low], &["s3", "db"]), true),
            (r#"{"events":["downtime_opened"],"channels":["a"]}"#, event("acme", &[Low], &[]), true),
            (r#"{"events":["slo_burn_rate"],"channels":["a"]}"#, event("acme", &[Low], &[]), false),
            (r#"{"minCriticality":"low","channels":["a"]}"#, event("acme", &[], &[]), false),
        ];
        for (i, (json, ev, want)) in cases.iter().enumerate() {
            assert_eq!(rule(json).matches(ev), *want, "case {i}: {json}");
        }
    }

    #[test]
    fn route_unions_in_order_and_stops() {
        let rules = vec![
            rule(r#"{"minCriticality":"critical","channels":["pager","chat"]}"#),
            rule(r#"{"organizations":["acme"],"channels":["chat","mail"],"stop":true}"#),
            rule(r#"{"channels":["catchall"]}"#),
        ];
        assert_eq!(route(&rules, &event("acme", &[Criticality::Critical], &[])), ["pager", "chat", "mail"]);
        assert_eq!(route(&rules, &event("other", &[Criticality::Low], &[])), ["catchall"]);
        assert_eq!(route(&rules, &event("acme", &[Criticality::Low], &[])), ["chat", "mail"]);
    }

    #[test]
    fn rules_are_strict_and_validated_with_paths() {
        let e = serde_json::from_str::<RouteRule>(r#"{"channels":["a"],"severity":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `severity`"), "{e}");
        let rules = vec![rule(r#"{"channels":["a"]}"#), rule(r#"{"channels":["nope"],"tags":["a b"]}"#)];
        let errs = validate_rules(&rules, &["a"]).unwrap_err();
        assert_eq!(
            errs.to_string(),
            "routes[1].channels[0]: unknown channel \"nope\"; routes[1].tags[0]: must not contain ' '"
        );
    }
}
