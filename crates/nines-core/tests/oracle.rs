//! The engine against a brute-force oracle: random observations from every
//! source of a service (pushes, check results, the operator's sync),
//! delivered in random order (late and out of order), stale ticks at random
//! instants, a watch that began at a random floor (a restarted nines counts
//! no silence from before it), maintenance windows and policies. The live
//! path builds the timeline exactly as the store does; the engine accounts
//! windows by interval arithmetic; the oracle walks second by second from
//! the observations alone, reading the rule as the module documentation of
//! `nines_core::timeline` words it. They must agree to the second.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::{Accounting, Class, Policy, Span, account, merge_spans};
use nines_core::timeline::{
    self, Cause, LiveState, Observation, SourceKind, StaleRule, Transition, rebuild, state_from, status_at,
};
use proptest::prelude::*;

const RULE: StaleRule = StaleRule { unknown_after_ms: 120_000, down_after_ms: 300_000 };

/// What the store does for one service: in-order observations go through
/// `on_report`, late ones rebuild from their instant (starting from the
/// state read back from what was stored before it), ticks place stale marks.
#[derive(Default)]
struct Sim {
    state: LiveState,
    /// Stored observations, real and stale marks, with their arrival number.
    stored: Vec<(Observation, usize)>,
    transitions: Vec<Transition>,
    seq: usize,
    floor: Millis,
}

impl Sim {
    fn real(&self) -> Vec<(Observation, usize)> {
        self.stored.iter().filter(|(o, _)| !o.is_stale_mark()).copied().collect()
    }

    fn report(&mut self, o: Observation, now: Millis) {
        self.seq += 1;
        let seq = self.seq;
        if !self.state.is_late(o.at) {
            let step = timeline::on_report(&mut self.state, o, Some(&RULE), self.floor);
            self.stored.extend(step.marks.into_iter().map(|m| (m, seq)));
            self.stored.push((o, seq));
            self.transitions.extend(step.transitions);
            return;
        }
        self.stored.push((o, seq));
        let from = o.at;
        let prev = self.transitions.iter().rev().find(|t| t.at < from).map_or(Status::Unknown, |t| t.to);
        let mut before: Vec<(Observation, usize)> = self.stored.iter().filter(|(r, _)| r.at < from).copied().collect();
        before.sort_by_key(|(r, s)| (r.at, *s));
        let start = state_from(prev, &before.iter().map(|(r, _)| *r).collect::<Vec<_>>());
        let mut later: Vec<(Observation, usize)> =
            self.stored.iter().filter(|(r, _)| r.at >= from && !r.is_stale_mark()).copied().collect();
        later.sort_by_key(|(r, s)| (r.at, *s));
        let obs: Vec<Observation> = later.iter().map(|(r, _)| *r).collect();
        let rebuilt = rebuild(start, &obs, Some(&RULE), now, self.floor);
        self.stored.retain(|(r, _)| !(r.is_stale_mark() && r.at >= from));
        self.stored.extend(rebuilt.marks.into_iter().map(|m| (m, seq)));
        self.transitions.retain(|t| t.at < from);
        self.transitions.extend(rebuilt.transitions);
        self.state = rebuilt.state;
    }

    fn tick(&mut self, now: Millis) {
        let step = timeline::on_tick(&mut self.state, &RULE, now, self.floor);
        self.stored.extend(step.marks.into_iter().map(|m| (m, 0)));
        self.transitions.extend(step.transitions);
    }
}

/// The rule in words, read at instant `t` from the real observations alone:
/// each source's latest observation at or before `t` (arrival order breaks
/// ties); the push source turns UNKNOWN, then DOWN, once silence since
/// `max(push, floor)` reaches the thresholds (and `now` has reached the
/// mark, so it was placed); a stale push source counts only while no other
/// source has reported; the service is the worst of what counts.
fn oracle_status(real: &[(Observation, usize)], t: Millis, now: Millis, floor: Millis) -> Status {
    let latest = |k: SourceKind| {
        real.iter().filter(|(o, _)| o.cause.source() == k && o.at <= t).max_by_key(|(o, seq)| (o.at, *seq))
    };
    let push = latest(SourceKind::Push).map(|(o, _)| {
        let start = o.at.max(floor);
        let (u, d) = (start + RULE.unknown_after_ms, start + RULE.down_after_ms);
        if t >= d && d <= now {
            (Status::Down, true)
        } else if t >= u && u <= now {
            (Status::Unknown, true)
        } else {
            (o.status, false)
        }
    });
    let checks = latest(SourceKind::Checks).map(|(o, _)| o.status);
    let operator = latest(SourceKind::Operator).map(|(o, _)| o.status);
    let others = checks.is_some() || operator.is_some();
    let push = match push {
        Some((_, true)) if others => None,
        p => p.map(|(s, _)| s),
    };
    // worst by a table of its own: DOWN, DEGRADED, UNKNOWN, MAINTENANCE, OPERATIONAL
    let rank = |s: &Status| {
        [Status::Operational, Status::Maintenance, Status::Unknown, Status::Degraded, Status::Down]
            .iter()
            .position(|x| x == s)
    };
    [push, checks, operator].into_iter().flatten().max_by_key(rank).unwrap_or(Status::Unknown)
}

fn arb_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        4 => Just(Status::Operational),
        1 => Just(Status::Degraded),
        2 => Just(Status::Down),
        1 => Just(Status::Maintenance),
        1 => Just(Status::Unknown),
    ]
}

fn arb_cause() -> impl Strategy<Value = Cause> {
    prop_oneof![4 => Just(Cause::Report), 2 => Just(Cause::Probe), 1 => Just(Cause::Operator)]
}

#[derive(Debug, Clone)]
enum Ev {
    /// An observation at `at` seconds, delivered `delay` seconds later.
    Obs { at: i64, status: Status, cause: Cause, delay: i64 },
    /// A stale-detector tick.
    Tick { at: i64 },
}

fn arb_events(sources: BoxedStrategy<Cause>) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0i64..1800, arb_status(), sources, prop_oneof![3 => Just(0i64), 1 => 0i64..600])
                .prop_map(|(at, status, cause, delay)| Ev::Obs { at, status, cause, delay }),
            1 => (0i64..2400).prop_map(|at| Ev::Tick { at }),
        ],
        1..40,
    )
}

/// Deliver `events` in arrival order (ties: observations before ticks, then
/// as generated) and tick once more at the end; returns the simulation and
/// `now`.
fn run(events: &[Ev], floor: Millis) -> (Sim, Millis) {
    let mut arrivals: Vec<(i64, usize, Ev)> = events
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, e)| match e {
            Ev::Obs { at, delay, .. } => (at + delay, i, e),
            Ev::Tick { at } => (at, i + 1_000, e),
        })
        .collect();
    arrivals.sort_by_key(|(t, i, _)| (*t, *i));
    let mut sim = Sim { floor, ..Sim::default() };
    let mut now = 0;
    for (arrive, _, e) in &arrivals {
        now = now.max(arrive * 1000);
        match e {
            Ev::Obs { at, status, cause, .. } => {
                sim.report(Observation { at: at * 1000, status: *status, cause: *cause }, now)
            }
            Ev::Tick { .. } => sim.tick(now),
        }
    }
    now = now.max(2400 * 1000);
    sim.tick(now);
    (sim, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The stored timeline of a service with several sources: well formed,
    /// equal to a rebuild from scratch, and equal second by second to the
    /// rule read by brute force.
    #[test]
    fn timeline_of_several_sources_equals_the_rule(
        events in arb_events(arb_cause().boxed()),
        floor_s in prop_oneof![2 => Just(0i64), 1 => 0i64..900],
    ) {
        let floor = floor_s * 1000;
        let (sim, now) = run(&events, floor);
        let mut real = sim.real();
        real.sort_by_key(|(o, s)| (o.at, *s));
        let all: Vec<Observation> = real.iter().map(|(o, _)| *o).collect();
        let scratch = rebuild(LiveState::new(), &all, Some(&RULE), now, floor);
        prop_assert_eq!(&sim.transitions, &scratch.transitions);
        prop_assert_eq!(sim.state, scratch.state);
        for w in sim.transitions.windows(2) {
            prop_assert!(w[0].at <= w[1].at);
            prop_assert_eq!(w[0].to, w[1].from);
        }
        for tr in &sim.transitions {
            prop_assert_ne!(tr.from, tr.to);
        }
        for sec in 0..=(now / 1000) {
            let at = sec * 1000;
            prop_assert_eq!(status_at(Status::Unknown, &sim.transitions, at), oracle_status(&sim.real(), at, now, floor), "at {}", at);
        }
    }

    /// Availability over windows (some reaching past the last event) by the
    /// engine's interval arithmetic, with maintenance spans joined by the
    /// production `merge_spans`, against a second-by-second count.
    #[test]
    fn engine_equals_second_by_second_oracle(
        events in arb_events(arb_cause().boxed()),
        floor_s in prop_oneof![2 => Just(0i64), 1 => 0i64..900],
        windows in prop::collection::vec((0i64..2400, 1i64..2400), 1..4),
        maint in prop::collection::vec((0i64..2400, 1i64..300), 0..4),
        degraded_bad in any::<bool>(),
        unknown_bad in any::<bool>(),
    ) {
        let floor = floor_s * 1000;
        let (sim, now) = run(&events, floor);
        let policy = Policy {
            degraded: if degraded_bad { Class::Bad } else { Class::Good },
            unknown: if unknown_bad { Class::Bad } else { Class::Excluded },
            ..Policy::default()
        };
        let raw: Vec<Span> = maint.iter().map(|(a, l)| Span { from: a * 1000, to: (a + l) * 1000 }).collect();
        let merged = merge_spans(raw.clone());
        for w in merged.windows(2) {
            prop_assert!(w[0].to < w[1].from, "merged spans neither overlap nor touch: {:?}", merged);
        }
        let real = sim.real();
        for (from, len) in windows {
            let w = Span { from: from * 1000, to: (from + len).min(now / 1000) * 1000 };
            let engine = account(Status::Unknown, &sim.transitions, w, &policy, &merged);
            let mut oracle = Accounting::default();
            let mut t = w.from;
            while t < w.to {
                // the raw windows, not the merged ones: the oracle asks each
                let c = if raw.iter().any(|m| m.from <= t && t < m.to) {
                    Class::Excluded
                } else {
                    policy.classify(oracle_status(&real, t, now, floor))
                };
                oracle.add(c, 1000);
                t += 1000;
            }
            prop_assert_eq!(engine, oracle, "window {:?}", w);
        }
    }
}
