//! Recent results of one check for the dashboard: the last results and,
//! kept apart so a long good streak does not push them out, the last
//! failures with their messages. A pure ring buffer; the engine owns one per
//! check.

use std::collections::VecDeque;

use nines_core::clock::Millis;

use crate::result::{Outcome, ProbeResult};

/// Results kept per check by default.
pub const DEFAULT_RESULTS: usize = 100;
/// Failures kept per check by default.
pub const DEFAULT_FAILURES: usize = 20;

/// One result and when its run started.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub at_ms: Millis,
    pub result: ProbeResult,
}

/// Bounded history of one check.
#[derive(Debug, Clone)]
pub struct RecentResults {
    results: VecDeque<Recorded>,
    failures: VecDeque<Recorded>,
    max_results: usize,
    max_failures: usize,
}

impl Default for RecentResults {
    fn default() -> Self {
        Self::new(DEFAULT_RESULTS, DEFAULT_FAILURES)
    }
}

impl RecentResults {
    pub fn new(max_results: usize, max_failures: usize) -> Self {
        RecentResults {
            results: VecDeque::with_capacity(max_results.min(16)),
            failures: VecDeque::new(),
            max_results,
            max_failures,
        }
    }

    /// Record a result; anything but `Up` is also kept as a failure.
    pub fn push(&mut self, at_ms: Millis, result: ProbeResult) {
        let rec = Recorded { at_ms, result };
        if rec.result.outcome != Outcome::Up && self.max_failures > 0 {
            if self.failures.len() == self.max_failures {
                self.failures.pop_front();
            }
            self.failures.push_back(rec.clone());
        }
        if self.max_results > 0 {
            if self.results.len() == self.max_results {
                self.results.pop_front();
            }
            self.results.push_back(rec);
        }
    }

    /// Newest first.
    pub fn results(&self) -> impl Iterator<Item = &Recorded> {
        self.results.iter().rev()
    }
    /// Newest first.
    pub fn failures(&self) -> impl Iterator<Item = &Recorded> {
        self.failures.iter().rev()
    }
    pub fn last(&self) -> Option<&Recorded> {
        self.results.back()
    }
    pub fn len(&self) -> usize {
        self.results.len()
    }
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::ErrorKind;

    #[test]
    fn keeps_the_last_results_and_failures() {
        let mut h = RecentResults::new(100, 20);
        for i in 0..250 {
            let r = if i % 10 == 0 {
                ProbeResult::down(ErrorKind::ConnectionRefused, format!("refused #{i}"))
            } else {
                ProbeResult::up("ok")
            };
            h.push(i, r);
        }
        assert_eq!(h.len(), 100);
        assert_eq!(h.results().next().unwrap().at_ms, 249);
        assert_eq!(h.results().last().unwrap().at_ms, 150);
        let f: Vec<_> = h.failures().map(|r| r.at_ms).collect();
        assert_eq!(f.len(), 20);
        assert_eq!(f[0], 240);
        assert_eq!(f[19], 50);
        assert_eq!(h.failures().next().unwrap().result.message, "refused #240");
        assert_eq!(h.last().unwrap().at_ms, 249);
    }
}
