//! Downtimes: which services went down together. Pure decisions over the
//! status timeline: a service turning DOWN joins an open downtime that
//! started within the correlation window and shares its SLA group or its
//! cluster with a member, or opens a new one; a member leaving DOWN has
//! recovered; when every member has recovered the downtime is resolved.
//! Services in MAINTENANCE never turn DOWN, so planned work opens nothing.

use std::collections::HashMap;

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
    Open {
        subject: Subject,
        at: Millis,
    },
    Join {
        downtime: i64,
        subject: Subject,
        at: Millis,
    },
    Recover {
        downtime: i64,
        service_id: i64,
        name: String,
        at: Millis,
    },
    /// A member's status changed; `down`: whether the member counts as
    /// down after it (what the store records).
    Changed {
        downtime: i64,
        service_id: i64,
        name: String,
        from: Status,
        to: Status,
        down: bool,
        at: Millis,
    },
    Resolve {
        downtime: i64,
        at: Millis,
    },
}

/// The open downtimes, indexed for the engine: which downtime each service
/// is in, which downtime has an id, and which downtimes have a member on a
/// given cluster node or in a given SLA group (per organization). A pass
/// over thousands of transitions then costs a few lookups each instead of a
/// scan of every member of every open downtime.
#[derive(Debug, Default, Clone)]
pub struct OpenSet {
    slots: Vec<Option<OpenDowntime>>,
    ids: HashMap<i64, usize>,
    /// service id → (slot, index among its members)
    members: HashMap<i64, (usize, usize)>,
    /// per slot, how many of its members are down
    down: Vec<usize>,
    /// organization → cluster node → slots with a member there
    by_node: Keyed,
    /// organization → SLA group → slots with a member in it
    by_group: Keyed,
}

type Keyed = HashMap<String, HashMap<String, Vec<usize>>>;

impl OpenSet {
    pub fn new(open: impl IntoIterator<Item = OpenDowntime>) -> Self {
        let mut set = OpenSet::default();
        for mut d in open {
            let members = std::mem::take(&mut d.members);
            let slot = set.insert(d);
            for m in members {
                set.add_member(slot, m);
            }
        }
        set
    }

    fn insert(&mut self, d: OpenDowntime) -> usize {
        self.ids.insert(d.id, self.slots.len());
        self.slots.push(Some(d));
        self.down.push(0);
        self.slots.len() - 1
    }

    fn add_member(&mut self, slot: usize, m: Member) {
        if self.slots[slot].is_none() {
            return;
        }
        for (index, org, key) in index_keys(&m.subject) {
            let list = self.index_mut(index).entry(org.to_string()).or_default().entry(key.to_string()).or_default();
            if !list.contains(&slot) {
                list.push(slot);
            }
        }
        let Some(d) = self.slots[slot].as_mut() else { return };
        // a service belongs to the first open downtime that has it
        self.members.entry(m.subject.service_id).or_insert((slot, d.members.len()));
        self.down[slot] += usize::from(m.down);
        d.members.push(m);
    }

    fn index(&self, index: Index) -> &Keyed {
        match index {
            Index::Node => &self.by_node,
            Index::Group => &self.by_group,
        }
    }

    fn index_mut(&mut self, index: Index) -> &mut Keyed {
        match index {
            Index::Node => &mut self.by_node,
            Index::Group => &mut self.by_group,
        }
    }

    fn remove(&mut self, slot: usize) {
        let Some(d) = self.slots[slot].take() else { return };
        self.ids.remove(&d.id);
        self.down[slot] = 0;
        for m in &d.members {
            if self.members.get(&m.subject.service_id).is_some_and(|(s, _)| *s == slot) {
                self.members.remove(&m.subject.service_id);
            }
            for (index, org, key) in index_keys(&m.subject) {
                let map = self.index_mut(index);
                let Some(keys) = map.get_mut(org) else { continue };
                if let Some(list) = keys.get_mut(key) {
                    list.retain(|s| *s != slot);
                    if list.is_empty() {
                        keys.remove(key);
                    }
                }
                if keys.is_empty() {
                    map.remove(org);
                }
            }
        }
    }

    /// Mark `service_id`'s member of its open downtime down or not.
    fn set_down(&mut self, service_id: i64, down: bool) {
        let Some(&(slot, i)) = self.members.get(&service_id) else { return };
        let Some(d) = self.slots[slot].as_mut() else { return };
        let m = &mut d.members[i];
        if m.down != down {
            m.down = down;
            if down {
                self.down[slot] += 1;
            } else {
                self.down[slot] -= 1;
            }
        }
    }

    /// The open downtime `service_id` is a member of, if any.
    pub fn of_service(&self, service_id: i64) -> Option<&OpenDowntime> {
        let (slot, _) = self.members.get(&service_id)?;
        self.slots[*slot].as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &OpenDowntime> {
        self.slots.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The real ids of what [`decide_batch`] opened (numbered -1, -2, …),
    /// as the store returned them, in the same order.
    pub fn adopt_ids(&mut self, opened: &[i64]) {
        self.renumber(|id| if id < 0 { opened.get((-id - 1) as usize).copied() } else { None });
    }

    /// Give downtimes new ids (`f` returns the new id of an old one, or
    /// None to keep it).
    pub fn renumber(&mut self, f: impl Fn(i64) -> Option<i64>) {
        for (slot, d) in self.slots.iter_mut().enumerate() {
            let Some(d) = d else { continue };
            if let Some(new) = f(d.id) {
                self.ids.remove(&d.id);
                d.id = new;
                self.ids.insert(new, slot);
            }
        }
    }

    /// Open downtimes of `s`'s organization that have a member related to
    /// `s`: one in the same SLA group, or on the same cluster node (not the
    /// `unknown` node).
    fn related_to<'a>(&'a self, s: &Subject) -> impl Iterator<Item = &'a OpenDowntime> + 'a {
        let mut slots: Vec<usize> = Vec::new();
        for (index, org, key) in index_keys(s) {
            slots.extend(self.index(index).get(org).and_then(|keys| keys.get(key)).into_iter().flatten().copied());
        }
        slots.sort_unstable();
        slots.dedup();
        slots.into_iter().filter_map(|slot| self.slots[slot].as_ref())
    }

    /// Whether `service_id`'s downtime has a member down besides it.
    fn others_down(&self, service_id: i64) -> bool {
        let Some(&(slot, i)) = self.members.get(&service_id) else { return false };
        let mine = self.slots[slot].as_ref().is_some_and(|d| d.members[i].down);
        self.down[slot] > usize::from(mine)
    }
}

enum Index {
    Node,
    Group,
}

/// The keys under which a member makes its downtime findable: its
/// organization with its node unless the node is `unknown`, and with its SLA
/// group when it has one.
fn index_keys(s: &Subject) -> impl Iterator<Item = (Index, &str, &str)> {
    let node = (s.node_id != crate::UNKNOWN_NODE).then_some((Index::Node, s.organization.as_str(), s.node_id.as_str()));
    let group = s.sla_group.as_deref().map(|g| (Index::Group, s.organization.as_str(), g));
    node.into_iter().chain(group)
}

/// Whether a member is down after turning `to`, given whether it was:
/// DOWN is down, silence (UNKNOWN) keeps what it was — no news is not
/// recovery — and every other status is up.
fn down_after(to: Status, was_down: bool) -> bool {
    match to {
        Status::Down => true,
        Status::Unknown => was_down,
        _ => false,
    }
}

/// Decide a batch of transitions in order, applying each one's actions to
/// `open` so the next sees them, and skipping those `skip` says to (asked
/// with the open set as it is at that point). What the engine opens is
/// numbered -1, -2, … in order; [`OpenSet::adopt_ids`] puts in the real ids.
pub fn decide_batch<'a>(
    open: &mut OpenSet,
    batch: impl IntoIterator<Item = (&'a Subject, Status, Status, Millis)>,
    window_ms: i64,
    skip: impl Fn(&OpenSet, &Subject, Millis) -> bool,
) -> Vec<Action> {
    let next = std::cell::Cell::new(0i64);
    let mut all = Vec::new();
    for (s, from, to, at) in batch {
        if skip(open, s, at) {
            continue;
        }
        let actions = on_transition(open, s, from, to, at, window_ms);
        apply(open, &actions, || {
            next.set(next.get() - 1);
            next.get()
        });
        all.extend(actions);
    }
    all
}

/// The actions a transition of `s` from `from` to `to` at `at` causes.
pub fn on_transition(open: &OpenSet, s: &Subject, from: Status, to: Status, at: Millis, window_ms: i64) -> Vec<Action> {
    let mine = open.of_service(s.service_id);
    let member = open.members.get(&s.service_id).and_then(|&(_, i)| mine.map(|d| &d.members[i]));
    let was_down = member.map_or(from == Status::Down, |m| m.down);
    let now_down = down_after(to, was_down);
    let changed = |d: &OpenDowntime| Action::Changed {
        downtime: d.id,
        service_id: s.service_id,
        name: s.name.clone(),
        from,
        to,
        down: now_down,
        at,
    };
    match (was_down, now_down, mine) {
        // turned DOWN again while its downtime is still open
        (false, true, Some(d)) => vec![changed(d)],
        (false, true, None) => {
            let joinable = open
                .related_to(s)
                .filter(|d| d.organization == s.organization && at - d.started_at <= window_ms && at >= d.started_at)
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
            if !open.others_down(s.service_id) {
                v.push(Action::Resolve { downtime: d.id, at });
            }
            v
        }
        (_, _, Some(d)) if from != to => vec![changed(d)],
        _ => Vec::new(),
    }
}

/// Apply actions to the open set (so later transitions see them).
pub fn apply(open: &mut OpenSet, actions: &[Action], new_id: impl Fn() -> i64) {
    for a in actions {
        match a {
            Action::Open { subject, at } => {
                let slot = open.insert(OpenDowntime {
                    id: new_id(),
                    organization: subject.organization.clone(),
                    started_at: *at,
                    members: Vec::new(),
                });
                open.add_member(slot, Member { subject: subject.clone(), down: true });
            }
            Action::Join { downtime, subject, .. } => {
                if let Some(slot) = open.ids.get(downtime).copied() {
                    open.add_member(slot, Member { subject: subject.clone(), down: true });
                }
            }
            Action::Recover { service_id, .. } => open.set_down(*service_id, false),
            Action::Changed { service_id, down, .. } => open.set_down(*service_id, *down),
            Action::Resolve { downtime, .. } => {
                if let Some(slot) = open.ids.get(downtime).copied() {
                    open.remove(slot);
                }
            }
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

/// The most critical of `members` (None for none).
pub fn most_critical(members: &[Criticality]) -> Option<Criticality> {
    members.iter().copied().min_by_key(|c| c.tier())
}

/// The most critical tier that has `severity`: what sets the due times of a
/// severity set by hand (critical → tier 1, major → tier 2, minor → tier 3).
fn severity_tier(severity: &str) -> Option<Criticality> {
    match severity {
        "critical" => Some(Criticality::Critical),
        "major" => Some(Criticality::High),
        "minor" => Some(Criticality::Medium),
        _ => None,
    }
}

/// A downtime's level: the criticality whose tier (SLA seed's table) sets
/// its response and resolution due times and whose [`severity`] is the
/// downtime's. Nothing but the severity and the members is stored, so the
/// level is read back from them: while the severity is the one the members
/// give, the level is the most critical member's (a downtime of low
/// services keeps tier 4's due times though minor also covers tier 3); a
/// severity set by hand to another value has the most critical tier of that
/// severity. Setting a severity by hand is asking for this level, and the
/// due times follow it.
pub fn level(severity: &str, members: &[Criticality]) -> Criticality {
    let top = most_critical(members).unwrap_or(Criticality::Low);
    if self::severity(&[top]) == severity { top } else { severity_tier(severity).unwrap_or(top) }
}

/// The level of a downtime at `level` once a service of `joining`
/// criticality joins: the more critical of the two. So severity and due
/// times follow the most critical member as members join, and a join never
/// lowers them: a severity set by hand stays until a member more severe than
/// it joins (a service of that criticality going down is news the hand-set
/// value did not know of), whereas a member only as severe as the downtime
/// already was, or less, leaves it alone.
pub fn joined(level: Criticality, joining: Criticality) -> Criticality {
    if joining.tier() < level.tier() { joining } else { level }
}

/// The response and resolution due times of a downtime at `level` that
/// started at `started_at`.
pub fn due_times(level: Criticality, started_at: Millis) -> (Millis, Millis) {
    let t = crate::slo::tier(level);
    (started_at + t.response_minutes as i64 * 60_000, started_at + t.resolution_minutes as i64 * 60_000)
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

    /// Ids 1, 2, 3, … for what the engine opens, as the store would give.
    fn ids() -> impl Fn() -> i64 {
        let next = std::cell::Cell::new(0);
        move || {
            next.set(next.get() + 1);
            next.get()
        }
    }

    #[test]
    fn services_that_break_together_share_one_downtime() {
        let mut open = OpenSet::default();
        let id = ids();
        let a = subj(1, "o/p/e/c1", Some("pay"));
        let b = subj(2, "o/p/e/c2", Some("pay"));
        let c = subj(3, "o/p/e/c1", None);
        let d = subj(4, "o/p/e/c9", None);
        let w = 300_000;
        let act = on_transition(&open, &a, Status::Operational, Status::Down, 0, w);
        assert!(matches!(act[0], Action::Open { .. }));
        apply(&mut open, &act, &id);
        // same group, other cluster, within the window: joins
        let act = on_transition(&open, &b, Status::Operational, Status::Down, 60_000, w);
        assert_eq!(act, vec![Action::Join { downtime: 1, subject: b.clone(), at: 60_000 }]);
        apply(&mut open, &act, &id);
        // same cluster as a: joins
        let act = on_transition(&open, &c, Status::Operational, Status::Down, 120_000, w);
        assert!(matches!(act[0], Action::Join { downtime: 1, .. }));
        apply(&mut open, &act, &id);
        // unrelated: its own downtime
        let act = on_transition(&open, &d, Status::Operational, Status::Down, 130_000, w);
        assert!(matches!(act[0], Action::Open { .. }));
        apply(&mut open, &act, &id);
        assert_eq!(open.len(), 2);
        // related but outside the window: its own
        let e = subj(5, "o/p/e/c1", None);
        let act = on_transition(&open, &e, Status::Operational, Status::Down, 400_000, w);
        assert!(matches!(act[0], Action::Open { .. }));
        // recoveries; the last one resolves
        let act = on_transition(&open, &a, Status::Down, Status::Operational, 500_000, w);
        assert_eq!(act.len(), 1);
        apply(&mut open, &act, &id);
        let act = on_transition(&open, &b, Status::Down, Status::Degraded, 510_000, w);
        assert_eq!(log_line(&act[1]).unwrap(), "Status changed from DOWN to DEGRADED while in downtime: s2");
        apply(&mut open, &act, &id);
        let act = on_transition(&open, &c, Status::Down, Status::Operational, 520_000, w);
        assert_eq!(act.last(), Some(&Action::Resolve { downtime: 1, at: 520_000 }));
        assert_eq!(log_line(&act[0]).unwrap(), "Recovered from downtime: s3");
        apply(&mut open, &act, &id);
        assert_eq!(open.len(), 1);
    }

    #[test]
    fn silence_is_not_recovery() {
        let s = subj(1, "o/p/e/c", None);
        let mut open = OpenSet::default();
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
    fn a_recovered_member_going_silent_does_not_hold_the_downtime_open() {
        let a = subj(1, "o/p/e/c", None);
        let b = subj(2, "o/p/e/c", None);
        let mut open = OpenSet::default();
        let id = ids();
        for (s, from, to, at) in [
            (&a, Status::Operational, Status::Down, 0),
            (&b, Status::Operational, Status::Down, 10),
            (&a, Status::Down, Status::Operational, 20),
            (&a, Status::Operational, Status::Unknown, 30),
        ] {
            let act = on_transition(&open, s, from, to, at, 60_000);
            apply(&mut open, &act, &id);
        }
        assert_eq!(open.len(), 1);
        let act = on_transition(&open, &b, Status::Down, Status::Operational, 40, 60_000);
        assert_eq!(act.last(), Some(&Action::Resolve { downtime: 1, at: 40 }), "{act:?}");
        apply(&mut open, &act, &id);
        assert!(open.is_empty());
        // and the index forgot the resolved downtime: a is free to open anew
        let act = on_transition(&open, &a, Status::Unknown, Status::Down, 50, 60_000);
        assert!(matches!(act[..], [Action::Open { .. }]), "{act:?}");
    }

    #[test]
    fn the_index_finds_the_same_downtimes_as_a_scan() {
        // a service turning DOWN joins the oldest related downtime in the
        // window: by group across clusters, by cluster across groups, never
        // across organizations or through the unknown node
        let mut open = OpenSet::default();
        let id = ids();
        let mut other_org = subj(10, "o/p/e/c1", Some("pay"));
        other_org.organization = "x".into();
        let unknown = subj(11, crate::UNKNOWN_NODE, None);
        for (s, at) in
            [(&other_org, 0), (&unknown, 1), (&subj(1, "o/p/e/c1", None), 2), (&subj(2, "o/p/e/c2", Some("pay")), 3)]
        {
            let act = on_transition(&open, s, Status::Operational, Status::Down, at, 1000);
            assert!(matches!(act[..], [Action::Open { .. }]), "{act:?}");
            apply(&mut open, &act, &id);
        }
        assert_eq!(open.len(), 4);
        let joins = |open: &OpenSet, s: &Subject| on_transition(open, s, Status::Operational, Status::Down, 100, 1000);
        assert!(matches!(joins(&open, &subj(20, "o/p/e/c1", Some("pay")))[..], [Action::Join { downtime: 3, .. }]));
        assert!(matches!(joins(&open, &subj(21, "o/p/e/c3", Some("pay")))[..], [Action::Join { downtime: 4, .. }]));
        assert!(matches!(joins(&open, &subj(22, crate::UNKNOWN_NODE, None))[..], [Action::Open { .. }]));
        assert!(matches!(joins(&open, &subj(23, "o/p/e/c9", Some("other")))[..], [Action::Open { .. }]));
        // ids the store assigns later replace the engine's
        open.renumber(|old| (old == 3).then_some(33));
        assert!(matches!(joins(&open, &subj(24, "o/p/e/c1", None))[..], [Action::Join { downtime: 33, .. }]));
        assert_eq!(open.of_service(1).map(|d| d.id), Some(33));
    }

    /// The engine as a plain scan over every member of every open downtime:
    /// slow, obviously right, the oracle of the indexed one.
    mod scan {
        use super::super::*;

        fn related(a: &Subject, b: &Subject) -> bool {
            a.organization == b.organization
                && ((a.sla_group.is_some() && a.sla_group == b.sla_group)
                    || (a.node_id == b.node_id && a.node_id != crate::UNKNOWN_NODE))
        }

        pub fn on_transition(
            open: &[OpenDowntime],
            s: &Subject,
            from: Status,
            to: Status,
            at: Millis,
            w: i64,
        ) -> Vec<Action> {
            let mine = open.iter().find(|d| d.members.iter().any(|m| m.subject.service_id == s.service_id));
            let member = mine.and_then(|d| d.members.iter().find(|m| m.subject.service_id == s.service_id));
            let was_down = member.map_or(from == Status::Down, |m| m.down);
            let now_down = to == Status::Down || (to == Status::Unknown && was_down);
            let changed = |d: &OpenDowntime| Action::Changed {
                downtime: d.id,
                service_id: s.service_id,
                name: s.name.clone(),
                from,
                to,
                down: now_down,
                at,
            };
            match (was_down, now_down, mine) {
                (false, true, Some(d)) => vec![changed(d)],
                (false, true, None) => {
                    match open
                        .iter()
                        .filter(|d| d.organization == s.organization && at - d.started_at <= w && at >= d.started_at)
                        .filter(|d| d.members.iter().any(|m| related(&m.subject, s)))
                        .min_by_key(|d| (d.started_at, d.id))
                    {
                        Some(d) => vec![Action::Join { downtime: d.id, subject: s.clone(), at }],
                        None => vec![Action::Open { subject: s.clone(), at }],
                    }
                }
                (true, false, Some(d)) => {
                    let mut v =
                        vec![Action::Recover { downtime: d.id, service_id: s.service_id, name: s.name.clone(), at }];
                    if to != Status::Operational {
                        v.push(changed(d));
                    }
                    if !d.members.iter().any(|m| m.subject.service_id != s.service_id && m.down) {
                        v.push(Action::Resolve { downtime: d.id, at });
                    }
                    v
                }
                (_, _, Some(d)) if from != to => vec![changed(d)],
                _ => Vec::new(),
            }
        }

        fn member(open: &mut [OpenDowntime], d: i64, id: i64) -> Option<&mut bool> {
            let d = open.iter_mut().find(|x| x.id == d)?;
            d.members.iter_mut().find(|m| m.subject.service_id == id).map(|m| &mut m.down)
        }

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
                        if let Some(m) = member(open, *downtime, *service_id) {
                            *m = false;
                        }
                    }
                    Action::Changed { downtime, service_id, to, .. } => {
                        if let Some(m) = member(open, *downtime, *service_id) {
                            match to {
                                Status::Down => *m = true,
                                Status::Unknown => {}
                                _ => *m = false,
                            }
                        }
                    }
                    Action::Resolve { downtime, .. } => open.retain(|d| d.id != *downtime),
                }
            }
        }
    }

    proptest::proptest! {
        /// Random transitions of services spread over two organizations,
        /// three clusters, the unknown node and two SLA groups: the indexed
        /// engine decides exactly what the scan decides, step by step, also
        /// after its open set is rebuilt from a snapshot (as each pass does).
        #[test]
        fn the_indexed_engine_decides_what_a_scan_decides(
            steps in proptest::collection::vec((0usize..16, 0usize..5, 0i64..120_000, proptest::bool::ANY), 1..200)
        ) {
            let statuses = [Status::Operational, Status::Degraded, Status::Down, Status::Unknown, Status::Maintenance];
            let subjects: Vec<Subject> = (0..16)
                .map(|i| {
                    let node = match i % 4 {
                        3 => crate::UNKNOWN_NODE.to_string(),
                        n => format!("o/p/e/c{n}"),
                    };
                    let mut s = subj(i as i64 + 1, &node, [None, Some("pay"), Some("db")][i % 3]);
                    s.organization = if i % 5 == 4 { "x".into() } else { "o".into() };
                    s
                })
                .collect();
            let mut now_status = vec![Status::Unknown; subjects.len()];
            let mut open = OpenSet::default();
            let mut reference: Vec<OpenDowntime> = Vec::new();
            // both number what they open 1, 2, 3, …: as long as they agree
            // step by step, the same downtimes get the same ids
            let (id_ref, id_new) = (ids(), ids());
            let mut at = 0;
            for (who, st, dt, reload) in steps {
                at += dt;
                let (s, from, to) = (&subjects[who], now_status[who], statuses[st]);
                now_status[who] = to;
                let want = scan::on_transition(&reference, s, from, to, at, 300_000);
                let got = on_transition(&open, s, from, to, at, 300_000);
                proptest::prop_assert_eq!(&got, &want);
                scan::apply(&mut reference, &want, &id_ref);
                apply(&mut open, &got, &id_new);
                if reload {
                    open = OpenSet::new(open.iter().cloned().collect::<Vec<_>>());
                }
            }
            let mut ids_open: Vec<i64> = open.iter().map(|d| d.id).collect();
            ids_open.sort_unstable();
            let mut ids_ref: Vec<i64> = reference.iter().map(|d| d.id).collect();
            ids_ref.sort_unstable();
            proptest::prop_assert_eq!(ids_open, ids_ref);
        }
    }

    const MIN: i64 = 60_000;

    #[test]
    fn severity_and_due_times_follow_the_most_critical_member() {
        use Criticality::*;
        // opened by a medium service: minor, tier 3 (4 h, 3 days)
        let l = level(severity(&[Medium]), &[Medium]);
        assert_eq!((l, severity(&[l])), (Medium, "minor"));
        assert_eq!(due_times(l, 0), (4 * 60 * MIN, 3 * 24 * 60 * MIN));
        // a tier-1 service joins: critical, 15 min and 4 h
        let l = joined(l, Critical);
        assert_eq!((l, severity(&[l])), (Critical, "critical"));
        assert_eq!(due_times(l, 1000), (1000 + 15 * MIN, 1000 + 4 * 60 * MIN));
        // a less critical one joining lowers nothing
        assert_eq!(joined(l, High), Critical);
        // read back from what is stored, the level is the same
        assert_eq!(level("critical", &[Medium, Critical, High]), Critical);
        // within one severity the due times still follow: low, then medium
        let l = joined(level("minor", &[Low]), Medium);
        assert_eq!((severity(&[l]), due_times(l, 0)), ("minor", due_times(Medium, 0)));
        assert_eq!(level("minor", &[Low]), Low, "a low-only downtime keeps tier 4's due times");
    }

    #[test]
    fn a_severity_set_by_hand_sets_the_due_times_and_survives_lesser_joins() {
        use Criticality::*;
        // raised by hand on a downtime of medium services: tier 1's due times
        let l = level("critical", &[Medium]);
        assert_eq!((l, due_times(l, 0)), (Critical, due_times(Critical, 0)));
        // a high service joining does not lower it to major
        let l = joined(l, High);
        assert_eq!((severity(&[l]), level(severity(&[l]), &[Medium, High])), ("critical", Critical));
        // lowered by hand on a downtime of a critical service: tier 3's due times
        let l = level("minor", &[Critical]);
        assert_eq!((l, due_times(l, 0)), (Medium, due_times(Medium, 0)));
        // a low or medium service joining keeps it minor, however critical
        // the members already were
        for c in [Low, Medium] {
            assert_eq!(joined(l, c), Medium);
            assert_eq!(level("minor", &[Critical, c]), Medium);
        }
        // a service more severe than the hand-set value raises it
        assert_eq!(severity(&[joined(l, High)]), "major");
        // setting the severity the members already give changes nothing
        assert_eq!(level("minor", &[Low, Low]), Low);
        assert_eq!(level("major", &[Low, High]), High);
    }

    proptest::proptest! {
        /// The store keeps only the severity and the members and reads the
        /// level back from them before each join: after any mix of joins and
        /// severities set by hand, what it reads back is the level the rules
        /// arrived at.
        #[test]
        fn the_level_read_back_is_the_level_kept(
            first in 0usize..4,
            steps in proptest::collection::vec((proptest::bool::ANY, 0usize..4, 0usize..3), 0..30)
        ) {
            let severities = ["critical", "major", "minor"];
            let mut members = vec![Criticality::ALL[first]];
            let mut kept = Criticality::ALL[first];
            for (join, c, s) in steps {
                if join {
                    kept = joined(kept, Criticality::ALL[c]);
                    members.push(Criticality::ALL[c]);
                } else {
                    kept = level(severities[s], &members);
                }
                proptest::prop_assert_eq!(level(severity(&[kept]), &members), kept);
            }
        }
    }

    #[test]
    fn maintenance_and_unknown_open_nothing() {
        let s = subj(1, "o/p/e/c", None);
        assert!(on_transition(&OpenSet::default(), &s, Status::Operational, Status::Maintenance, 0, 1).is_empty());
        assert!(on_transition(&OpenSet::default(), &s, Status::Operational, Status::Unknown, 0, 1).is_empty());
        assert_eq!(severity(&[Criticality::Low, Criticality::High]), "major");
    }
}
