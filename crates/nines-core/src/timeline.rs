//! The status timeline: how observations become transitions.
//!
//! A service's status at instant `t` is the status of the latest observation
//! at or before `t` (ties broken by arrival order). Observations are either
//! *real* (a health push, a probe result) or *synthetic* stale marks: for a
//! service whose health is pushed, silence after a real observation at `r`
//! turns it UNKNOWN at `r + unknown_after` and DOWN at `r + down_after`,
//! unless another real observation comes first. Silence is only counted while
//! nines listens: it starts at `max(r, floor)` where `floor` is when the
//! current watch began.
//!
//! Transitions are the step function collapsed to its change points. The
//! stored timeline is always equal to [`rebuild`] over the stored
//! observations; the incremental functions [`on_report`] and [`on_tick`] are
//! what the ingest path and the stale detector run, and the property tests
//! below check they agree with [`rebuild`] whatever the order of ticks.

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
    /// The stale marks that silence after a real observation at `last_real`
    /// produces strictly before `next_real` (if any) and not after `now`.
    /// Returns `(at, status)` in time order.
    pub fn marks(
        &self,
        last_real: Millis,
        next_real: Option<Millis>,
        now: Millis,
        floor: Millis,
    ) -> Vec<(Millis, Status)> {
        let start = last_real.max(floor);
        let mut out = Vec::with_capacity(2);
        let u = start.saturating_add(self.unknown_after_ms);
        let d = start.saturating_add(self.down_after_ms);
        let fits = |t: Millis| t <= now && next_real.is_none_or(|n| t < n);
        if u < d && fits(u) {
            out.push((u, Status::Unknown));
        }
        if fits(d) {
            out.push((d, Status::Down));
        }
        out
    }
}

/// The live state of one service that the ingest path keeps on its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveState {
    pub status: Status,
    /// Event time of the latest real observation.
    pub last_real_at: Option<Millis>,
    /// How many stale marks were placed after `last_real_at` (0, 1 or 2).
    pub stale_stage: u8,
    /// Instant of the latest stale mark placed.
    pub last_mark_at: Option<Millis>,
}

impl LiveState {
    pub fn new() -> Self {
        LiveState { status: Status::Unknown, last_real_at: None, stale_stage: 0, last_mark_at: None }
    }

    /// Must a real observation at `at` go through [`rebuild`] instead of
    /// [`on_report`]? Yes when it lands before the latest real observation,
    /// or at or before a stale mark already placed (the mark may not stand).
    pub fn is_late(&self, at: Millis) -> bool {
        self.last_real_at.is_some_and(|l| at < l) || self.last_mark_at.is_some_and(|m| at <= m)
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

fn push_obs(state: &mut LiveState, obs: Observation, out: &mut Step) {
    if obs.status != state.status {
        out.transitions.push(Transition { at: obs.at, from: state.status, to: obs.status, cause: obs.cause });
        state.status = obs.status;
    }
}

/// Marks due between the last real observation and `until` that the stale
/// detector has not placed yet.
fn pending_marks(
    state: &LiveState,
    rule: &StaleRule,
    next_real: Option<Millis>,
    now: Millis,
    floor: Millis,
) -> Vec<(Millis, Status)> {
    let Some(last) = state.last_real_at else { return Vec::new() };
    let all = rule.marks(last, next_real, now, floor);
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

fn stage_after(marks: &[(Millis, Status)], prev: u8) -> u8 {
    let mut stage = prev;
    for (_, s) in marks {
        stage = match s {
            Status::Down => 2,
            _ => stage.max(1),
        };
    }
    stage
}

/// An in-order real observation (its time is not before the latest real
/// one). Stale marks that were due before it are placed first, so the
/// stored timeline does not depend on when the detector ran.
pub fn on_report(state: &mut LiveState, obs: Observation, rule: Option<&StaleRule>, floor: Millis) -> Step {
    let mut out = Step::default();
    if let Some(rule) = rule {
        let due = pending_marks(state, rule, Some(obs.at), obs.at, floor);
        for (at, status) in due {
            let m = Observation { at, status, cause: Cause::Stale };
            push_obs(state, m, &mut out);
            out.marks.push(m);
            state.last_mark_at = Some(at);
        }
    }
    push_obs(state, obs, &mut out);
    state.last_real_at = Some(state.last_real_at.map_or(obs.at, |l| l.max(obs.at)));
    state.stale_stage = 0;
    out
}

/// The stale detector's tick at `now`.
pub fn on_tick(state: &mut LiveState, rule: &StaleRule, now: Millis, floor: Millis) -> Step {
    let mut out = Step::default();
    let due = pending_marks(state, rule, None, now, floor);
    let stage = stage_after(&due, state.stale_stage);
    for (at, status) in due {
        let m = Observation { at, status, cause: Cause::Stale };
        push_obs(state, m, &mut out);
        out.marks.push(m);
        state.last_mark_at = Some(at);
    }
    state.stale_stage = stage;
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
}

/// Recompute the timeline from the first of `real` on. `prev` is the status
/// in effect just before it; `real` holds every real observation from there
/// on, sorted by time (stable: arrival order breaks ties). Used when a late
/// observation lands before the latest one.
pub fn rebuild(prev: Status, real: &[Observation], rule: Option<&StaleRule>, now: Millis, floor: Millis) -> Rebuilt {
    let mut state = LiveState { status: prev, last_real_at: None, stale_stage: 0, last_mark_at: None };
    let mut marks = Vec::new();
    let mut transitions = Vec::new();
    for obs in real {
        let step = on_report(&mut state, *obs, rule, floor);
        marks.extend(step.marks);
        transitions.extend(step.transitions);
    }
    if let Some(rule) = rule {
        let step = on_tick(&mut state, rule, now, floor);
        marks.extend(step.marks);
        transitions.extend(step.transitions);
    }
    Rebuilt { marks, transitions, state }
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
    use proptest::prelude::*;

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
        let r = rebuild(Status::Unknown, &obs, Some(&RULE), 1_000_000, 0);
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
        let r = rebuild(Status::Unknown, &obs, None, 10_000_000, 0);
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

    fn arb_status() -> impl Strategy<Value = Status> {
        prop_oneof![Just(Status::Operational), Just(Status::Degraded), Just(Status::Down), Just(Status::Maintenance),]
    }

    /// Brute force: the status at second `t` straight from the definition.
    fn oracle(real: &[Observation], rule: &StaleRule, t: Millis, now: Millis) -> Status {
        let mut latest: Option<&Observation> = None;
        for o in real {
            if o.at <= t {
                latest = Some(o);
            }
        }
        let Some(o) = latest else { return Status::Unknown };
        if t > now {
            return o.status;
        }
        let silence = t - o.at;
        if silence >= rule.down_after_ms && o.at + rule.down_after_ms <= now {
            Status::Down
        } else if silence >= rule.unknown_after_ms && o.at + rule.unknown_after_ms <= now {
            Status::Unknown
        } else {
            o.status
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Reports arriving in order with ticks at arbitrary instants store the
        /// same timeline as a rebuild from scratch, and both agree with the
        /// brute-force definition second by second.
        #[test]
        fn live_path_equals_rebuild_and_oracle(
            gaps in prop::collection::vec((0i64..400, arb_status(), any::<bool>()), 1..30),
        ) {
            let mut t = 0;
            let mut real_obs = Vec::new();
            let mut state = LiveState::new();
            let mut live = Vec::new();
            for (gap_s, status, tick_before) in gaps {
                t += gap_s * 1000;
                if tick_before {
                    live.extend(on_tick(&mut state, &RULE, t - 1, 0).transitions);
                }
                let o = real(t, status);
                real_obs.push(o);
                live.extend(on_report(&mut state, o, Some(&RULE), 0).transitions);
            }
            let now = t + 1_000_000;
            live.extend(on_tick(&mut state, &RULE, now, 0).transitions);
            let rebuilt = rebuild(Status::Unknown, &real_obs, Some(&RULE), now, 0);
            prop_assert_eq!(&live, &rebuilt.transitions);
            prop_assert_eq!(state, rebuilt.state);
            for sec in 0..=(now / 1000) {
                let at = sec * 1000;
                prop_assert_eq!(status_at(Status::Unknown, &live, at), oracle(&real_obs, &RULE, at, now), "at {}", at);
            }
            // transitions always change the status and are in time order
            for w in live.windows(2) {
                prop_assert!(w[0].at <= w[1].at);
                prop_assert_eq!(w[0].to, w[1].from);
            }
            for tr in &live {
                prop_assert_ne!(tr.from, tr.to);
            }
        }
    }
}
