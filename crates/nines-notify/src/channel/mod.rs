//! The channels, one module each behind [`Notifier`], and [`Channel`], the
//! typed registry that builds one from its [`ChannelConfig`]. Channels send
//! and return what happened; they store nothing and retry nothing (that is
//! [`crate::delivery`]).

pub mod alertmanager;
pub mod email;
pub mod slack;
pub mod webhook;

use std::future::Future;
use std::time::Duration;

use nines_core::clock::Millis;
use serde::{Deserialize, Serialize};

use crate::config::{ChannelConfig, Secret};
use crate::error::{BuildError, SendError};
use crate::render::Message;

/// What the receiver said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// HTTP status or SMTP reply code.
    pub status_code: Option<u16>,
    /// A short receipt (SMTP queue id line, response body start).
    pub detail: Option<String>,
}

/// A way to send a message. `now` is the sending time (signature timestamps,
/// Alertmanager's `endsAt`): passed in so tests control it.
pub trait Notifier: Send + Sync {
    fn send(&self, msg: &Message, now: Millis) -> impl Future<Output = Result<Delivery, SendError>> + Send;
}

/// A built channel of any kind.
#[derive(Debug)]
pub enum Channel {
    Webhook(webhook::WebhookChannel),
    Slack(slack::SlackChannel),
    Email(email::EmailChannel),
    Alertmanager(alertmanager::AlertmanagerChannel),
}

impl Channel {
    /// Validate `config` and build the channel (HTTP client, SMTP transport).
    pub fn build(config: &ChannelConfig) -> Result<Channel, BuildError> {
        config.validate("")?;
        Ok(match config {
            ChannelConfig::Webhook(c) => Channel::Webhook(webhook::WebhookChannel::new(c.clone())?),
            ChannelConfig::Slack(c) => Channel::Slack(slack::SlackChannel::new(c.clone())?),
            ChannelConfig::Email(c) => Channel::Email(email::EmailChannel::new(c.clone())?),
            ChannelConfig::Alertmanager(c) => Channel::Alertmanager(alertmanager::AlertmanagerChannel::new(c.clone())?),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook(_) => "webhook",
            Channel::Slack(_) => "slack",
            Channel::Email(_) => "email",
            Channel::Alertmanager(_) => "alertmanager",
        }
    }
}

impl Notifier for Channel {
    async fn send(&self, msg: &Message, now: Millis) -> Result<Delivery, SendError> {
        match self {
            Channel::Webhook(c) => c.send(msg, now).await,
            Channel::Slack(c) => c.send(msg, now).await,
            Channel::Email(c) => c.send(msg, now).await,
            Channel::Alertmanager(c) => c.send(msg, now).await,
        }
    }
}

/// The HTTP client of one channel: its own timeout, no redirects (a
/// redirect would resend a signed body somewhere else).
pub(crate) fn http_client(timeout_seconds: u64) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_seconds))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nines-notify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| BuildError::Client(crate::error::describe(&e)))
}

pub(crate) fn header_map(
    headers: &std::collections::BTreeMap<String, Secret>,
) -> Result<reqwest::header::HeaderMap, BuildError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| BuildError::Client(format!("headers.{k}: not a valid header name")))?;
        let mut value = reqwest::header::HeaderValue::from_str(v.expose())
            .map_err(|_| BuildError::Client(format!("headers.{k}: invalid value")))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// Send a prepared request; a non-2xx answer becomes [`SendError::Status`]
/// with the start of its body.
pub(crate) async fn execute(req: reqwest::RequestBuilder) -> Result<Delivery, SendError> {
    let resp = req.send().await.map_err(SendError::from_reqwest)?;
    let code = resp.status().as_u16();
    let retry_after_seconds = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(512).collect();
    if (200..300).contains(&code) {
        Ok(Delivery { status_code: Some(code), detail: (!body.is_empty()).then_some(body) })
    } else {
        Err(SendError::Status { code, body, retry_after_seconds })
    }
}
