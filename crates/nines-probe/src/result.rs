//! What one probe run returns: an outcome, a message in plain words, a
//! bounded error kind (safe as a metric label), per-phase timings, the HTTP
//! status and the earliest certificate expiry. Probes build these; the engine
//! records them.

use std::time::Duration;

use nines_core::clock::Millis;
use serde::Serialize;

/// The verdict of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Up,
    /// Answered, but slowly or with a certificate about to expire.
    Degraded,
    Down,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "up",
            Outcome::Degraded => "degraded",
            Outcome::Down => "down",
        }
    }
    /// Whether the target answered well enough to count as reachable.
    pub fn is_success(self) -> bool {
        !matches!(self, Outcome::Down)
    }
}

/// Why a run was not `Up`. A closed set, so it is safe as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    DnsNoSuchHost,
    DnsNoRecords,
    DnsFailure,
    DnsAnswerMismatch,
    ConnectionRefused,
    ConnectFailed,
    TlsHandshake,
    TlsCertificateInvalid,
    CertificateExpired,
    CertificateExpiresSoon,
    HttpProtocol,
    UnexpectedStatus,
    TooManyRedirects,
    BodyMismatch,
    SlowResponse,
    InvalidConfig,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::Timeout,
        ErrorKind::DnsNoSuchHost,
        ErrorKind::DnsNoRecords,
        ErrorKind::DnsFailure,
        ErrorKind::DnsAnswerMismatch,
        ErrorKind::ConnectionRefused,
        ErrorKind::ConnectFailed,
        ErrorKind::TlsHandshake,
        ErrorKind::TlsCertificateInvalid,
        ErrorKind::CertificateExpired,
        ErrorKind::CertificateExpiresSoon,
        ErrorKind::HttpProtocol,
        ErrorKind::UnexpectedStatus,
        ErrorKind::TooManyRedirects,
        ErrorKind::BodyMismatch,
        ErrorKind::SlowResponse,
        ErrorKind::InvalidConfig,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::DnsNoSuchHost => "dns_no_such_host",
            ErrorKind::DnsNoRecords => "dns_no_records",
            ErrorKind::DnsFailure => "dns_failure",
            ErrorKind::DnsAnswerMismatch => "dns_answer_mismatch",
            ErrorKind::ConnectionRefused => "connection_refused",
            ErrorKind::ConnectFailed => "connect_failed",
            ErrorKind::TlsHandshake => "tls_handshake",
            ErrorKind::TlsCertificateInvalid => "tls_certificate_invalid",
            ErrorKind::CertificateExpired => "certificate_expired",
            ErrorKind::CertificateExpiresSoon => "certificate_expires_soon",
            ErrorKind::HttpProtocol => "http_protocol",
            ErrorKind::UnexpectedStatus => "unexpected_status",
            ErrorKind::TooManyRedirects => "too_many_redirects",
            ErrorKind::BodyMismatch => "body_mismatch",
            ErrorKind::SlowResponse => "slow_response",
            ErrorKind::InvalidConfig => "invalid_config",
        }
    }
}

/// Time spent in each phase; `None` for a phase the run did not reach or need
/// (no `dns` for an IP literal, no `tls` for plain HTTP). With redirects, the
/// phases are those of the last hop and `total` covers all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub dns: Option<Duration>,
    pub connect: Option<Duration>,
    pub tls: Option<Duration>,
    pub first_byte: Option<Duration>,
    pub total: Duration,
}

/// The result of one probe run. Probes write nothing; this is all they say.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub outcome: Outcome,
    /// Plain words: `connection refused`, `status 503 where 200-299 was expected`.
    pub message: String,
    pub error: Option<ErrorKind>,
    pub timings: Timings,
    pub http_status: Option<u16>,
    /// Earliest `notAfter` of the certificates the server presented, ms since the epoch.
    pub cert_not_after_ms: Option<Millis>,
}

impl ProbeResult {
    pub fn up(message: impl Into<String>) -> Self {
        ProbeResult {
            outcome: Outcome::Up,
            message: message.into(),
            error: None,
            timings: Timings::default(),
            http_status: None,
            cert_not_after_ms: None,
        }
    }
    pub fn down(error: ErrorKind, message: impl Into<String>) -> Self {
        ProbeResult { outcome: Outcome::Down, error: Some(error), ..ProbeResult::up(message) }
    }
    pub fn degraded(error: ErrorKind, message: impl Into<String>) -> Self {
        ProbeResult { outcome: Outcome::Degraded, error: Some(error), ..ProbeResult::up(message) }
    }
}

/// `10 s`, `0.5 s`, `812 ms`: durations as people read them.
pub fn human_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let s = d.as_secs_f64();
        if s.fract() == 0.0 { format!("{s:.0} s") } else { format!("{s:.1} s") }
    } else {
        format!("{} ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_durations_read_well() {
        let mut labels: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ErrorKind::ALL.len());
        assert_eq!(human_duration(Duration::from_secs(10)), "10 s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
    }
}
