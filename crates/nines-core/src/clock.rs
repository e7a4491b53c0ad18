//! The clock is injected: production passes the system clock, tests a
//! [`ManualClock`] they move by hand, so stale detection and lease expiry are
//! tested in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC. Every stored instant is one.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// A clock that only moves when told to.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Format an instant as RFC 3339 UTC with millisecond precision.
pub fn rfc3339(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => String::from("invalid"),
    }
}

/// Parse an RFC 3339 instant (any offset) into milliseconds.
pub fn parse_rfc3339(s: &str) -> Result<Millis, String> {
    // RFC 3339 offsets are -23:59..+23:59; the parser takes up to 25:59
    if let Some(off) = s.get(s.len().saturating_sub(6)..)
        && let [sign, h1, h2, b':', m1, m2] = off.as_bytes()
        && matches!(sign, b'+' | b'-')
    {
        let digits = [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit());
        let (h, m) = ((h1 - b'0') * 10 + (h2 - b'0'), (m1 - b'0') * 10 + (m2 - b'0'));
        if !digits || h > 23 || m > 59 {
            return Err(format!("not an RFC 3339 timestamp (offset {off} is out of range -23:59..+23:59)"));
        }
    }
    s.parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|e| format!("not an RFC 3339 timestamp ({e})"))
}

/// The two largest units: `2d 3h`, `1h 5m`, `42m`, `30s`.
pub fn format_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (sec, "s")]
        .iter()
        .skip_while(|(v, _)| *v == 0)
        .take(2)
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    if parts.is_empty() { "0s".into() } else { parts.join(" ") }
}

#[cfg(test)]
mod offset_tests {
    #[test]
    fn offsets_past_23_59_are_refused() {
        use super::parse_rfc3339;
        assert_eq!(parse_rfc3339("2026-12-06T10:00:00+01:00"), parse_rfc3339("2026-12-06T09:00:00Z"));
        assert!(parse_rfc3339("2026-12-06T10:00:00-23:59").is_ok());
        for bad in ["2026-12-06T10:00:00+25:00", "2026-12-06T10:00:00+24:00", "2026-12-06T10:00:00+01:60"] {
            let e = parse_rfc3339(bad).unwrap_err();
            assert!(e.contains("out of range"), "{bad}: {e}");
        }
    }
}
