//! Generic webhook: a JSON POST of the event and its rendering.
//!
//! # Signature scheme
//!
//! With a `secret`, every request carries
//!
//! ```text
//! X-Nines-Timestamp: 1795233600                 (Unix seconds when sent)
//! X-Nines-Signature: sha256=<hex>               (lowercase hex)
//! ```
//!
//! where `<hex>` is HMAC-SHA256, keyed with the secret, of the timestamp, a
//! dot and the raw body bytes: `"{timestamp}.{body}"`. Signing the timestamp
//! lets a receiver refuse replays: recompute the HMAC over the body as
//! received, compare in constant time, and reject timestamps more than a few
//! minutes away from its clock ([`verify`] does all of that). Each request
//! also carries `X-Nines-Delivery` (the message id, the same on retries: the
//! receiver's deduplication key) and `X-Nines-Event` (the event kind).
//!
//! Body:
//!
//! ```json
//! { "id": "…", "kind": "downtime_opened", "title": "…", "markdown": "…",
//!   "text": "…", "link": "https://…", "sentAt": "2026-11-21T04:00:00.000Z",
//!   "event": { "kind": "downtime_opened", … } }
//! ```

use hmac::{Hmac, KeyInit, Mac};
use nines_core::clock::{Millis, rfc3339};
use serde::Serialize;
use sha2::Sha256;

use super::{Delivery, Notifier, execute, header_map, http_client};
use crate::config::WebhookConfig;
use crate::error::{BuildError, SendError};
use crate::event::Event;
use crate::render::Message;

pub const SIGNATURE_HEADER: &str = "x-nines-signature";
pub const TIMESTAMP_HEADER: &str = "x-nines-timestamp";
pub const DELIVERY_HEADER: &str = "x-nines-delivery";
pub const EVENT_HEADER: &str = "x-nines-event";

/// The JSON body the webhook posts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody<'a> {
    pub id: &'a str,
    pub kind: &'static str,
    pub title: &'a str,
    pub markdown: String,
    pub text: String,
    pub link: &'a str,
    pub sent_at: String,
    pub event: &'a Event,
}

impl<'a> WebhookBody<'a> {
    pub fn new(msg: &'a Message, now: Millis) -> Self {
        WebhookBody {
            id: &msg.id,
            kind: msg.event.kind().as_str(),
            title: &msg.rendered.title,
            markdown: msg.rendered.markdown(),
            text: msg.rendered.plain(),
            link: &msg.rendered.link,
            sent_at: rfc3339(now),
            event: &msg.event,
        }
    }
}

/// `sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing or malformed signature header")]
    Malformed,
    #[error("timestamp outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Check a received request, for receivers written in Rust (and the tests):
/// `timestamp` and `signature` are the header values, `now_seconds` the
/// receiver's clock, `tolerance_seconds` the allowed skew (300 is usual).
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_seconds: i64,
    tolerance_seconds: i64,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| VerifyError::Malformed)?;
    let hex_sig = signature.trim().strip_prefix("sha256=").ok_or(VerifyError::Malformed)?;
    let sig = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed)?;
    if (now_seconds - ts).abs() > tolerance_seconds {
        return Err(VerifyError::Stale);
    }
    mac(secret, ts, body).verify_slice(&sig).map_err(|_| VerifyError::Mismatch)
}

#[derive(Debug)]
pub struct WebhookChannel {
    config: WebhookConfig,
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
}

impl WebhookChannel {
    pub fn new(config: WebhookConfig) -> Result<Self, BuildError> {
        Ok(WebhookChannel {
            client: http_client(config.timeout_seconds)?,
            headers: header_map(&config.headers)?,
            config,
        })
    }
}

impl Notifier for WebhookChannel {
    async fn send(&self, msg: &Message, now: Millis) -> Result<Delivery, SendError> {
        let body = serde_json::to_vec(&WebhookBody::new(msg, now)).map_err(|e| SendError::Config(e.to_string()))?;
        let mut req = self
            .client
            .post(&self.config.url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, &msg.id)
            .header(EVENT_HEADER, msg.event.kind().as_str());
        if let Some(secret) = &self.config.secret {
            let ts = now.div_euclid(1000);
            req = req
                .header(TIMESTAMP_HEADER, ts.to_string())
                .header(SIGNATURE_HEADER, sign(secret.expose().as_bytes(), ts, &body));
        }
        execute(req.body(body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Independently computed: printf '1795233600.{"a":1}' | openssl dgst -sha256 -hmac s3cr3t
        let sig = sign(b"s3cr3t", 1_795_233_600, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=888ccb6ecdaad9b904459a6abc8c99a6558f44808b6a52c1721f6f3fd84c22b8");
    }

    #[test]
    fn verify_accepts_the_right_secret_only() {
        let body = br#"{"a":1}"#;
        let sig = sign(b"s3cr3t", 1000, body);
        assert_eq!(verify(b"s3cr3t", "1000", body, &sig, 1100, 300), Ok(()));
        assert_eq!(verify(b"wrong", "1000", body, &sig, 1100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"s3cr3t", "1001", body, &sig, 1100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"s3cr3t", "1000", b"{\"a\":2}", &sig, 1100, 300), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"s3cr3t", "1000", body, &sig, 2000, 300), Err(VerifyError::Stale));
        assert_eq!(verify(b"s3cr3t", "1000", body, "md5=00", 1000, 300), Err(VerifyError::Malformed));
    }
}
