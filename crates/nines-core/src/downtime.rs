//! Downtimes: which services went down together. Pure decisions over the
//! status timeline: a service turning DOWN joins an open downtime that
//! started within the correlation window and shares its SLA group or its
//! cluster with a member, or opens a new one; a member leaving DOWN has
//! recovered; when every member has recovered the downtime is resolved.
//! Services in MAINTENANCE never turn DOWN, so planned work opens nothing.

use crate::clock::Millis;
use crate::model::{Criticality, Status};

/// A service as the downtime engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub service_id: i64,
    pub name: String,
    pub organization: String,
    pub node_id: String,
    pub sla_group: Option<String>,
    pub criticality: Criticality,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub subject: Subject,
    pub down: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenDowntime {
    pub id: i64,
    pub organization: String,
    pub started_at: Millis,
    pub members: Vec<Member>,
}

/// What one transition does to the downtimes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Open { subject: Subject, at: Millis },
    Join { downtime: i64, subject: Subject, at: Millis },
    Recover { downtime: i64, service_id: i64, name: String, at: Millis },
    Changed { downtime: i64, service_id: i64, name: String, from: Status, to: Status, at: Millis },
    Resolve { downtime: i64, at: Millis },
}

fn related(a: &Subject, b: &Subject) -> bool {
    a.organization == b.organization
        && ((a.sla_group.is_some() && a.sla_group == b.sla_group)
            || (a.node_id == b.node_id && a.node_id != crate::UNKNOWN_NODE))
}

/// The actions a transition of `s` from `from` to `to` at `at` causes.
pub fn on_transition(
    open: &[OpenDowntime],
    s: &Subject,
    from: Status,
    to: Status,
    at: Millis,
    window_ms: i64,
) -> Vec<Action> {
    let mine = open.iter().find(|d| d.members.iter().any(|m| m.subject.service_id == s.service_id));
    let member = mine.and_then(|d| d.members.iter().find(|m| m.subject.service_id == s.service_id));
    let was_down = member.map_or(from == Status::Down, |m| m.down);
    // no news is not recovery: a member gone silent stays down
    let now_down = to == Status::Down || (to == Status::Unknown && was_down);
    let changed = |d: &OpenDowntime| Action::Changed {
        downtime: d.id,
        service_id: s.service_id,
        name: s.name.clone(),
        from,
        to,
        at,
    };
    match (was_down, now_down, mine) {
        // turned DOWN again while its downtime is still open
        (false, true, Some(d)) => vec![changed(d)],
        (false, true, None) => {
            let joinable = open
                .iter()
                .filter(|d| d.organization == s.organization && at - d.started_at <= window_ms && at >= d.started_at)
                .filter(|d| d.members.iter().any(|m| related(&m.subject, s)))
                .min_by_key(|d| (d.started_at, d.id));
            match joinable {
                Some(d) => vec![Action::Join { downtime: d.id, subject: s.clone(), at }],
                None => vec![Action::Open { subject: s.clone(), at }],
            }
        }
        (true, false, Some(d)) => {
            let mut v = vec![Action::Recover { downtime: d.id, service_id: s.service_id, name: s.name.clone(), at }];
            if to != Status::Operational {
                v.push(changed(d));
            }
            let others_down = d.members.iter().any(|m| m.subject.service_id != s.service_id && m.down);
            if !others_down {
                v.push(Action::Resolve { downtime: d.id, at });
            }
            v
        }
        (_, _, Some(d)) if from != to => vec![changed(d)],
        _ => Vec::new(),
    }
}

/// Apply actions to the open set (so later transitions see them).
pub fn apply(open: &mut Vec<OpenDowntime>, actions: &[Action], new_id: impl Fn() -> i64) {
    for a in actions {
        match a {
            Action::Open { subject, at } => open.push(OpenDowntime {
                id: new_id(),
                organization: subject.organization.clone(),
                started_at: *at,
                members: vec![Member { subject: subject.clone(), down: true }],
            }),
            Action::Join { downtime, subject, .. } => {
                if let Some(d) = open.iter_mut().find(|d| d.id == *downtime) {
                    d.members.push(Member { subject: subject.clone(), down: true });
                }
            }
            Action::Recover { downtime, service_id, .. } => {
                if let Some(m) = open
                    .iter_mut()
                    .find(|d| d.id == *downtime)
                    .and_then(|d| d.members.iter_mut().find(|m| m.subject.service_id == *service_id))
                {
                    m.down = false;
                }
            }
            Action::Changed { downtime, service_id, to, .. } => {
                if let Some(m) = open
                    .iter_mut()
                    .find(|d| d.id == *downtime)
                    .and_then(|d| d.members.iter_mut().find(|m| m.subject.service_id == *service_id))
                {
                    m.down = matches!(to, Status::Down | Status::Unknown);
                }
            }
            Action::Resolve { downtime, .. } => open.retain(|d| d.id != *downtime),
        }
    }
}

/// Severity of a downtime from its most critical member.
pub fn severity(members: &[Criticality]) -> &'static str {
    match members.iter().map(|c| c.tier()).min() {
        Some(1) => "critical",
        Some(2) => "major",
        _ => "minor",
    }
}

/// The log line of an action (the seed's wording).
pub fn log_line(a: &Action) -> Option<String> {
    match a {
        Action::Open { subject, .. } | Action::Join { subject, .. } => {
            Some(format!("Added to downtime: {}", subject.name))
        }
        Action::Recover { name, .. } => Some(format!("Recovered from downtime: {name}")),
        Action::Changed { name, from, to, .. } => {
            Some(format!("Status changed from {from} to {to} while in downtime: {name}"))
        }
        Action::Resolve { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subj(id: i64, node: &str, group: Option<&str>) -> Subject {
        Subject {
            service_id: id,
            name: format!("s{id}"),
            organization: "o".into(),
            node_id: node.into(),
            sla_group: group.map(str::to_string),
            criticality: Criticality::Medium,
        }
    }

    #[test]
    fn services_that_break_together_share_one_downtime() {
        let mut open = Vec::new();
        let next = std::cell::Cell::new(0);
        let id = || {
            next.set(next.get() + 1);
            next.get()
        };
        let a = subj(1, "o/p/e/c1", Some("pay"));
        let b = subj(2, "o/p/e/c2", Some("pay"));
        let c = subj(3, "o/p/e/c1", None);
        let d = subj(4, "o/p/e/c9", None);
        let w = 300_000;
        let act = on_transition(&open, &a, Status::Operational, Status::Down, 0, w);
        assert!(matches!(act[0], Action::Open { .. }));
        apply(&mut open, &act, id);
        // same group, other cluster, within the window: joins
        let act = on_transition(&open, &b, Status::Operational, Status::Down, 60_000, w);
        assert_eq!(act, vec![Action::Join { downtime: 1, subject: b.clone(), at: 60_000 }]);
        apply(&mut open, &act, id);
        // same cluster as a: joins
        let act = on_transition(&open, &c, Status::Operational, Status::Down, 120_000, w);
        assert!(matches!(act[0], Action::Join { downtime: 1, .. }));
        apply(&mut open, &act, id);
        // unrelated: its own downtime
        let act = on_transition(&open, &d, Status::Operational, Status::Down, 130_000, w);
        assert!(matches!(act[0], Action::Open { .. }));
        apply(&mut open, &act, id);
        assert_eq!(open.len(), 2);
        // related but outside the window: its own
        let e = subj(5, "o/p/e/c1", None);
        let act = on_transition(&open, &e, Status::Operational, Status::Down, 400_000, w);
        assert!(matches!(act[0], Action::Open { .. }));
        // recoveries; the last one resolves
        let act = on_transition(&open, &a, Status::Down, Status::Operational, 500_000, w);
        assert_eq!(act.len(), 1);
        apply(&mut open, &act, id);
        let act = on_transition(&open, &b, Status::Down, Status::Degraded, 510_000, w);
        assert_eq!(log_line(&act[1]).unwrap(), "Status changed from DOWN to DEGRADED while in downtime: s2");
        apply(&mut open, &act, id);
        let act = on_transition(&open, &c, Status::Down, Status::Operational, 520_000, w);
        assert_eq!(act.last(), Some(&Action::Resolve { downtime: 1, at: 520_000 }));
        assert_eq!(log_line(&act[0]).unwrap(), "Recovered from downtime: s3");
        apply(&mut open, &act, id);
        assert_eq!(open.len(), 1);
    }

    #[test]
    fn silence_is_not_recovery() {
        let s = subj(1, "o/p/e/c", None);
        let mut open = Vec::new();
        let first = on_transition(&open, &s, Status::Operational, Status::Down, 0, 1);
        apply(&mut open, &first, || 1);
        let act = on_transition(&open, &s, Status::Down, Status::Unknown, 10, 1);
        assert_eq!(act.len(), 1);
        assert!(matches!(act[0], Action::Changed { .. }));
        apply(&mut open, &act, || 2);
        assert_eq!(open.len(), 1, "still open");
        let act = on_transition(&open, &s, Status::Unknown, Status::Operational, 20, 1);
        assert_eq!(
            act,
            vec![
                Action::Recover { downtime: 1, service_id: 1, name: "s1".into(), at: 20 },
                Action::Resolve { downtime: 1, at: 20 }
            ]
        );
    }

    #[test]
    fn maintenance_and_unknown_open_nothing() {
        let s = subj(1, "o/p/e/c", None);
        assert!(on_transition(&[], &s, Status::Operational, Status::Maintenance, 0, 1).is_empty());
        assert!(on_transition(&[], &s, Status::Operational, Status::Unknown, 0, 1).is_empty());
        assert_eq!(severity(&[Criticality::Low, Criticality::High]), "major");
    }
}
