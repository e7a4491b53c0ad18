//! SLA groups and time slices against brute-force oracles. The engine
//! combines members' class step functions by change points
//! (`combine_group`) and judges OpenSLO time slices from per-status
//! durations (`timeslices`); the oracles here walk instant by instant (one
//! unit of time is one millisecond of the engine's) and decide each instant,
//! and each slice, from the rule as the doc comments of `GroupMode`,
//! `combine_group` and `timeslices` word it, calling none of the production
//! helpers. Members are silent (excluded) for stretches: UNKNOWN and
//! MAINTENANCE under their policies, time before a service existed, and
//! maintenance windows that do not count.
//!
//! The rules, as read (and as the code does them):
//! - `All`: "good while every member with data is good". A member with data
//!   is one whose class is not excluded; silent members are left out. Good
//!   when there is at least one member with data and all of them are good,
//!   bad when one of them is bad, excluded when no member has data.
//! - `Any`: "good while any member is good". Good when one member is good;
//!   otherwise bad when some member has data (and all that have are bad);
//!   excluded when no member has data. Silent members are left out here too.
//! - `Quorum(k)`: "good while at least K members are good". Silent members
//!   are *not* left out: they might be good. Fill every silent member in as
//!   good and again as bad; when both fillings give the same verdict (k good
//!   or more: good; fewer: bad) that is the group's, otherwise it cannot be
//!   told and the time is excluded.
//! - The group's step function is canonical: change instants strictly
//!   increase and each change differs from the class before it; members'
//!   changes at one instant take effect together (no glitch in between).
//! - Time slices: the window is cut into slices of `slice_ms` from its start;
//!   the last slice is whatever is left (shorter). Within a slice, time
//!   before the service existed and time whose status the policy excludes
//!   does not count; the slice is excluded when nothing in it counted, good
//!   when good / counted reaches the target, bad otherwise. The whole slice,
//!   excluded time inside it included, then counts with its length in the
//!   class it was judged.

use nines_core::Status;
use nines_core::clock::Millis;
use nines_core::slo::{
    Accounting, Class, GroupMode, Policy, Span, account_classes, classes, combine_group, merge_spans, timeslices,
};
use nines_core::timeline::{Cause, Transition};
use proptest::prelude::*;

/// A member's class step function as `combine_group` takes it.
type Steps = (Class, Vec<(Millis, Class)>);

/// The value of a step function at `t`, by a plain scan: the last change at
/// or before `t`, else the initial value.
fn step_at<T: Copy>(initial: T, changes: &[(Millis, T)], t: Millis) -> T {
    let mut v = initial;
    for (at, c) in changes {
        if *at <= t {
            v = *c;
        }
    }
    v
}

/// A service's status at `t` from its transitions, by a plain scan.
fn status_of(initial: Status, trs: &[Transition], t: Millis) -> Status {
    let mut s = initial;
    for tr in trs {
        if tr.at <= t {
            s = tr.to;
        }
    }
    s
}

/// How a status counts, read off the policy's fields (DOWN bad, OPERATIONAL
/// good, the rest as the service says).
fn class_of(p: &Policy, s: Status) -> Class {
    match s {
        Status::Down => Class::Bad,
        Status::Operational => Class::Good,
        Status::Degraded => p.degraded,
        Status::Unknown => p.unknown,
        Status::Maintenance => p.maintenance,
    }
}

/// The group's verdict at one instant from its members' classes then, by
/// the rule's words (see the module documentation).
fn oracle_group(mode: GroupMode, members: &[Class]) -> Class {
    let with_data: Vec<Class> = members.iter().copied().filter(|c| *c != Class::Excluded).collect();
    match mode {
        GroupMode::All => {
            if with_data.is_empty() {
                Class::Excluded
            } else if with_data.iter().all(|c| *c == Class::Good) {
                Class::Good
            } else {
                Class::Bad
            }
        }
        GroupMode::Any => {
            if with_data.contains(&Class::Good) {
                Class::Good
            } else if with_data.is_empty() {
                Class::Excluded
            } else {
                Class::Bad
            }
        }
        GroupMode::Quorum(k) => {
            let verdict = |silent_as: Class| {
                let good = members
                    .iter()
                    .filter(|c| **c == Class::Good || (**c == Class::Excluded && silent_as == Class::Good))
                    .count();
                good >= k as usize
            };
            match (verdict(Class::Good), verdict(Class::Bad)) {
                (true, true) => Class::Good,
                (false, false) => Class::Bad,
                _ => Class::Excluded,
            }
        }
    }
}

fn arb_class() -> impl Strategy<Value = Class> {
    prop_oneof![3 => Just(Class::Good), 2 => Just(Class::Bad), 2 => Just(Class::Excluded)]
}

/// A member: an initial class and changes at strictly increasing instants
/// (a change may repeat the class in effect: the engine must not echo it).
fn arb_member() -> impl Strategy<Value = Steps> {
    (arb_class(), 0i64..30, prop::collection::vec((1i64..25, arb_class()), 0..12)).prop_map(|(init, base, steps)| {
        let mut t = base;
        let ch = steps
            .into_iter()
            .map(|(gap, c)| {
                t += gap;
                (t, c)
            })
            .collect();
        (init, ch)
    })
}

fn arb_mode() -> impl Strategy<Value = GroupMode> {
    prop_oneof![
        1 => Just(GroupMode::All),
        1 => Just(GroupMode::Any),
        2 => (0u32..8).prop_map(GroupMode::Quorum),
    ]
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

fn arb_policy() -> impl Strategy<Value = Policy> {
    (arb_class(), arb_class(), arb_class()).prop_map(|(degraded, unknown, maintenance)| Policy {
        degraded,
        unknown,
        maintenance,
    })
}

/// A status timeline from `base` on: transitions at strictly increasing
/// instants, each to a status other than the one in effect.
fn timeline(initial: Status, base: Millis, steps: &[(i64, Status)]) -> Vec<Transition> {
    let mut trs = Vec::new();
    let (mut t, mut cur) = (base, initial);
    for &(gap, s) in steps {
        t += gap;
        if s != cur {
            trs.push(Transition { at: t, from: cur, to: s, cause: Cause::Report });
            cur = s;
        }
    }
    trs
}

fn arb_timeline() -> impl Strategy<Value = (Status, Vec<Transition>)> {
    (arb_status(), 0i64..60, prop::collection::vec((1i64..30, arb_status()), 0..20))
        .prop_map(|(init, base, steps)| (init, timeline(init, base, &steps)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// `combine_group` in every mode, over members silent for stretches,
    /// equals the rule decided instant by instant; its step function is
    /// canonical; and the group's accounting over a window, by the engine's
    /// interval arithmetic, equals the instants counted one by one.
    #[test]
    fn group_combination_equals_the_rule_at_every_instant(
        members in prop::collection::vec(arb_member(), 0..7),
        mode in arb_mode(),
        from in -5i64..200, len in 0i64..250,
    ) {
        let (gi, gc) = combine_group(&members, mode);
        for w in gc.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "change instants strictly increase: {:?}", gc);
        }
        let mut prev = gi;
        for (_, c) in &gc {
            prop_assert_ne!(*c, prev, "a change changes the class: {:?}", gc);
            prev = *c;
        }
        let last = members.iter().flat_map(|(_, ch)| ch.iter().map(|(at, _)| *at)).max().unwrap_or(0);
        let verdict = |t: Millis| {
            let now: Vec<Class> = members.iter().map(|(i, ch)| step_at(*i, ch, t)).collect();
            oracle_group(mode, &now)
        };
        for t in -2..=last + 2 {
            prop_assert_eq!(step_at(gi, &gc, t), verdict(t), "at {} in {:?}", t, mode);
        }
        let w = Span { from, to: from + len };
        let mut oracle = Accounting::default();
        for t in w.from..w.to {
            oracle.add(verdict(t), 1);
        }
        prop_assert_eq!(account_classes(gi, &gc, w, &[]), oracle, "window {:?}", w);
    }

    /// An SLA group built from its members' status timelines, each under its
    /// own policy (UNKNOWN, MAINTENANCE and DEGRADED counting good, bad or
    /// excluded), with maintenance windows that do not count laid over the
    /// group: the engine (`classes` per member, `combine_group`,
    /// `merge_spans`, `account_classes`) against each instant decided from
    /// the members' statuses. Inside a window the group's time is excluded
    /// whatever its members do; outside, the mode decides.
    #[test]
    fn group_of_timelines_with_maintenance_equals_the_rule(
        members in prop::collection::vec((arb_timeline(), arb_policy()), 1..5),
        mode in arb_mode(),
        maint in prop::collection::vec((0i64..600, 1i64..80), 0..4),
        windows in prop::collection::vec((0i64..600, 0i64..600), 1..3),
    ) {
        let steps: Vec<Steps> = members.iter().map(|((i, trs), p)| classes(*i, trs, p)).collect();
        let (gi, gc) = combine_group(&steps, mode);
        let raw: Vec<Span> = maint.iter().map(|(a, l)| Span { from: *a, to: a + l }).collect();
        let merged = merge_spans(raw.clone());
        for (from, len) in windows {
            let w = Span { from, to: from + len };
            let mut oracle = Accounting::default();
            for t in w.from..w.to {
                let c = if raw.iter().any(|m| m.from <= t && t < m.to) {
                    Class::Excluded
                } else {
                    let now: Vec<Class> =
                        members.iter().map(|((i, trs), p)| class_of(p, status_of(*i, trs, t))).collect();
                    oracle_group(mode, &now)
                };
                oracle.add(c, 1);
            }
            prop_assert_eq!(account_classes(gi, &gc, w, &merged), oracle, "window {:?} in {:?}", w, mode);
        }
    }

    /// OpenSLO time slices against a slice-by-slice count: each slice's
    /// instants decided from the timeline and the creation instant, the slice
    /// judged by exact integer arithmetic (the target is a whole number of
    /// parts per million, so `good / counted >= target` is exact here), the
    /// short last slice counted with its own length.
    #[test]
    fn timeslices_equal_the_rule_slice_by_slice(
        (initial, trs) in arb_timeline(),
        created in prop_oneof![1 => Just(i64::MIN), 3 => 0i64..300],
        from in 0i64..300, len in 0i64..500,
        slice in 1i64..90,
        target_ppm in prop_oneof![
            1 => Just(0i64), 1 => Just(1_000_000i64), 2 => Just(500_000i64), 2 => Just(900_000i64),
            2 => Just(950_000i64), 4 => 0i64..=1_000_000,
        ],
        p in arb_policy(),
    ) {
        let w = Span { from, to: from + len };
        let target = target_ppm as f64 / 1e6;
        let engine = timeslices(initial, &trs, w, created, &p, slice, target);
        let mut oracle = Accounting::default();
        let mut k = 0;
        loop {
            let s = w.from + k * slice;
            if s >= w.to {
                break;
            }
            let e = (s + slice).min(w.to);
            let (mut good, mut bad) = (0i64, 0i64);
            for t in s..e {
                // before the service existed the instant is absent: it does not count
                if t < created {
                    continue;
                }
                match class_of(&p, status_of(initial, &trs, t)) {
                    Class::Good => good += 1,
                    Class::Bad => bad += 1,
                    Class::Excluded => {}
                }
            }
            let counted = good + bad;
            let class = if counted == 0 {
                Class::Excluded
            } else if good * 1_000_000 >= target_ppm * counted {
                Class::Good
            } else {
                Class::Bad
            };
            oracle.add(class, e - s);
            k += 1;
        }
        prop_assert_eq!(engine, oracle, "window {:?}, slice {}, target {}", w, slice, target);
        prop_assert_eq!(engine.total_ms(), len);
    }
}
