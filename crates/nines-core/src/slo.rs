//! The SLO engine's arithmetic: exact availability by interval arithmetic over
//! a status timeline, error budgets, burn rates, conditions, SLA-group
//! combination and weighted aggregation. Plain functions over plain types;
//! the caller passes the window and `now`.
//!
//! Availability = good time / (good time + bad time), where the window's
//! time splits into good, bad and excluded by [`Policy`]: DOWN is bad;
//! DEGRADED is good unless the service says otherwise; UNKNOWN (no data,
//! nines or an agent not listening) is excluded by default; MAINTENANCE is
//! excluded by default, as is any time inside a maintenance window that does
//! not count towards the SLA. All sums are integer milliseconds; percentages
//! are compared in integer parts-per-million, so a figure sits exactly on its
//! target when the arithmetic says so.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Millis;
use crate::model::{Criticality, Status};
use crate::timeline::Transition;

/// How a stretch of time counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Good,
    Bad,
    Excluded,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Good => "good",
            Class::Bad => "bad",
            Class::Excluded => "excluded",
        }
    }
    pub fn parse(s: &str) -> Option<Class> {
        match s {
            "good" => Some(Class::Good),
            "bad" => Some(Class::Bad),
            "excluded" => Some(Class::Excluded),
            _ => None,
        }
    }
}

/// How statuses count for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub degraded: Class,
    pub unknown: Class,
    pub maintenance: Class,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { degraded: Class::Good, unknown: Class::Excluded, maintenance: Class::Excluded }
    }
}

impl Policy {
    pub fn classify(&self, s: Status) -> Class {
        match s {
            Status::Operational => Class::Good,
            Status::Down => Class::Bad,
            Status::Degraded => self.degraded,
            Status::Unknown => self.unknown,
            Status::Maintenance => self.maintenance,
        }
    }
}

/// Good, bad and excluded milliseconds of a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    pub good_ms: i64,
    pub bad_ms: i64,
    pub excluded_ms: i64,
}

impl Accounting {
    pub fn add(&mut self, c: Class, ms: i64) {
        match c {
            Class::Good => self.good_ms += ms,
            Class::Bad => self.bad_ms += ms,
            Class::Excluded => self.excluded_ms += ms,
        }
    }
    pub fn merge(&mut self, o: &Accounting) {
        self.good_ms += o.good_ms;
        self.bad_ms += o.bad_ms;
        self.excluded_ms += o.excluded_ms;
    }
    /// Time that counts: the window less excluded time.
    pub fn counted_ms(&self) -> i64 {
        self.good_ms + self.bad_ms
    }
    pub fn total_ms(&self) -> i64 {
        self.good_ms + self.bad_ms + self.excluded_ms
    }
    /// Availability as a ratio in [0, 1]; None when nothing counted.
    pub fn availability(&self) -> Option<f64> {
        let c = self.counted_ms();
        (c > 0).then(|| self.good_ms as f64 / c as f64)
    }
    /// Is availability below `target` (in ppm of 100 %)? Exact.
    pub fn below(&self, target: Target) -> bool {
        let c = self.counted_ms() as i128;
        c > 0 && (self.good_ms as i128) * 1_000_000 < (target.ppm() as i128) * c
    }
}

/// A target such as 99.9 %, kept in parts per million (999000) so
/// comparisons are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target(i64);

impl Target {
    /// From a percentage; 4 decimal places of a percent are kept.
    pub fn from_percent(p: f64) -> Option<Target> {
        (p.is_finite() && p > 0.0 && p < 100.0).then(|| Target((p * 10_000.0).round() as i64))
    }
    pub fn ppm(self) -> i64 {
        self.0
    }
    pub fn percent(self) -> f64 {
        self.0 as f64 / 10_000.0
    }
    /// The allowed bad share in ppm (1 - target).
    pub fn budget_ppm(self) -> i64 {
        1_000_000 - self.0
    }
}

/// A half-open span of time `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: Millis,
    pub to: Millis,
}

/// Spans sorted by start with overlapping and touching ones joined.
pub fn merge_spans(mut v: Vec<Span>) -> Vec<Span> {
    v.sort_by_key(|s| s.from);
    let mut merged: Vec<Span> = Vec::with_capacity(v.len());
    for s in v {
        match merged.last_mut() {
            Some(l) if s.from <= l.to => l.to = l.to.max(s.to),
            _ => merged.push(s),
        }
    }
    merged
}

/// The class of a service's time as a step function: `initial` before the
/// first change, then each change from its instant on.
pub fn classes(initial: Status, transitions: &[Transition], p: &Policy) -> (Class, Vec<(Millis, Class)>) {
    let init = p.classify(initial);
    let mut out: Vec<(Millis, Class)> = Vec::with_capacity(transitions.len());
    let mut cur = init;
    for t in transitions {
        let c = p.classify(t.to);
        if c != cur {
            out.push((t.at, c));
            cur = c;
        }
    }
    (init, out)
}

/// Account `[from, to)` of a class step function, treating time inside
/// `excluded` spans (sorted, non-overlapping) as excluded whatever its class.
pub fn account_classes(initial: Class, changes: &[(Millis, Class)], w: Span, excluded: &[Span]) -> Accounting {
    let mut acc = Accounting::default();
    if w.to <= w.from {
        return acc;
    }
    let start = changes.partition_point(|(at, _)| *at <= w.from);
    let mut cur = if start == 0 { initial } else { changes[start - 1].1 };
    let mut t = w.from;
    let add = |acc: &mut Accounting, a: Millis, b: Millis, c: Class| {
        if b <= a {
            return;
        }
        // cut [a, b) by the excluded spans
        let mut pos = a;
        let i0 = excluded.partition_point(|s| s.to <= a);
        for s in &excluded[i0..] {
            if s.from >= b {
                break;
            }
            let xs = s.from.max(pos);
            let xe = s.to.min(b);
            if xs > pos {
                acc.add(c, xs - pos);
            }
            if xe > xs {
                acc.add(Class::Excluded, xe - xs);
            }
            pos = pos.max(xe);
        }
        if b > pos {
            acc.add(c, b - pos);
        }
    };
    for &(at, c) in &changes[start..] {
        if at >= w.to {
            break;
        }
        add(&mut acc, t, at, cur);
        t = at;
        cur = c;
    }
    add(&mut acc, t, w.to, cur);
    acc
}

/// Account a service's window straight from its transitions.
pub fn account(initial: Status, transitions: &[Transition], w: Span, p: &Policy, excluded: &[Span]) -> Accounting {
    let (init, ch) = classes(initial, transitions, p);
    account_classes(init, &ch, w, excluded)
}

/// How an SLA group's members combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMode {
    /// Good while every member with data is good (the default).
    All,
    /// Good while any member is good.
    Any,
    /// Good while at least K members are good.
    Quorum(u32),
}

impl GroupMode {
    pub fn combine(self, good: u32, bad: u32, excluded: u32) -> Class {
        match self {
            GroupMode::All => {
                if bad > 0 {
                    Class::Bad
                } else if good > 0 {
                    Class::Good
                } else {
                    Class::Excluded
                }
            }
            GroupMode::Any => {
                if good > 0 {
                    Class::Good
                } else if bad > 0 {
                    Class::Bad
                } else {
                    Class::Excluded
                }
            }
            GroupMode::Quorum(k) => {
                if good >= k {
                    Class::Good
                } else if good + excluded < k {
                    // the quorum cannot be reached even if the silent ones were good
                    Class::Bad
                } else {
                    Class::Excluded
                }
            }
        }
    }
}

/// Combine members' class step functions into the group's. Cost grows with
/// the members' changes, not with time.
pub fn combine_group(members: &[(Class, Vec<(Millis, Class)>)], mode: GroupMode) -> (Class, Vec<(Millis, Class)>) {
    let mut cur: Vec<Class> = members.iter().map(|(c, _)| *c).collect();
    let count = |cur: &[Class]| {
        let mut g = (0, 0, 0);
        for c in cur {
            match c {
                Class::Good => g.0 += 1,
                Class::Bad => g.1 += 1,
                Class::Excluded => g.2 += 1,
            }
        }
        mode.combine(g.0, g.1, g.2)
    };
    let initial = count(&cur);
    let mut events: Vec<(Millis, usize, Class)> =
        members.iter().enumerate().flat_map(|(i, (_, ch))| ch.iter().map(move |(at, c)| (*at, i, *c))).collect();
    events.sort_by_key(|e| (e.0, e.1));
    let mut out = Vec::new();
    let mut last = initial;
    let mut i = 0;
    while i < events.len() {
        let at = events[i].0;
        while i < events.len() && events[i].0 == at {
            cur[events[i].1] = events[i].2;
            i += 1;
        }
        let g = count(&cur);
        if g != last {
            out.push((at, g));
            last = g;
        }
    }
    (initial, out)
}

/// Thresholds for budget states (percent of the budget consumed), and how
/// much counted time a window needs before its budget means anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub warning_percent: f64,
    pub critical_percent: f64,
    /// Below this much counted time (good + bad) in a window, its budget
    /// state is `insufficient_data`: no conditions and no burn alerts (a
    /// 27-second blip minutes after install is not a breached SLO).
    pub min_known_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { warning_percent: 50.0, critical_percent: 90.0, min_known_ms: 0 }
    }
}

impl Thresholds {
    /// Does the window have enough counted time for budget figures to hold?
    pub fn enough(&self, acc: &Accounting) -> bool {
        acc.counted_ms() >= self.min_known_ms && acc.counted_ms() > 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BudgetState {
    Ok,
    Warning,
    Critical,
    Exhausted,
    /// Less counted time than [`Thresholds::min_known_ms`] in the window.
    #[serde(rename = "insufficient_data")]
    InsufficientData,
}

/// The error budget of a window at a target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBudget {
    pub total_seconds: f64,
    pub consumed_seconds: f64,
    /// Never below zero: an exhausted budget says so in `overspent_times`.
    pub remaining_seconds: f64,
    /// At most 100.
    pub consumed_percent: f64,
    pub state: BudgetState,
    /// How many times the whole budget was consumed, when it is exhausted
    /// (`2.5`: two and a half budgets); None otherwise, and None when the
    /// budget is zero (nothing counted yet).
    pub overspent_times: Option<f64>,
}

pub fn error_budget(acc: &Accounting, target: Target, th: Thresholds) -> ErrorBudget {
    // budget = counted × (1 − target), kept as an exact fraction of ms × ppm
    let total_ms_ppm = acc.counted_ms() as i128 * target.budget_ppm() as i128;
    let consumed_ms_ppm = acc.bad_ms as i128 * 1_000_000;
    let consumed_percent = if total_ms_ppm == 0 {
        if acc.bad_ms > 0 { f64::INFINITY } else { 0.0 }
    } else {
        consumed_ms_ppm as f64 * 100.0 / total_ms_ppm as f64
    };
    let exhausted = consumed_ms_ppm >= total_ms_ppm && acc.bad_ms > 0;
    let state = if !th.enough(acc) {
        BudgetState::InsufficientData
    } else if exhausted {
        BudgetState::Exhausted
    } else if consumed_percent >= th.critical_percent {
        BudgetState::Critical
    } else if consumed_percent >= th.warning_percent {
        BudgetState::Warning
    } else {
        BudgetState::Ok
    };
    let total_seconds = total_ms_ppm as f64 / 1e9;
    let consumed_seconds = acc.bad_ms as f64 / 1000.0;
    ErrorBudget {
        total_seconds,
        consumed_seconds,
        remaining_seconds: (total_seconds - consumed_seconds).max(0.0),
        consumed_percent: consumed_percent.min(100.0),
        state,
        // too little history: no multiple of a budget that is itself a few milliseconds
        overspent_times: (state == BudgetState::Exhausted && total_ms_ppm > 0)
            .then(|| consumed_ms_ppm as f64 / total_ms_ppm as f64),
    }
}

/// Burn rate: how fast the budget burns in a window, as a multiple of the
/// rate that would use exactly the whole budget (1.0). None without data.
pub fn burn_rate(acc: &Accounting, target: Target) -> Option<f64> {
    let c = acc.counted_ms() as i128;
    (c > 0).then(|| (acc.bad_ms as i128 * 1_000_000) as f64 / (c * target.budget_ppm() as i128) as f64)
}

/// The burn-rate windows nines evaluates, in milliseconds, with their names.
pub const BURN_WINDOWS: [(&str, i64); 7] = [
    ("5m", 300_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("6h", 21_600_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
];

/// Burn rates by window name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BurnRates {
    #[serde(rename = "5m")]
    pub m5: Option<f64>,
    #[serde(rename = "30m")]
    pub m30: Option<f64>,
    #[serde(rename = "1h")]
    pub h1: Option<f64>,
    #[serde(rename = "2h")]
    pub h2: Option<f64>,
    #[serde(rename = "6h")]
    pub h6: Option<f64>,
    #[serde(rename = "1d")]
    pub d1: Option<f64>,
    #[serde(rename = "3d")]
    pub d3: Option<f64>,
}

impl BurnRates {
    pub fn set(&mut self, window: &str, v: Option<f64>) {
        match window {
            "5m" => self.m5 = v,
            "30m" => self.m30 = v,
            "1h" => self.h1 = v,
            "2h" => self.h2 = v,
            "6h" => self.h6 = v,
            "1d" => self.d1 = v,
            "3d" => self.d3 = v,
            _ => {}
        }
    }
    pub fn get(&self, window: &str) -> Option<f64> {
        match window {
            "5m" => self.m5,
            "30m" => self.m30,
            "1h" => self.h1,
            "2h" => self.h2,
            "6h" => self.h6,
            "1d" => self.d1,
            "3d" => self.d3,
            _ => None,
        }
    }
}

/// Multi-window, multi-burn-rate alerting: page on 14.4× over 1 h and 5 min
/// or 6× over 6 h and 30 min; ticket on 3× over 1 d and 2 h or 1× over 3 d
/// and 6 h. Both windows of a pair must burn at the rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BurnAlerts {
    pub page: bool,
    pub ticket: bool,
}

pub fn burn_alerts(b: &BurnRates) -> BurnAlerts {
    let at_least = |v: Option<f64>, x: f64| v.is_some_and(|v| v >= x);
    BurnAlerts {
        page: (at_least(b.h1, 14.4) && at_least(b.m5, 14.4)) || (at_least(b.h6, 6.0) && at_least(b.m30, 6.0)),
        ticket: (at_least(b.d1, 3.0) && at_least(b.h2, 3.0)) || (at_least(b.d3, 1.0) && at_least(b.h6, 1.0)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, PartialOrd, Ord)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Condition {
    SloWarning,
    SloBreach,
    SlaBreach,
}

/// Conditions of a window: SLO_BREACH / SLA_BREACH when availability is below
/// the target; SLO_WARNING when the SLO budget consumed reached the warning
/// threshold without a breach.
pub fn conditions(acc: &Accounting, slo: Target, sla: Target, th: Thresholds) -> Vec<Condition> {
    let mut out = Vec::new();
    if !th.enough(acc) {
        return out;
    }
    let budget = error_budget(acc, slo, th);
    let slo_breach = acc.below(slo);
    if !slo_breach && acc.bad_ms > 0 && budget.consumed_percent >= th.warning_percent {
        out.push(Condition::SloWarning);
    }
    if slo_breach {
        out.push(Condition::SloBreach);
    }
    if acc.below(sla) {
        out.push(Condition::SlaBreach);
    }
    out
}

/// Weight of a service in aggregates up the hierarchy: tier 1 counts 8×,
/// tier 2 4×, tier 3 2×, tier 4 1×.
pub fn weight(c: Criticality) -> i64 {
    match c {
        Criticality::Critical => 8,
        Criticality::High => 4,
        Criticality::Medium => 2,
        Criticality::Low => 1,
    }
}

/// Weighted sum of accountings: each service's milliseconds times its weight,
/// divided by the total weight. Availability of the result is the weighted
/// mean of the members' availabilities, weighted by criticality and by the
/// time that counted.
pub fn weighted(members: &[(Accounting, i64)]) -> Accounting {
    let wsum: i128 = members.iter().map(|(_, w)| *w as i128).sum();
    if wsum == 0 {
        return Accounting::default();
    }
    let mut g = 0i128;
    let mut b = 0i128;
    let mut e = 0i128;
    for (a, w) in members {
        g += a.good_ms as i128 * *w as i128;
        b += a.bad_ms as i128 * *w as i128;
        e += a.excluded_ms as i128 * *w as i128;
    }
    Accounting { good_ms: (g / wsum) as i64, bad_ms: (b / wsum) as i64, excluded_ms: (e / wsum) as i64 }
}

/// SLA tiers of the SLA seed: uptime target, response and resolution times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    pub tier: u8,
    pub criticality: Criticality,
    pub uptime_target: f64,
    pub response_minutes: u32,
    pub resolution_minutes: u32,
}

pub fn tier(c: Criticality) -> Tier {
    let (uptime_target, response_minutes, resolution_minutes) = match c {
        Criticality::Critical => (99.99, 15, 4 * 60),
        Criticality::High => (99.9, 60, 8 * 60),
        Criticality::Medium => (99.5, 4 * 60, 3 * 24 * 60),
        Criticality::Low => (99.0, 24 * 60, 5 * 24 * 60),
    };
    Tier { tier: c.tier(), criticality: c, uptime_target, response_minutes, resolution_minutes }
}

/// Start of the UTC day containing `t`.
pub fn day_floor(t: Millis) -> Millis {
    t.div_euclid(86_400_000) * 86_400_000
}

pub const DAY_MS: i64 = 86_400_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Cause;
    use proptest::prelude::*;

    fn tr(at: Millis, from: Status, to: Status) -> Transition {
        Transition { at, from, to, cause: Cause::Report }
    }

    #[test]
    fn too_little_history_is_insufficient_data_with_no_condition() {
        let th = Thresholds { min_known_ms: 60 * 60_000, ..Thresholds::default() };
        let slo = Target::from_percent(99.9).unwrap();
        let sla = Target::from_percent(99.0).unwrap();
        // a 27-second blip in the first 10 minutes
        let young = Accounting { good_ms: 573_000, bad_ms: 27_000, excluded_ms: 0 };
        let b = error_budget(&young, slo, th);
        assert_eq!(b.state, BudgetState::InsufficientData);
        assert_eq!(b.overspent_times, None, "no multiple of a budget of milliseconds");
        assert!(conditions(&young, slo, sla, th).is_empty());
        assert!(th.enough(&Accounting { good_ms: 3_600_000, ..young }));
        // excluded time is not known time
        assert!(!th.enough(&Accounting { good_ms: 1_000, bad_ms: 0, excluded_ms: 10 * 3_600_000 }));
        // the same figures with the history reached: breached, and the budget says by how many times
        let grown = Accounting { good_ms: 3_573_000, bad_ms: 27_000, excluded_ms: 0 };
        let b = error_budget(&grown, slo, th);
        assert_eq!(b.state, BudgetState::Exhausted);
        assert_eq!((b.remaining_seconds, b.consumed_percent), (0.0, 100.0));
        assert_eq!(b.overspent_times, Some(7.5));
        assert_eq!(conditions(&grown, slo, sla, th), vec![Condition::SloBreach]);
        // a budget not exhausted has no overspend
        assert_eq!(
            error_budget(&Accounting { good_ms: 3_600_000, ..Default::default() }, slo, th).overspent_times,
            None
        );
    }

    #[test]
    fn forty_three_minutes_twelve_seconds_in_thirty_days_is_99_9_and_the_whole_budget() {
        let w = Span { from: 0, to: 30 * DAY_MS };
        let down_at = 10 * DAY_MS;
        let trs = [
            tr(down_at, Status::Operational, Status::Down),
            tr(down_at + 2_592_000, Status::Down, Status::Operational),
        ];
        let acc = account(Status::Operational, &trs, w, &Policy::default(), &[]);
        assert_eq!(acc.bad_ms, 43 * 60_000 + 12_000);
        assert_eq!(acc.availability().unwrap(), 0.999);
        let slo = Target::from_percent(99.9).unwrap();
        let b = error_budget(&acc, slo, Thresholds::default());
        assert_eq!(b.total_seconds, 2592.0);
        assert_eq!(b.consumed_percent, 100.0);
        assert_eq!(b.remaining_seconds, 0.0);
        assert_eq!(b.state, BudgetState::Exhausted);
        // exactly on target is not a breach
        assert!(!acc.below(slo));
        let sla = Target::from_percent(99.0).unwrap();
        assert_eq!(conditions(&acc, slo, sla, Thresholds::default()), vec![Condition::SloWarning]);
        // one more second is
        let trs2 = [
            tr(down_at, Status::Operational, Status::Down),
            tr(down_at + 2_593_000, Status::Down, Status::Operational),
        ];
        let acc2 = account(Status::Operational, &trs2, w, &Policy::default(), &[]);
        assert_eq!(conditions(&acc2, slo, sla, Thresholds::default()), vec![Condition::SloBreach]);
    }

    #[test]
    fn unknown_and_maintenance_are_excluded_degraded_is_good_by_default() {
        let trs = [
            tr(100, Status::Unknown, Status::Operational),
            tr(200, Status::Operational, Status::Degraded),
            tr(300, Status::Degraded, Status::Maintenance),
            tr(400, Status::Maintenance, Status::Down),
            tr(450, Status::Down, Status::Operational),
        ];
        let acc = account(Status::Unknown, &trs, Span { from: 0, to: 500 }, &Policy::default(), &[]);
        assert_eq!(acc, Accounting { good_ms: 250, bad_ms: 50, excluded_ms: 200 });
        let strict = Policy { degraded: Class::Bad, ..Policy::default() };
        let acc = account(Status::Unknown, &trs, Span { from: 0, to: 500 }, &strict, &[]);
        assert_eq!(acc, Accounting { good_ms: 150, bad_ms: 150, excluded_ms: 200 });
        // a maintenance window that does not count excludes even DOWN time
        let acc = account(
            Status::Unknown,
            &trs,
            Span { from: 0, to: 500 },
            &Policy::default(),
            &[Span { from: 420, to: 440 }],
        );
        assert_eq!(acc, Accounting { good_ms: 250, bad_ms: 30, excluded_ms: 220 });
    }

    #[test]
    fn groups_combine_by_mode() {
        let a = (Class::Good, vec![(10, Class::Bad), (20, Class::Good)]);
        let b = (Class::Good, vec![(15, Class::Bad), (30, Class::Good)]);
        let c = (Class::Excluded, vec![]);
        let all = combine_group(&[a.clone(), b.clone(), c.clone()], GroupMode::All);
        assert_eq!(all, (Class::Good, vec![(10, Class::Bad), (30, Class::Good)]));
        let any = combine_group(&[a.clone(), b.clone(), c.clone()], GroupMode::Any);
        assert_eq!(any, (Class::Good, vec![(15, Class::Bad), (20, Class::Good)]));
        let q2 = combine_group(&[a.clone(), b.clone(), c], GroupMode::Quorum(2));
        // 2 of 3: from 10 only b is good and c is silent: cannot tell; from 15 none is good
        assert_eq!(
            q2,
            (Class::Good, vec![(10, Class::Excluded), (15, Class::Bad), (20, Class::Excluded), (30, Class::Good)])
        );
    }

    #[test]
    fn burn_alert_pairs() {
        let mut b = BurnRates { h1: Some(20.0), ..Default::default() };
        assert_eq!(burn_alerts(&b), BurnAlerts { page: false, ticket: false }, "both windows must burn");
        b.m5 = Some(14.4);
        assert!(burn_alerts(&b).page);
        let t = BurnRates { d3: Some(1.0), h6: Some(1.2), ..Default::default() };
        assert_eq!(burn_alerts(&t), BurnAlerts { page: false, ticket: true });
        let acc = Accounting { good_ms: 9_990, bad_ms: 10, excluded_ms: 0 };
        assert!((burn_rate(&acc, Target::from_percent(99.9).unwrap()).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn weighted_aggregation_favours_critical() {
        let crit = Accounting { good_ms: 900, bad_ms: 100, excluded_ms: 0 };
        let low = Accounting { good_ms: 1000, bad_ms: 0, excluded_ms: 0 };
        let agg = weighted(&[(crit, weight(Criticality::Critical)), (low, weight(Criticality::Low))]);
        assert_eq!(agg.bad_ms, 88); // 800/9
        assert!(agg.availability().unwrap() < 0.92);
    }

    fn arb_status() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Operational),
            Just(Status::Degraded),
            Just(Status::Down),
            Just(Status::Maintenance),
            Just(Status::Unknown)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Interval arithmetic equals counting second by second.
        #[test]
        fn interval_arithmetic_equals_brute_force(
            steps in prop::collection::vec((1i64..50, arb_status()), 0..25),
            from in 0i64..200, len in 0i64..600,
            maint in prop::collection::vec((0i64..700, 1i64..60), 0..4),
            degraded_bad in any::<bool>(),
        ) {
            let mut trs = Vec::new();
            let mut t = 0;
            let mut cur = Status::Unknown;
            for (gap, s) in steps {
                t += gap;
                if s != cur { trs.push(tr(t, cur, s)); cur = s; }
            }
            let p = Policy { degraded: if degraded_bad { Class::Bad } else { Class::Good }, ..Policy::default() };
            let mut spans: Vec<Span> = maint.iter().map(|(a, l)| Span { from: *a, to: a + l }).collect();
            spans.sort_by_key(|s| s.from);
            let mut merged: Vec<Span> = Vec::new();
            for s in spans { match merged.last_mut() { Some(l) if s.from <= l.to => l.to = l.to.max(s.to), _ => merged.push(s) } }
            let w = Span { from, to: from + len };
            let acc = account(Status::Unknown, &trs, w, &p, &merged);
            let mut brute = Accounting::default();
            for x in w.from..w.to {
                let s = crate::timeline::status_at(Status::Unknown, &trs, x);
                let c = if merged.iter().any(|m| m.from <= x && x < m.to) { Class::Excluded } else { p.classify(s) };
                brute.add(c, 1);
            }
            prop_assert_eq!(acc, brute);
        }
    }
}

/// Milliseconds spent in each status over a span: what daily and monthly
/// period results store. Independent of any policy, so a changed policy or
/// target needs no recomputation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDurations {
    pub operational_ms: i64,
    pub degraded_ms: i64,
    pub down_ms: i64,
    pub maintenance_ms: i64,
    pub unknown_ms: i64,
    /// Time before the service existed (never counted).
    pub absent_ms: i64,
}

impl StatusDurations {
    pub fn add(&mut self, s: Status, ms: i64) {
        match s {
            Status::Operational => self.operational_ms += ms,
            Status::Degraded => self.degraded_ms += ms,
            Status::Down => self.down_ms += ms,
            Status::Maintenance => self.maintenance_ms += ms,
            Status::Unknown => self.unknown_ms += ms,
        }
    }
    pub fn merge(&mut self, o: &StatusDurations) {
        self.operational_ms += o.operational_ms;
        self.degraded_ms += o.degraded_ms;
        self.down_ms += o.down_ms;
        self.maintenance_ms += o.maintenance_ms;
        self.unknown_ms += o.unknown_ms;
        self.absent_ms += o.absent_ms;
    }
    pub fn classify(&self, p: &Policy) -> Accounting {
        let mut a = Accounting::default();
        for (s, ms) in [
            (Status::Operational, self.operational_ms),
            (Status::Degraded, self.degraded_ms),
            (Status::Down, self.down_ms),
            (Status::Maintenance, self.maintenance_ms),
            (Status::Unknown, self.unknown_ms),
        ] {
            a.add(p.classify(s), ms);
        }
        a.add(Class::Excluded, self.absent_ms);
        a
    }
}

/// Time per status over `w` for a service that exists from `created` on:
/// `initial` is the status in effect at `w.from` (before any of
/// `transitions`, which are sorted and may start before `w.from`).
pub fn durations(initial: Status, transitions: &[Transition], w: Span, created: Millis) -> StatusDurations {
    let mut d = StatusDurations::default();
    if w.to <= w.from {
        return d;
    }
    let from = w.from.max(created).min(w.to);
    d.absent_ms = from - w.from;
    let start = transitions.partition_point(|t| t.at <= from);
    let mut cur = if start == 0 { initial } else { transitions[start - 1].to };
    let mut t = from;
    for tr in &transitions[start..] {
        if tr.at >= w.to {
            break;
        }
        d.add(cur, tr.at - t);
        t = tr.at;
        cur = tr.to;
    }
    d.add(cur, w.to - t);
    d
}

/// The status in effect at `at` given the status at `base` (≤ `at`) and the
/// transitions from `base` on.
pub fn status_after(base_status: Status, transitions: &[Transition], at: Millis) -> Status {
    let idx = transitions.partition_point(|t| t.at <= at);
    if idx == 0 { base_status } else { transitions[idx - 1].to }
}

#[cfg(test)]
mod duration_tests {
    use super::*;
    use crate::timeline::Cause;
    use proptest::prelude::*;

    fn arb() -> impl Strategy<Value = Status> {
        prop_oneof![
            Just(Status::Operational),
            Just(Status::Degraded),
            Just(Status::Down),
            Just(Status::Unknown),
            Just(Status::Maintenance)
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Per-status durations summed over consecutive days equal a
        /// second-by-second walk of the whole span, and so do they classified
        /// by any policy: stored daily results give the live figure. The walk
        /// reads the creation rule in words: before the service existed an
        /// instant is absent (and excluded whatever the policy); from then on
        /// it has the timeline's status (`initial` before the first
        /// transition, which may come before the creation instant).
        #[test]
        fn daily_durations_add_up_to_a_second_by_second_walk(
            initial in arb(),
            base in 0i64..150,
            steps in prop::collection::vec((1i64..40, arb()), 0..30),
            created in prop_oneof![1 => Just(i64::MIN), 6 => 0i64..200],
            from in 0i64..150, len in 0i64..300, day in 7i64..60,
            classes in (0usize..3, 0usize..3, 0usize..3),
        ) {
            let mut trs = Vec::new();
            let mut t = base;
            let mut cur = initial;
            for (gap, s) in steps {
                t += gap;
                if s != cur { trs.push(Transition { at: t, from: cur, to: s, cause: Cause::Report }); cur = s; }
            }
            let pick = |i: usize| [Class::Good, Class::Bad, Class::Excluded][i];
            let p = Policy { degraded: pick(classes.0), unknown: pick(classes.1), maintenance: pick(classes.2) };
            let w = Span { from, to: from + len };
            let mut sum = StatusDurations::default();
            let mut d0 = w.from.div_euclid(day) * day;
            while d0 < w.to {
                let part = Span { from: d0.max(w.from), to: (d0 + day).min(w.to) };
                sum.merge(&durations(initial, &trs, part, created));
                d0 += day;
            }
            // the walk: one unit at a time, the status by a plain scan
            let mut walk = StatusDurations::default();
            let mut acc = Accounting::default();
            for x in w.from..w.to {
                if x < created {
                    walk.absent_ms += 1;
                    acc.excluded_ms += 1;
                    continue;
                }
                let s = trs.iter().filter(|tr| tr.at <= x).fold(initial, |_, tr| tr.to);
                let (field, class) = match s {
                    Status::Operational => (&mut walk.operational_ms, Class::Good),
                    Status::Degraded => (&mut walk.degraded_ms, p.degraded),
                    Status::Down => (&mut walk.down_ms, Class::Bad),
                    Status::Maintenance => (&mut walk.maintenance_ms, p.maintenance),
                    Status::Unknown => (&mut walk.unknown_ms, p.unknown),
                };
                *field += 1;
                match class {
                    Class::Good => acc.good_ms += 1,
                    Class::Bad => acc.bad_ms += 1,
                    Class::Excluded => acc.excluded_ms += 1,
                }
            }
            prop_assert_eq!(sum, walk);
            prop_assert_eq!(sum.classify(&p), acc);
        }
    }
}

/// Timeslice budgeting (OpenSLO `Timeslices`): the window is cut into slices
/// of `slice_ms` from its start; a slice is good when its own availability
/// reaches `slice_target` (a ratio), bad when not, excluded when nothing in it
/// counted. Each slice counts with its length, so budgets stay in seconds.
pub fn timeslices(
    initial: Status,
    transitions: &[Transition],
    w: Span,
    created: Millis,
    p: &Policy,
    slice_ms: i64,
    slice_target: f64,
) -> Accounting {
    let mut acc = Accounting::default();
    if slice_ms <= 0 {
        return acc;
    }
    let mut s = w.from;
    while s < w.to {
        let e = (s + slice_ms).min(w.to);
        let a = durations(initial, transitions, Span { from: s, to: e }, created).classify(p);
        let class = match a.availability() {
            None => Class::Excluded,
            Some(r) if r >= slice_target => Class::Good,
            Some(_) => Class::Bad,
        };
        acc.add(class, e - s);
        s = e;
    }
    acc
}

#[cfg(test)]
mod timeslice_tests {
    use super::*;
    use crate::timeline::Cause;

    #[test]
    fn a_slice_is_good_when_it_reaches_its_target() {
        // 3 slices of 100 ms: the middle one is 10 % down
        let trs = [
            Transition { at: 0, from: Status::Unknown, to: Status::Operational, cause: Cause::Report },
            Transition { at: 150, from: Status::Operational, to: Status::Down, cause: Cause::Report },
            Transition { at: 160, from: Status::Down, to: Status::Operational, cause: Cause::Report },
        ];
        let w = Span { from: 0, to: 300 };
        let p = Policy::default();
        let strict = timeslices(Status::Unknown, &trs, w, 0, &p, 100, 0.95);
        assert_eq!(strict, Accounting { good_ms: 200, bad_ms: 100, excluded_ms: 0 });
        let lenient = timeslices(Status::Unknown, &trs, w, 0, &p, 100, 0.9);
        assert_eq!(lenient, Accounting { good_ms: 300, bad_ms: 0, excluded_ms: 0 });
    }
}
