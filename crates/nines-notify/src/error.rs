//! Errors of sending, each classified as retryable or permanent.

use thiserror::Error;

/// Why a send failed. [`SendError::retryable`] is what the delivery policy
/// asks; the message never holds a secret (URLs of secret-bearing channels
/// are left out).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection failed: {0}")]
    Connect(String),
    /// The receiver answered with a non-2xx status.
    #[error("HTTP {code}: {body}")]
    Status { code: u16, body: String, retry_after_seconds: Option<u64> },
    /// An SMTP reply code: 4xx transient, 5xx permanent.
    #[error("SMTP {}: {message}", code.map(|c| c.to_string()).unwrap_or_else(|| "error".into()))]
    Smtp { code: Option<u16>, transient: bool, message: String },
    /// The channel's config cannot work (bad address, bad certificate).
    #[error("configuration: {0}")]
    Config(String),
    /// Anything else on the way (TLS, protocol); retried.
    #[error("{0}")]
    Transport(String),
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Retryable,
    Permanent,
}

impl SendError {
    pub fn class(&self) -> Class {
        match self {
            SendError::Timeout(_) | SendError::Connect(_) | SendError::Transport(_) => Class::Retryable,
            SendError::Status { code, .. } => status_class(*code),
            SendError::Smtp { transient, .. } => {
                if *transient {
                    Class::Retryable
                } else {
                    Class::Permanent
                }
            }
            SendError::Config(_) => Class::Permanent,
        }
    }

    pub fn retryable(&self) -> bool {
        self.class() == Class::Retryable
    }

    /// The HTTP status or SMTP reply code, to store with the attempt.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            SendError::Status { code, .. } => Some(*code),
            SendError::Smtp { code, .. } => *code,
            _ => None,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            SendError::Status { retry_after_seconds, .. } => *retry_after_seconds,
            _ => None,
        }
    }

    /// From a reqwest error. The URL is dropped: for Slack it is the secret.
    pub(crate) fn from_reqwest(e: reqwest::Error) -> SendError {
        let (timeout, connect, builder) = (e.is_timeout(), e.is_connect(), e.is_builder());
        let msg = describe(&e.without_url());
        if timeout {
            SendError::Timeout(msg)
        } else if connect {
            SendError::Connect(msg)
        } else if builder {
            SendError::Config(msg)
        } else {
            SendError::Transport(msg)
        }
    }
}

/// An error and its sources in one line.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// 408, 425, 429 and 5xx are worth retrying; other 4xx will fail the same
/// way again.
pub fn status_class(code: u16) -> Class {
    match code {
        408 | 425 | 429 | 500..=599 => Class::Retryable,
        _ => Class::Permanent,
    }
}

/// Building a channel from its config.
#[derive(Debug, Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(#[from] nines_core::FieldErrors),
    #[error("{0}")]
    Client(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let st = |code| SendError::Status { code, body: String::new(), retry_after_seconds: None };
        for (e, want) in [
            (SendError::Timeout("t".into()), Class::Retryable),
            (SendError::Connect("refused".into()), Class::Retryable),
            (SendError::Transport("tls".into()), Class::Retryable),
            (st(500), Class::Retryable),
            (st(502), Class::Retryable),
            (st(503), Class::Retryable),
            (st(429), Class::Retryable),
            (st(408), Class::Retryable),
            (st(400), Class::Permanent),
            (st(401), Class::Permanent),
            (st(404), Class::Permanent),
            (st(410), Class::Permanent),
            (st(422), Class::Permanent),
            (SendError::Smtp { code: Some(451), transient: true, message: String::new() }, Class::Retryable),
            (SendError::Smtp { code: Some(550), transient: false, message: String::new() }, Class::Permanent),
            (SendError::Config("bad".into()), Class::Permanent),
        ] {
            assert_eq!(e.class(), want, "{e}");
        }
        assert_eq!(st(503).status_code(), Some(503));
        assert_eq!(st(503).to_string(), "HTTP 503: ");
    }
}
