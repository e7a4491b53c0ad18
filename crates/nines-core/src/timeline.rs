//! The status timeline: how observations become transitions.
//!
//! A service has up to three **sources**, each with a state of its own:
//! health pushes, its checks (the probe engine's worst check), and the
//! operator's workload sync. A source's status at instant `t` is the status
//! of its latest observation at or before `t` (ties broken by arrival order).
//!
//! Only the push source goes stale: silence after a push at `r` turns the
//! push source UNKNOWN at `r + unknown_after` and DOWN at `r + down_after`,
//! unless another push comes first. Silence is only counted while nines
//! listens: it starts at `max(r, floor)` where `floor` is when the current
//! watch began. These stale marks are stored as synthetic observations.
//!
//! The service's status is the worst of its **live** sources (DOWN over
//! DEGRADED over UNKNOWN over MAINTENANCE over OPERATIONAL). A source is live
//! once it has reported; a push source that has gone stale stops being live
//! as soon as another source speaks for the service (a cron job that stopped
//! pushing does not turn a service with green checks DOWN), and it is the
//! service's status when it is the only source. No live source: UNKNOWN.
//!
//! Transitions are the service's status collapsed to its change points. The
//! stored timeline is always equal to [`rebuild`] over the stored
//! observations; the incremental functions [`on_report`] and [`on_tick`] are
//! what the ingest path and the stale detector run, and the property tests
//! below check they agree with [`rebuild`] and with a brute-force reading of
//! the rule whatever the order of ticks.

use crate::clock::Millis;
use crate::model::Status;
use serde::{Deserialize, Serialize};

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// A pushed health report.
    Report,
    /// Silence past the stale thresholds.
    Stale,
    /// An active probe's result.
    Probe,
    /// The operator's workload sync.
    Operator,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Report => "report",
            Cause::Stale => "stale",
            Cause::Probe => "probe",
            Cause::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Cause> {
        Some(match s {
            "report" => Cause::Report,
            "stale" => Cause::Stale,
            "probe" => Cause::Probe,
            "operator" => Cause::Operator,
            _ => return None,
        })
    }
    /// The source an observation with this cause belongs to.
    pub fn source(self) -> SourceKind {
        match self {
            Cause::Report | Cause::Stale => SourceKind::Push,
            Cause::Probe => SourceKind::Checks,
            Cause::Operator => SourceKind::Operator,
        }
    }
}

/// The sources that speak for one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Push,
    Checks,
    Operator,
}

/// The status of each source of a service (None: it never reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sources {
    pub push: Option<Status>,
    pub checks: Option<Status>,
    pub operator: Option<Status>,
}

impl Sources {
    pub fn get(&self, k: SourceKind) -> Option<Status> {
        match k {
            SourceKind::Push => self.push,
            SourceKind::Checks => self.checks,
            SourceKind::Operator => self.operator,
        }
    }
    pub fn set(&mut self, k: SourceKind, s: Status) {
        match k {
            SourceKind::Push => self.push = Some(s),
            SourceKind::Checks => self.checks = Some(s),
            SourceKind::Operator => self.operator = Some(s),
        }
    }
}

/// The rule that makes a service's status out of its sources: the worst of
/// the live ones, where a stale push source is live only while no other
/// source has reported. UNKNOWN when none is live.
pub fn combine(sources: &Sources, push_stale: bool) -> Status {
    let others = sources.checks.is_some() || sources.operator.is_some();
    let push = if push_stale && others { None } else { sources.push };
    [push, sources.checks, sources.operator].into_iter().flatten().reduce(Status::worst).unwrap_or(Status::Unknown)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub at: Millis,
    pub status: Status,
    pub cause: Cause,
}

impl Observation {
    pub fn is_stale_mark(&self) -> bool {
        self.cause == Cause::Stale
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at: Millis,
    pub from: Status,
    pub to: Status,
    pub cause: Cause,
}

/// Stale thresholds for services whose health is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleRule {
    pub unknown_after_ms: i64,
    pub down_after_ms: i64,
}

impl Default for StaleRule {
    /// The SLA seed: UNKNOWN after 2 minutes of silence, DOWN after 5.
    fn default() -> Self {
        StaleRule { unknown_after_ms: 120_000, down_after_ms: 300_000 }
    }
}

impl StaleRule {
    /// The stale marks that silence after a push at `last_push` produces
    /// strictly before `next_push` (if any) and not after `now`.
    /// Returns `(at, status)` in time order.
    pub fn marks(
        &self,
        last_push: Millis,
        next_push: Option<Millis>,
        now: Millis,
        floor: Millis,
    ) -> Vec<(Millis, Status)> {
        let start = last_push.max(floor);
        let mut out = Vec::with_capacity(2);
        let u = start.saturating_add(self.unknown_after_ms);
        let d = start.saturating_add(self.down_after_ms);
        let fits = |t: Millis| t <= now && next_push.is_none_or(|n| t < n);
        if u < d && fits(u) {
            out.push((u, Status::Unknown));
        }
        if fits(d) {
            out.push((d, Status::Down));
        }
        out
    }

    /// The words a stale mark carries on the timeline.
    pub fn reason(&self, status: Status) -> String {
        let ms = if status == Status::Down { self.down_after_ms } else { self.unknown_after_ms };
        format!("no report for {}", crate::clock::format_duration(ms))
    }
}

/// The live state of one service that the ingest path keeps on its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveState {
    /// The service's status: [`combine`] of its sources.
    pub status: Status,
    /// Event time of the latest real observation of any source; an
    /// observation before it is late.
    pub last_real_at: Option<Millis>,
    /// Event time of the latest push (silence counts from it).
    pub push_at: Option<Millis>,
    /// How many stale marks were placed after `push_at` (0, 1 or 2).
    pub stale_stage: u8,
    /// Instant of the latest stale mark placed.
    pub last_mark_at: Option<Millis>,
    pub sources: Sources,
}

impl LiveState {
    pub fn new() -> Self {
        LiveState {
            status: Status::Unknown,
            last_real_at: None,
            push_at: None,
            stale_stage: 0,
            last_mark_at: None,
            sources: Sources::default(),
        }
    }

    /// Must a real observation at `at` go through [`rebuild`] instead of
    /// [`on_report`]? Yes when it lands before the latest real observation,
    /// or at or before a stale mark already placed (the mark may not stand).
    pub fn is_late(&self, at: Millis) -> bool {
        self.last_real_at.is_some_and(|l| at < l) || self.last_mark_at.is_some_and(|m| at <= m)
    }

    /// Take in one observation, a real one or a stale mark: its source's
    /// status and the push source's silence bookkeeping. The service's
    /// status is left to the caller ([`LiveState::combined`]).
    fn take(&mut self, o: &Observation) {
        self.sources.set(o.cause.source(), o.status);
        if o.is_stale_mark() {
            self.stale_stage = if o.status == Status::Down { 2 } else { self.stale_stage.max(1) };
            self.last_mark_at = Some(o.at);
            return;
        }
        self.last_real_at = Some(self.last_real_at.map_or(o.at, |l| l.max(o.at)));
        if o.cause.source() == SourceKind::Push {
            self.push_at = Some(self.push_at.map_or(o.at, |l| l.max(o.at)));
            self.stale_stage = 0;
        }
    }

    /// The service's status by [`combine`] from the sources as they stand.
    pub fn combined(&self) -> Status {
        combine(&self.sources, self.stale_stage > 0)
    }
}

impl Default for LiveState {
    fn default() -> Self {
        Self::new()
    }
}

/// What one step of the live path produced: observations to store (stale
/// marks first, then the report) and the transitions they cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    pub marks: Vec<Observation>,
    pub transitions: Vec<Transition>,
}

/// Apply one observation (real or a stale mark) to its source and record
/// the service's change of status, if any.
fn push_obs(state: &mut LiveState, obs: Observation, out: &mut Step) {
    state.take(&obs);
    let to = state.combined();
    if to != state.status {
        out.transitions.push(Transition { at: obs.at, from: state.status, to, cause: obs.cause });
        state.status = to;
    }
}

/// Marks due between the last push and `until` that the stale detector has
/// not placed yet.
fn pending_marks(
    state: &LiveState,
    rule: &StaleRule,
    next_push: Option<Millis>,
    now: Millis,
    floor: Millis,
) -> Vec<(Millis, Status)> {
    let Some(last) = state.push_at else { return Vec::new() };
    let all = rule.marks(last, next_push, now, floor);
    // A stage counts marks already placed; UNKNOWN may have been skipped when
    // both thresholds coincide, so count from the end for DOWN.
    let placed = state.stale_stage as usize;
    if placed >= 2 {
        return Vec::new();
    }
    if placed == 1 {
        return all.into_iter().filter(|(_, s)| *s == Status::Down).collect();
    }
    all
}

fn place_marks(state: &mut LiveState, due: Vec<(Millis, Status)>, out: &mut Step) {
    for (at, status) in due {
        let m = Observation { at, status, cause: Cause::Stale };
        push_obs(state, m, out);
        out.marks.push(m);
    }
}

/// An in-order real observation (its time is not before the latest real
/// one). Stale marks of the push source that were due before it are placed
/// first (for a push, strictly before it: the push ends the silence), so the
/// stored timeline does not depend on when the detector ran.
pub fn on_report(state: &mut LiveState, obs: Observation, rule: Option<&StaleRule>, floor: Millis) -> Step {
    let mut out = Step::default();
    let is_push = obs.cause.source() == SourceKind::Push;
    if let Some(rule) = rule {
        let due = pending_marks(state, rule, is_push.then_some(obs.at), obs.at, floor);
        place_marks(state, due, &mut out);
    }
    push_obs(state, obs, &mut out);
    out
}

/// The stale detector's tick at `now`.
pub fn on_tick(state: &mut LiveState, rule: &StaleRule, now: Millis, floor: Millis) -> Step {
    let mut out = Step::default();
    let due = pending_marks(state, rule, None, now, floor);
    place_marks(state, due, &mut out);
    out
}

/// The result of recomputing a stretch of timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Stale marks in the stretch (the stored ones there are replaced).
    pub marks: Vec<Observation>,
    /// Transitions in the stretch (the stored ones there are replaced).
    pub transitions: Vec<Transition>,
    /// The live state at the end.
    pub state: LiveState,
    /// What caused each transition, parallel to `transitions`.
    pub origins: Vec<Origin>,
}

/// What caused a transition: a stale mark (with the mark's own status), or
/// the real observation at this index of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Mark(Status),
    Real(usize),
}

impl Step {
    /// What caused each transition of the step: its stale marks, then the
    /// observation it was run for.
    pub fn origins(&self) -> impl Iterator<Item = Option<Status>> + '_ {
        self.transitions.iter().map(|t| {
            (t.cause == Cause::Stale).then(|| self.marks.iter().find(|m| m.at == t.at).map_or(t.to, |m| m.status))
        })
    }
}

/// Recompute the timeline from the first of `real` on. `start` is the live
/// state just before it (the sources as they stood, the last push and the
/// stale marks placed since); `real` holds every real observation from
/// there on, sorted by time (stable: arrival order breaks ties). Used when a
/// late observation lands before the latest one.
pub fn rebuild(
    start: LiveState,
    real: &[Observation],
    rule: Option<&StaleRule>,
    now: Millis,
    floor: Millis,
) -> Rebuilt {
    let mut state = start;
    let mut marks = Vec::new();
    let mut transitions = Vec::new();
    let mut origins = Vec::new();
    for (i, obs) in real.iter().enumerate() {
        let step = on_report(&mut state, *obs, rule, floor);
        origins.extend(step.origins().map(|m| m.map_or(Origin::Real(i), Origin::Mark)));
        marks.extend(step.marks);
        transitions.extend(step.transitions);
    }
    if let Some(rule) = rule {
        let step = on_tick(&mut state, rule, now, floor);
        origins.extend(step.origins().map(|m| m.map_or(Origin::Real(usize::MAX), Origin::Mark)));
        marks.extend(step.marks);
        transitions.extend(step.transitions);
    }
    Rebuilt { marks, transitions, state, origins }
}

/// The live state just before an instant, from what was stored before it:
/// `status` is the service's status then (the last transition's), and
/// `before` the observations (real and stale marks) before the instant in
/// time order. The state [`rebuild`] starts from.
pub fn state_from(status: Status, before: &[Observation]) -> LiveState {
    let mut st = LiveState::new();
    for o in before {
        st.take(o);
    }
    st.status = status;
    st
}

/// Status at instant `t` given the status before any transition and the
/// transitions in time order. The SLO engine's oracle reads timelines this way.
pub fn status_at(initial: Status, transitions: &[Transition], t: Millis) -> Status {
    let idx = transitions.partition_point(|tr| tr.at <= t);
    if idx == 0 { initial } else { transitions[idx - 1].to }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: StaleRule = StaleRule { unknown_after_ms: 120_000, down_after_ms: 300_000 };

    fn real(at: Millis, status: Status) -> Observation {
        Observation { at, status, cause: Cause::Report }
    }

    #[test]
    fn silence_turns_unknown_then_down_at_exact_instants() {
        let mut s = LiveState::new();
        on_report(&mut s, real(1_000, Status::Operational), Some(&RULE), 0);
        // a tick before the threshold places nothing
        assert!(on_tick(&mut s, &RULE, 60_000, 0).transitions.is_empty());
        // the tick at 200 s places UNKNOWN at exactly 121 s
        let step = on_tick(&mut s, &RULE, 200_000, 0);
        assert_eq!(
            step.transitions,
            vec![Transition { at: 121_000, from: Status::Operational, to: Status::Unknown, cause: Cause::Stale }]
        );
        let step = on_tick(&mut s, &RULE, 400_000, 0);
        assert_eq!(step.transitions[0].at, 301_000);
        assert_eq!(step.transitions[0].to, Status::Down);
        // nothing more, however often it ticks
        assert!(on_tick(&mut s, &RULE, 900_000, 0).marks.is_empty());
        // a report brings it back
        let step = on_report(&mut s, real(950_000, Status::Operational), Some(&RULE), 0);
        assert_eq!(step.transitions[0].from, Status::Down);
        assert_eq!(s.stale_stage, 0);
    }

    #[test]
    fn silence_counts_from_the_watch_floor() {
        let mut s = LiveState::new();
        on_report(&mut s, real(0, Status::Operational), Some(&RULE), 0);
        // nines was down until 3_600 s; silence starts then
        let step = on_tick(&mut s, &RULE, 3_700_000, 3_600_000);
        assert!(step.marks.is_empty());
        let step = on_tick(&mut s, &RULE, 3_900_000, 3_600_000);
        assert_eq!(step.marks.iter().map(|m| m.at).collect::<Vec<_>>(), vec![3_720_000, 3_900_000]);
    }

    #[test]
    fn a_late_report_inside_a_stale_stretch_moves_the_marks() {
        // real at 0, silence, then a late real report at 180 s arrives at 1000 s
        let obs = [real(0, Status::Operational), real(180_000, Status::Operational)];
        let r = rebuild(LiveState::new(), &obs, Some(&RULE), 1_000_000, 0);
        let tr: Vec<_> = r.transitions.iter().map(|t| (t.at, t.to)).collect();
        assert_eq!(
            tr,
            vec![
                (0, Status::Operational),
                (120_000, Status::Unknown),
                (180_000, Status::Operational),
                (300_000, Status::Unknown),
                (480_000, Status::Down)
            ]
        );
        assert_eq!(r.state.stale_stage, 2);
    }

    #[test]
    fn no_rule_means_no_marks() {
        let obs = [real(0, Status::Down)];
        let r = rebuild(LiveState::new(), &obs, None, 10_000_000, 0);
        assert_eq!(r.transitions.len(), 1);
        assert!(r.marks.is_empty());
    }

    #[test]
    fn status_at_reads_the_step_function() {
        let tr = [
            Transition { at: 10, from: Status::Unknown, to: Status::Operational, cause: Cause::Report },
            Transition { at: 20, from: Status::Operational, to: Status::Down, cause: Cause::Report },
        ];
        assert_eq!(status_at(Status::Unknown, &tr, 9), Status::Unknown);
        assert_eq!(status_at(Status::Unknown, &tr, 10), Status::Operational);
        assert_eq!(status_at(Status::Unknown, &tr, 19), Status::Operational);
        assert_eq!(status_at(Status::Unknown, &tr, 25), Status::Down);
    }

    fn obs(at: Millis, status: Status, cause: Cause) -> Observation {
        Observation { at, status, cause }
    }

    #[test]
    fn pushes_that_stop_do_not_turn_a_service_with_green_checks_down() {
        let mut s = LiveState::new();
        on_report(&mut s, obs(0, Status::Operational, Cause::Report), Some(&RULE), 0);
        on_report(&mut s, obs(10_000, Status::Operational, Cause::Probe), Some(&RULE), 0);
        let step = on_tick(&mut s, &RULE, 1_000_000, 0);
        // the marks are stored for the push source, the service stays up
        assert_eq!(step.marks.len(), 2);
        assert!(step.transitions.is_empty(), "{:?}", step.transitions);
        assert_eq!(s.status, Status::Operational);
        assert_eq!(s.sources.push, Some(Status::Down));
        // a failing check still shows through
        let step = on_report(&mut s, obs(1_100_000, Status::Down, Cause::Probe), Some(&RULE), 0);
        assert_eq!(step.transitions[0].to, Status::Down);
    }

    #[test]
    fn a_green_push_does_not_hide_a_failing_check() {
        let mut s = LiveState::new();
        on_report(&mut s, obs(0, Status::Down, Cause::Probe), Some(&RULE), 0);
        let step = on_report(&mut s, obs(5_000, Status::Operational, Cause::Report), Some(&RULE), 0);
        assert!(step.transitions.is_empty());
        assert_eq!(s.status, Status::Down);
        let step = on_report(&mut s, obs(9_000, Status::Operational, Cause::Probe), Some(&RULE), 0);
        assert_eq!(step.transitions[0].to, Status::Operational);
    }

    #[test]
    fn a_push_only_service_still_goes_stale() {
        let mut s = LiveState::new();
        on_report(&mut s, obs(0, Status::Operational, Cause::Report), Some(&RULE), 0);
        on_tick(&mut s, &RULE, 400_000, 0);
        assert_eq!(s.status, Status::Down);
        // a check reporting later takes over from the stale push source
        let step = on_report(&mut s, obs(500_000, Status::Degraded, Cause::Probe), Some(&RULE), 0);
        assert_eq!(step.transitions[0].to, Status::Degraded);
    }

    #[test]
    fn stale_marks_read_in_words() {
        assert_eq!(RULE.reason(Status::Unknown), "no report for 2m");
        assert_eq!(RULE.reason(Status::Down), "no report for 5m");
    }
}
