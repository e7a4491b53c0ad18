//! The per-check state machine: pure functions from results to a
//! `nines_core::Status`. Consecutive-failure and -success thresholds keep a
//! flapping target from flapping the status; quorum combines the statuses of
//! several locations. No I/O and no clock.

use nines_core::Status;

use crate::config::CheckSpec;
use crate::result::Outcome;

/// Consecutive results needed to change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures before DOWN (at least 1).
    pub failure: u32,
    /// Consecutive successes before a DOWN or UNKNOWN check is up again (at least 1).
    pub success: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { failure: 3, success: 1 }
    }
}

impl Thresholds {
    pub fn of(spec: &CheckSpec) -> Self {
        let c = spec.common();
        Thresholds { failure: c.failure_threshold.max(1), success: c.success_threshold.max(1) }
    }
}

/// The state of one check at one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckState {
    pub status: Status,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState { status: Status::Unknown, consecutive_failures: 0, consecutive_successes: 0 }
    }
}

/// The state after one more result.
///
/// A `Down` result moves the check to DOWN once `failure` of them came in a
/// row; until then the status stays what it was. An `Up` or `Degraded`
/// result resets the failure count; it sets OPERATIONAL or DEGRADED at once
/// unless the check is DOWN or UNKNOWN, which need `success` in a row.
pub fn step(state: CheckState, outcome: Outcome, th: Thresholds) -> CheckState {
    match outcome {
        Outcome::Down => {
            let failures = state.consecutive_failures.saturating_add(1);
            let status = if failures >= th.failure.max(1) { Status::Down } else { state.status };
            CheckState { status, consecutive_failures: failures, consecutive_successes: 0 }
        }
        Outcome::Up | Outcome::Degraded => {
            let successes = state.consecutive_successes.saturating_add(1);
            let recovering = matches!(state.status, Status::Down | Status::Unknown);
            let status = if recovering && successes < th.success.max(1) {
                state.status
            } else if outcome == Outcome::Up {
                Status::Operational
            } else {
                Status::Degraded
            };
            CheckState { status, consecutive_failures: 0, consecutive_successes: successes }
        }
    }
}

/// The status of a check run from several locations: DOWN when at least
/// `quorum` locations (default: a majority) say DOWN; DEGRADED when some, but
/// fewer, do or any is DEGRADED; UNKNOWN when none has reported.
pub fn combine(locations: &[Status], quorum: Option<u32>) -> Status {
    let n = locations.len();
    if n == 0 {
        return Status::Unknown;
    }
    let k = quorum.map_or(n / 2 + 1, |q| (q as usize).clamp(1, n));
    let down = locations.iter().filter(|s| **s == Status::Down).count();
    if down >= k {
        return Status::Down;
    }
    if locations.iter().all(|s| *s == Status::Unknown) {
        return Status::Unknown;
    }
    if down > 0 || locations.contains(&Status::Degraded) {
        return Status::Degraded;
    }
    if locations.iter().all(|s| matches!(s, Status::Maintenance | Status::Unknown)) {
        return Status::Maintenance;
    }
    Status::Operational
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::{Degraded as G, Down as D, Up as U};
    use Status::{Degraded, Down, Operational, Unknown};
    use proptest::prelude::*;

    fn run(outcomes: &[Outcome], th: Thresholds) -> Vec<Status> {
        let mut s = CheckState::default();
        outcomes
            .iter()
            .map(|o| {
                s = step(s, *o, th);
                s.status
            })
            .collect()
    }

    #[test]
    fn thresholds_table() {
        let th = Thresholds::default();
        let two = Thresholds { failure: 1, success: 2 };
        let table: &[(&[Outcome], Thresholds, &[Status])] = &[
            (&[U], th, &[Operational]),
            (&[D, D, D], th, &[Unknown, Unknown, Down]),
            (&[U, D, D, U, D, D], th, &[Operational; 6]),
            (&[U, D, D, D, U], th, &[Operational, Operational, Operational, Down, Operational]),
            (&[U, G, U], th, &[Operational, Degraded, Operational]),
            (&[U, D, D, D, G], th, &[Operational, Operational, Operational, Down, Degraded]),
            (&[U, D, U, U, D], two, &[Unknown, Down, Down, Operational, Down]),
            (&[U, U, D, U, U], two, &[Unknown, Operational, Down, Down, Operational]),
            (&[U, D, U, D, U, U], two, &[Unknown, Down, Down, Down, Down, Operational]),
        ];
        for (outcomes, th, want) in table {
            assert_eq!(run(outcomes, *th), *want, "{outcomes:?}");
        }
    }

    #[test]
    fn quorum_table() {
        let table: &[(&[Status], Option<u32>, Status)] = &[
            (&[], None, Unknown),
            (&[Down], None, Down),
            (&[Down, Operational, Operational], None, Degraded),
            (&[Down, Down, Operational], None, Down),
            (&[Down, Operational, Operational], Some(1), Down),
            (&[Down, Down, Operational], Some(3), Degraded),
            (&[Operational, Unknown, Operational], None, Operational),
            (&[Unknown, Unknown], None, Unknown),
            (&[Degraded, Operational], None, Degraded),
            (&[Down, Down, Down, Operational], None, Down),
            (&[Down, Down, Operational, Operational], None, Degraded),
        ];
        for (locs, q, want) in table {
            assert_eq!(combine(locs, *q), *want, "{locs:?} quorum {q:?}");
        }
    }

    fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![Just(U), Just(G), Just(D)]
    }

    proptest! {
        /// Failures in runs shorter than the threshold never make a check DOWN.
        #[test]
        fn flapping_below_threshold_never_goes_down(
            failure in 1u32..6,
            success in 1u32..4,
            raw in proptest::collection::vec(outcome(), 0..200),
        ) {
            let th = Thresholds { failure, success };
            let mut run_len = 0;
            let outcomes: Vec<Outcome> = raw.into_iter().map(|o| {
                let o = if o == D && run_len + 1 >= failure { U } else { o };
                run_len = if o == D { run_len + 1 } else { 0 };
                o
            }).collect();
            prop_assert!(!run(&outcomes, th).contains(&Down));
        }

        /// `failure` failures in a row always make it DOWN.
        #[test]
        fn enough_failures_always_go_down(failure in 1u32..6, prefix in proptest::collection::vec(outcome(), 0..50)) {
            let th = Thresholds { failure, success: 1 };
            let mut outcomes = prefix;
            outcomes.extend(std::iter::repeat_n(D, failure as usize));
            prop_assert_eq!(run(&outcomes, th).last().copied(), Some(Down));
        }
    }
}
