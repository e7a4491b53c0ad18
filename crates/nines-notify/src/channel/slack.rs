//! Slack-compatible incoming webhook. Slack, Mattermost and Rocket.Chat all
//! accept `{"text": …}` with `<url|text>` links, plus the optional
//! `channel`, `username` and `icon_url`; nothing beyond that common subset
//! is sent (no blocks, no attachments). The text is the rendered body alone:
//! its first line already names and links what the message is about.

use nines_core::clock::Millis;
use serde::Serialize;

use super::{Delivery, Notifier, execute, http_client};
use crate::config::SlackConfig;
use crate::error::{BuildError, SendError};
use crate::render::Message;

/// The JSON an incoming webhook receives.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SlackPayload<'a> {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<&'a str>,
}

#[derive(Debug)]
pub struct SlackChannel {
    config: SlackConfig,
    client: reqwest::Client,
}

impl SlackChannel {
    pub fn new(config: SlackConfig) -> Result<Self, BuildError> {
        Ok(SlackChannel { client: http_client(config.timeout_seconds)?, config })
    }

    pub fn payload<'a>(&'a self, msg: &Message) -> SlackPayload<'a> {
        SlackPayload {
            text: msg.rendered.slack(),
            channel: self.config.channel.as_deref(),
            username: self.config.username.as_deref(),
            icon_url: self.config.icon_url.as_deref(),
        }
    }
}

impl Notifier for SlackChannel {
    async fn send(&self, msg: &Message, _now: Millis) -> Result<Delivery, SendError> {
        execute(self.client.post(self.config.url.expose()).json(&self.payload(msg))).await
    }
}
