//! The engine against a brute-force oracle: random observations delivered in
//! random order (late and out of order), stale ticks at random instants and
//! pauses (a restarted nines that ticked nothing for a while), maintenance
//! windows and policies. The live path builds the timeline exactly as the
//! store does; the engine accounts windows by interval arithmetic; the oracle
//! walks second by second from the observations alone. They must agree to the
//! second.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::{Accounting, Class, Policy, Span, account};
use nines_core::timeline::{self, Cause, LiveState, Observation, StaleRule, Transition};
use proptest::prelude::*;

const RULE: StaleRule = StaleRule { unknown_after_ms: 120_000, down_after_ms: 300_000 };

/// What the store does: in-order reports go through `on_report`, late ones
/// rebuild from their instant, ticks place stale marks.
struct Sim {
    state: LiveState,
    real: Vec<(Observation, usize)>,
    transitions: Vec<Transition>,
    seq: usize,
}

impl Sim {
    fn new() -> Sim {
        Sim { state: LiveState::new(), real: Vec::new(), transitions: Vec::new(), seq: 0 }
    }

    fn report(&mut self, o: Observation, now: Millis) {
        self.seq += 1;
        self.real.push((o, self.seq));
        if !self.state.is_late(o.at) {
            let step = timeline::on_report(&mut self.state, o, Some(&RULE), 0);
            self.transitions.extend(step.transitions);
            return;
        }
        let from = o.at;
        let prev = self.transitions.iter().rev().find(|t| t.at < from).map_or(Status::Unknown, |t| t.to);
        let mut later: Vec<(Observation, usize)> = self.real.iter().filter(|(r, _)| r.at >= from).copied().collect();
        later.sort_by_key(|(r, s)| (r.at, *s));
        let obs: Vec<Observation> = later.iter().map(|(r, _)| *r).collect();
        let rebuilt = timeline::rebuild(prev, &obs, Some(&RULE), now, 0);
        self.transitions.retain(|t| t.at < from);
        self.transitions.extend(rebuilt.transitions);
        self.state = rebuilt.state;
    }

    fn tick(&mut self, now: Millis) {
        let step = timeline::on_tick(&mut self.state, &RULE, now, 0);
        self.transitions.extend(step.transitions);
    }
}

/// The definition, straight from the observations: the latest real
/// observation at or before t decides, unless silence since it reached the
/// stale thresholds (and `now` has reached the mark, so it was placed).
fn oracle_status(real: &[(Observation, usize)], t: Millis, now: Millis) -> Status {
    let latest = real.iter().filter(|(o, _)| o.at <= t).max_by_key(|(o, s)| (o.at, *s));
    let Some((o, _)) = latest else { return Status::Unknown };
    let silence = t - o.at;
    if silence >= RULE.down_after_ms && o.at + RULE.down_after_ms <= now {
        Status::Down
    } else if silence >= RULE.unknown_after_ms && o.at + RULE.unknown_after_ms <= now {
        Status::Unknown
    } else {
        o.status
    }
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

#[derive(Debug, Clone)]
enum Ev {
    /// An observation at `at` seconds, delivered `delay` seconds later.
    Obs { at: i64, status: Status, delay: i64 },
    /// A stale-detector tick.
    Tick { at: i64 },
}

fn arb_events() -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0i64..1800, arb_status(), prop_oneof![3 => Just(0i64), 1 => 0i64..600]).prop_map(|(at, status, delay)| Ev::Obs { at, status, delay }),
            1 => (0i64..2400).prop_map(|at| Ev::Tick { at }),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn engine_equals_second_by_second_oracle(
        events in arb_events(),
        windows in prop::collection::vec((0i64..2400, 1i64..2400), 1..4),
        maint in prop::collection::vec((0i64..2400, 1i64..300), 0..3),
        degraded_bad in any::<bool>(),
        unknown_bad in any::<bool>(),
    ) {
        // deliver in arrival order (ties: observations before ticks, then as generated)
        let mut arrivals: Vec<(i64, usize, Ev)> = events.iter().cloned().enumerate().map(|(i, e)| match e {
            Ev::Obs { at, delay, .. } => (at + delay, i, e),
            Ev::Tick { at } => (at, i + 1_000, e),
        }).collect();
        arrivals.sort_by_key(|(t, i, _)| (*t, *i));
        let mut sim = Sim::new();
        let mut now = 0;
        for (arrive, _, e) in &arrivals {
            now = now.max(arrive * 1000);
            match e {
                Ev::Obs { at, status, .. } => sim.report(Observation { at: at * 1000, status: *status, cause: Cause::Report }, now),
                Ev::Tick { .. } => sim.tick(now),
            }
        }
        let end = 2400 * 1000;
        now = now.max(end);
        sim.tick(now);
        // the stored timeline is well formed
        for w in sim.transitions.windows(2) {
            prop_assert!(w[0].at <= w[1].at);
            prop_assert_eq!(w[0].to, w[1].from);
        }
        let policy = Policy {
            degraded: if degraded_bad { Class::Bad } else { Class::Good },
            unknown: if unknown_bad { Class::Bad } else { Class::Excluded },
            ..Policy::default()
        };
        let mut spans: Vec<Span> = maint.iter().map(|(a, l)| Span { from: a * 1000, to: (a + l) * 1000 }).collect();
        spans.sort_by_key(|s| s.from);
        let mut merged: Vec<Span> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(l) if s.from <= l.to => l.to = l.to.max(s.to),
                _ => merged.push(s),
            }
        }
        for (from, len) in windows {
            let w = Span { from: from * 1000, to: (from + len).min(2400) * 1000 };
            let engine = account(Status::Unknown, &sim.transitions, w, &policy, &merged);
            let mut oracle = Accounting::default();
            let mut t = w.from;
            while t < w.to {
                let c = if merged.iter().any(|m| m.from <= t && t < m.to) {
                    Class::Excluded
                } else {
                    policy.classify(oracle_status(&sim.real, t, now))
                };
                oracle.add(c, 1000);
                t += 1000;
            }
            prop_assert_eq!(engine, oracle, "window {:?}", w);
        }
    }
}
