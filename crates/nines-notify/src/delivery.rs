//! Delivery policy: when to try again and when to give up, and the record of
//! each attempt. The policy is pure (the jitter's random number is passed
//! in); [`deliver`] runs one attempt and returns the [`Attempt`] the caller
//! stores and schedules by; [`deliver_with_retries`] loops with an injected
//! sleep, for callers (and tests) that keep retries in memory.

use std::future::Future;
use std::time::Duration;

use nines_core::clock::{Clock, Millis};
use serde::{Deserialize, Serialize};

use crate::channel::Notifier;
use crate::error::{Class, SendError};
use crate::render::Message;

/// Exponential backoff: `initial · 2^(n-1)` after the n-th failed attempt,
/// capped at `max_delay_ms`, spread by ±`jitter` (a fraction), at most
/// `max_attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub max_attempts: u32,
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 5 min, … for 8 attempts (about
    /// 10 minutes in all), ±20 %.
    fn default() -> Self {
        RetryPolicy { initial_delay_ms: 5_000, max_delay_ms: 300_000, max_attempts: 8, jitter: 0.2 }
    }
}

impl RetryPolicy {
    /// The delay before attempt `failed + 1` without jitter.
    pub fn base_delay_ms(&self, failed: u32) -> u64 {
        let shift = failed.saturating_sub(1).min(63);
        self.initial_delay_ms.saturating_mul(1u64.checked_shl(shift).unwrap_or(u64::MAX)).min(self.max_delay_ms)
    }

    /// The jitter bounds `[lo, hi]` of the delay after `failed` attempts.
    pub fn delay_bounds_ms(&self, failed: u32) -> (u64, u64) {
        let base = self.base_delay_ms(failed) as f64;
        let j = self.jitter.clamp(0.0, 1.0);
        ((base * (1.0 - j)).round() as u64, (base * (1.0 + j)).round() as u64)
    }

    /// The delay for a random `unit` in `[0, 1)`: `lo + unit · (hi - lo)`.
    pub fn delay_ms(&self, failed: u32, unit: f64) -> u64 {
        let (lo, hi) = self.delay_bounds_ms(failed);
        lo + ((hi - lo) as f64 * unit.clamp(0.0, 1.0)).round() as u64
    }

    /// After attempt number `attempt` (1-based) failed with `error`: the
    /// delay before the next one, or `None` to give up. A server's
    /// `Retry-After` lengthens the delay, up to `max_delay_ms`.
    pub fn next_delay_ms(&self, attempt: u32, error: &SendError, unit: f64) -> Option<u64> {
        if error.class() == Class::Permanent || attempt >= self.max_attempts {
            return None;
        }
        let d = self.delay_ms(attempt, unit);
        Some(match error.retry_after_seconds() {
            Some(s) => d.max(s.saturating_mul(1000).min(self.max_delay_ms)),
            None => d,
        })
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Delivered,
    /// Failed; `Attempt::next_attempt_at` says when to try again.
    Retrying,
    /// Failed for good: a permanent error or the last attempt.
    Failed,
}

/// The record of one attempt, stored per attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1-based.
    pub attempt: u32,
    pub at: Millis,
    pub duration_ms: i64,
    pub outcome: Outcome,
    /// HTTP status or SMTP reply code, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Millis>,
}

/// A random number in `[0, 1)` for the jitter.
pub fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Run attempt number `attempt` (1-based) of sending `msg` through
/// `channel`, and say what happened and when to try again.
pub async fn deliver<N: Notifier + ?Sized>(
    channel: &N,
    msg: &Message,
    attempt: u32,
    policy: &RetryPolicy,
    clock: &dyn Clock,
) -> Attempt {
    let at = clock.now_ms();
    let result = channel.send(msg, at).await;
    let done = clock.now_ms();
    let mut rec = Attempt {
        attempt,
        at,
        duration_ms: done - at,
        outcome: Outcome::Delivered,
        status_code: None,
        error: None,
        next_attempt_at: None,
    };
    match result {
        Ok(d) => {
            rec.status_code = d.status_code;
            tracing::info!(message_id = %msg.id, kind = msg.event.kind().as_str(), attempt, "notification delivered");
        }
        Err(e) => {
            rec.status_code = e.status_code();
            rec.error = Some(e.to_string());
            match policy.next_delay_ms(attempt, &e, random_unit()) {
                Some(delay) => {
                    rec.outcome = Outcome::Retrying;
                    rec.next_attempt_at = Some(done + delay as i64);
                }
                None => rec.outcome = Outcome::Failed,
            }
            tracing::warn!(message_id = %msg.id, attempt, outcome = ?rec.outcome, error = %e, "notification not delivered");
        }
    }
    rec
}

/// Attempt until delivered or given up, sleeping through `sleep` between
/// attempts (`tokio::time::sleep` in production; a recorder in tests).
/// Returns every attempt.
pub async fn deliver_with_retries<N, S, F>(
    channel: &N,
    msg: &Message,
    policy: &RetryPolicy,
    clock: &dyn Clock,
    mut sleep: S,
) -> Vec<Attempt>
where
    N: Notifier + ?Sized,
    S: FnMut(Duration) -> F,
    F: Future<Output = ()>,
{
    let mut attempts = Vec::new();
    for n in 1..=policy.max_attempts.max(1) {
        let a = deliver(channel, msg, n, policy, clock).await;
        let next = a.next_attempt_at.map(|t| (t - a.at - a.duration_ms).max(0) as u64);
        let go_on = a.outcome == Outcome::Retrying;
        attempts.push(a);
        match next {
            Some(ms) if go_on => sleep(Duration::from_millis(ms)).await,
            _ => break,
        }
    }
    attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_and_caps() {
        let p = RetryPolicy::default();
        let base: Vec<u64> = (1..=9).map(|n| p.base_delay_ms(n)).collect();
        assert_eq!(base, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
        assert_eq!(p.delay_bounds_ms(1), (4_000, 6_000));
        assert_eq!(p.delay_bounds_ms(3), (16_000, 24_000));
        assert_eq!(p.delay_ms(3, 0.0), 16_000);
        assert_eq!(p.delay_ms(3, 0.5), 20_000);
        assert_eq!(p.delay_ms(3, 0.999_999), 24_000);
        assert_eq!(p.base_delay_ms(200), 300_000, "no overflow");
    }

    #[test]
    fn retries_only_what_can_succeed_and_only_so_often() {
        let p = RetryPolicy { jitter: 0.0, ..Default::default() };
        let s503 = SendError::Status { code: 503, body: String::new(), retry_after_seconds: None };
        let s404 = SendError::Status { code: 404, body: String::new(), retry_after_seconds: None };
        let s429 = SendError::Status { code: 429, body: String::new(), retry_after_seconds: Some(60) };
        assert_eq!(p.next_delay_ms(1, &s503, 0.3), Some(5_000));
        assert_eq!(p.next_delay_ms(2, &s503, 0.3), Some(10_000));
        assert_eq!(p.next_delay_ms(8, &s503, 0.3), None, "max attempts");
        assert_eq!(p.next_delay_ms(1, &s404, 0.3), None, "permanent");
        assert_eq!(p.next_delay_ms(1, &s429, 0.3), Some(60_000), "Retry-After");
        assert_eq!(p.next_delay_ms(1, &SendError::Timeout("t".into()), 0.3), Some(5_000));
        assert_eq!(p.next_delay_ms(1, &SendError::Config("c".into()), 0.3), None);
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
