//! The `tls` check: a verified TLS handshake and the earliest expiry of the
//! presented chain against `warningDays` (DEGRADED) and `criticalDays` (DOWN).
//! Expiry is measured against the injected clock, so tests can move time;
//! the handshake itself verifies validity against the system time.

use std::time::Instant;

use crate::config::TlsCheck;
use crate::net::{self, ProbeEnv, days_left, expired_ago};
use crate::result::{ErrorKind, ProbeResult, Timings};

/// Run one `tls` check. Never panics; the caller bounds it in time.
pub async fn probe(check: &TlsCheck, env: &ProbeEnv, t: &mut Timings) -> ProbeResult {
    let start = Instant::now();
    let r = run(check, env, t).await.unwrap_or_else(|e| e);
    t.total = start.elapsed();
    r
}

async fn run(check: &TlsCheck, env: &ProbeEnv, t: &mut Timings) -> Result<ProbeResult, ProbeResult> {
    let addr = net::resolve(&env.resolver, &check.host, check.port, t).await?;
    let tcp = net::connect(addr, t).await?;
    let name = check.server_name.as_deref().unwrap_or(&check.host);
    let session = net::tls_handshake(env, tcp, name, true, t).await?;
    let Some(not_after) = session.not_after_ms else {
        return Ok(ProbeResult::down(ErrorKind::TlsCertificateInvalid, "TLS: no certificate could be read"));
    };
    Ok(classify(env.clock.now_ms(), not_after, check.warning_days, check.critical_days))
}

/// Pure: the verdict for a certificate expiring at `not_after` seen at `now`.
pub fn classify(now_ms: i64, not_after_ms: i64, warning_days: u32, critical_days: u32) -> ProbeResult {
    let left = days_left(now_ms, not_after_ms);
    let mut r = if not_after_ms <= now_ms {
        ProbeResult::down(
            ErrorKind::CertificateExpired,
            format!("TLS: certificate {}", expired_ago(now_ms, not_after_ms)),
        )
    } else if left < i64::from(critical_days) {
        ProbeResult::down(
            ErrorKind::CertificateExpiresSoon,
            format!("TLS: certificate expires in {left} days (critical below {critical_days})"),
        )
    } else if left < i64::from(warning_days) {
        ProbeResult::degraded(
            ErrorKind::CertificateExpiresSoon,
            format!("TLS: certificate expires in {left} days (warning below {warning_days})"),
        )
    } else {
        ProbeResult::up(format!("TLS: certificate valid for {left} more days"))
    };
    r.cert_not_after_ms = Some(not_after_ms);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::Outcome;

    #[test]
    fn expiry_table() {
        let day = 86_400_000;
        let now = 1_000 * day;
        let table = [
            (now + 40 * day, Outcome::Up, "TLS: certificate valid for 40 more days"),
            (now + 30 * day, Outcome::Up, "TLS: certificate valid for 30 more days"),
            (now + 29 * day, Outcome::Degraded, "TLS: certificate expires in 29 days (warning below 30)"),
            (now + 7 * day, Outcome::Degraded, "TLS: certificate expires in 7 days (warning below 30)"),
            (now + 5 * day, Outcome::Down, "TLS: certificate expires in 5 days (critical below 7)"),
            (now - 3 * day, Outcome::Down, "TLS: certificate expired 3 days ago"),
        ];
        for (not_after, outcome, msg) in table {
            let r = classify(now, not_after, 30, 7);
            assert_eq!((r.outcome, r.message.as_str()), (outcome, msg));
            assert_eq!(r.cert_not_after_ms, Some(not_after));
        }
    }
}
