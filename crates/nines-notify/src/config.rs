//! Channel configuration: one variant per channel kind, tagged by `type`,
//! strict (`deny_unknown_fields`), camelCase, defaults applied while
//! parsing. [`ChannelConfig::validate`] touches nothing and reports every
//! problem with its path; building a channel (`crate::channel::build`) is
//! separate. Secrets are [`Secret`]s: serialized as they are (the caller
//! stores the config) but never shown by `Debug`; [`ChannelConfig::redacted`]
//! is the copy to show in an API or a log.

use std::collections::BTreeMap;
use std::fmt;

use nines_core::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

/// A secret string. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub const REDACTED: &'static str = "<redacted>";
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call it only where the value is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
    fn redacted(&self) -> Secret {
        Secret(Self::REDACTED.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ChannelConfig {
    Webhook(WebhookConfig),
    Slack(SlackConfig),
    Email(EmailConfig),
    Alertmanager(AlertmanagerConfig),
}

fn default_timeout_seconds() -> u64 {
    10
}

/// A JSON POST of the event and its rendering, signed with HMAC-SHA256 when
/// a secret is set (see `crate::channel::webhook` for the scheme).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL to POST to.
    pub url: String,
    /// Signs each request (`X-Nines-Signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// Extra request headers, e.g. `Authorization`; values are secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

/// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    /// The incoming-webhook URL; it is the credential, so it is a secret.
    pub url: Secret,
    /// Override the channel (honoured by Mattermost and Rocket.Chat and by
    /// legacy Slack webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_url: Option<String>,
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; refused if the server does
    /// not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on the same host; no credentials allowed.
    None,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_smtp_timeout_seconds() -> u64 {
    30
}

/// Mail over SMTP: subject = title, body = the Markdown text with an HTML
/// alternative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    /// `nines <nines@example.com>` or `nines@example.com`.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// PEM certificates trusted in addition to the system's roots (an
    /// internal CA, a self-signed relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_pem: Option<String>,
    #[serde(default = "default_smtp_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_alert_ttl_seconds() -> u64 {
    86_400
}

/// Alerts posted to an Alertmanager's API v2 (`{url}/api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL of Alertmanager, e.g. `http://alertmanager:9093`.
    pub url: String,
    /// Extra request headers (`Authorization`); values are secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Labels added to every alert (`cluster: eu-1`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_labels: BTreeMap<String, String>,
    /// A firing alert's `endsAt` is this far after sending: Alertmanager
    /// resolves it by itself if nines stops re-sending and never resolves it.
    #[serde(default = "default_alert_ttl_seconds")]
    pub alert_ttl_seconds: u64,
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

impl ChannelConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Webhook(_) => "webhook",
            ChannelConfig::Slack(_) => "slack",
            ChannelConfig::Email(_) => "email",
            ChannelConfig::Alertmanager(_) => "alertmanager",
        }
    }

    /// Parse from JSON, naming the path of the first problem
    /// (`to[1]: invalid type…`). Serde's internally tagged enums lose the
    /// path, so the `type` is read first and the variant parsed on its own.
    pub fn from_json(s: &str) -> Result<ChannelConfig, FieldError> {
        let mut v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| FieldError::invalid("", format!("not JSON ({e})")))?;
        let Some(obj) = v.as_object_mut() else {
            return Err(FieldError::invalid("", "a channel is a JSON object"));
        };
        let kind = match obj.remove("type") {
            Some(serde_json::Value::String(k)) => k,
            Some(_) => return Err(FieldError::invalid("type", "must be a string")),
            None => return Err(FieldError::missing("type")),
        };
        fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, FieldError> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let msg = e.into_inner().to_string();
                // `missing field `url`` names the field in the message, not the path.
                match msg.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
                    Some(f) if path.is_empty() => FieldError::missing(f),
                    Some(f) => FieldError::missing(format!("{path}.{f}")),
                    None => FieldError::invalid(path, msg),
                }
            })
        }
        Ok(match kind.as_str() {
            "webhook" => ChannelConfig::Webhook(parse(v)?),
            "slack" => ChannelConfig::Slack(parse(v)?),
            "email" => ChannelConfig::Email(parse(v)?),
            "alertmanager" => ChannelConfig::Alertmanager(parse(v)?),
            other => {
                return Err(FieldError::invalid(
                    "type",
                    format!("unknown channel type {other:?}; expected one of webhook, slack, email, alertmanager"),
                ));
            }
        })
    }

    /// Every problem, each with its path under `prefix` (e.g. `channels[2]`).
    pub fn validate(&self, prefix: &str) -> Result<(), FieldErrors> {
        let mut v = V { prefix, errs: FieldErrors::default() };
        match self {
            ChannelConfig::Webhook(c) => {
                v.url("url", &c.url);
                v.headers(&c.headers);
                v.timeout(c.timeout_seconds);
                if c.secret.as_ref().is_some_and(|s| s.expose().is_empty()) {
                    v.err("secret", "must not be empty");
                }
            }
            ChannelConfig::Slack(c) => {
                // The URL is a secret: report what is wrong, never the value.
                if !reqwest::Url::parse(c.url.expose()).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                    v.err("url", "must be an absolute http:// or https:// URL");
                }
                if let Some(icon) = &c.icon_url {
                    v.url("iconUrl", icon);
                }
                v.timeout(c.timeout_seconds);
            }
            ChannelConfig::Email(c) => {
                if c.smtp_host.trim().is_empty() {
                    v.err("smtpHost", "must not be empty");
                }
                if c.smtp_port == 0 {
                    v.err("smtpPort", "must be 1..=65535");
                }
                if let Err(e) = c.from.parse::<lettre::message::Mailbox>() {
                    v.err("from", format!("not an email address ({e})"));
                }
                if c.to.is_empty() {
                    v.err("to", "at least one recipient is required");
                }
                for (i, to) in c.to.iter().enumerate() {
                    if let Err(e) = to.parse::<lettre::message::Mailbox>() {
                        v.err(&format!("to[{i}]"), format!("not an email address ({e})"));
                    }
                }
                match (&c.username, &c.password) {
                    (Some(_), None) => v.err("password", "required with username"),
                    (None, Some(_)) => v.err("username", "required with password"),
                    (Some(_), Some(_)) if c.tls == SmtpTls::None => {
                        v.err("tls", "credentials are never sent without TLS; use starttls or tls")
                    }
                    _ => {}
                }
                if let Some(pem) = &c.ca_certificate_pem
                    && (!pem.contains("-----BEGIN CERTIFICATE-----")
                        || lettre::transport::smtp::client::Certificate::from_pem(pem.as_bytes()).is_err())
                {
                    v.err("caCertificatePem", "not a PEM certificate");
                }
                if c.timeout_seconds == 0 || c.timeout_seconds > 300 {
                    v.err("timeoutSeconds", "must be 1..=300");
                }
            }
            ChannelConfig::Alertmanager(c) => {
                v.url("url", &c.url);
                v.headers(&c.headers);
                v.timeout(c.timeout_seconds);
                for k in c.extra_labels.keys() {
                    if !is_label_name(k) {
                        v.err(&format!("extraLabels.{k}"), "label names match [a-zA-Z_][a-zA-Z0-9_]*");
                    }
                }
                if c.alert_ttl_seconds < 60 {
                    v.err("alertTtlSeconds", "must be at least 60");
                }
            }
        }
        v.errs.into_result(())
    }

    /// Where `self` (an update) still holds `<redacted>` — a client sent
    /// back what it read — take the secret from `old`, the stored config, so
    /// read-modify-write keeps the secrets. A placeholder with nothing to
    /// take from stays, and fails validation as any wrong value would.
    pub fn keep_redacted_secrets(&mut self, old: &ChannelConfig) {
        fn keep(new: &mut Secret, old: Option<&Secret>) {
            if new.0 == Secret::REDACTED
                && let Some(o) = old
            {
                *new = o.clone();
            }
        }
        fn keep_map(new: &mut BTreeMap<String, Secret>, old: &BTreeMap<String, Secret>) {
            for (k, v) in new.iter_mut() {
                keep(v, old.get(k));
            }
        }
        match (self, old) {
            (ChannelConfig::Webhook(n), ChannelConfig::Webhook(o)) => {
                if let Some(s) = n.secret.as_mut() {
                    keep(s, o.secret.as_ref());
                }
                keep_map(&mut n.headers, &o.headers);
            }
            (ChannelConfig::Slack(n), ChannelConfig::Slack(o)) => keep(&mut n.url, Some(&o.url)),
            (ChannelConfig::Email(n), ChannelConfig::Email(o)) => {
                if let Some(p) = n.password.as_mut() {
                    keep(p, o.password.as_ref());
                }
            }
            (ChannelConfig::Alertmanager(n), ChannelConfig::Alertmanager(o)) => keep_map(&mut n.headers, &o.headers),
            _ => {}
        }
    }

    /// Whether any secret is still the `<redacted>` placeholder.
    pub fn has_redacted_placeholder(&self) -> bool {
        let is = |s: &Secret| s.0 == Secret::REDACTED;
        match self {
            ChannelConfig::Webhook(w) => w.secret.as_ref().is_some_and(is) || w.headers.values().any(is),
            ChannelConfig::Slack(s) => is(&s.url),
            ChannelConfig::Email(e) => e.password.as_ref().is_some_and(is),
            ChannelConfig::Alertmanager(a) => a.headers.values().any(is),
        }
    }

    /// A copy with every secret replaced by `<redacted>`, for APIs and logs.
    pub fn redacted(&self) -> ChannelConfig {
        let mut c = self.clone();
        let hide = |h: &mut BTreeMap<String, Secret>| h.values_mut().for_each(|v| *v = v.redacted());
        match &mut c {
            ChannelConfig::Webhook(w) => {
                w.secret = w.secret.as_ref().map(Secret::redacted);
                hide(&mut w.headers);
            }
            ChannelConfig::Slack(s) => s.url = s.url.redacted(),
            ChannelConfig::Email(e) => e.password = e.password.as_ref().map(Secret::redacted),
            ChannelConfig::Alertmanager(a) => hide(&mut a.headers),
        }
        c
    }
}

pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Headers the channels set themselves.
const RESERVED_HEADERS: [&str; 6] =
    ["content-type", "content-length", "host", "x-nines-signature", "x-nines-timestamp", "x-nines-delivery"];

struct V<'a> {
    prefix: &'a str,
    errs: FieldErrors,
}

impl V<'_> {
    fn err(&mut self, field: &str, msg: impl Into<String>) {
        let path = if self.prefix.is_empty() { field.to_string() } else { format!("{}.{field}", self.prefix) };
        self.errs.push(FieldError::invalid(path, msg));
    }
    fn url(&mut self, field: &str, u: &str) {
        match reqwest::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
            Ok(_) => self.err(field, format!("{u:?} must be an http:// or https:// URL")),
            Err(e) => self.err(field, format!("{u:?} is not an absolute URL ({e})")),
        }
    }
    fn headers(&mut self, h: &BTreeMap<String, Secret>) {
        for (k, val) in h {
            let field = format!("headers.{k}");
            if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                self.err(&field, "not a valid header name");
            } else if RESERVED_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                self.err(&field, "set by nines; cannot be overridden");
            }
            if reqwest::header::HeaderValue::from_str(val.expose()).is_err() {
                self.err(&field, "value holds characters not allowed in a header");
            }
        }
    }
    fn timeout(&mut self, t: u64) {
        if t == 0 || t > 300 {
            self.err("timeoutSeconds", "must be 1..=300");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_applied_while_parsing() {
        let c = ChannelConfig::from_json(r#"{"type":"webhook","url":"https://hooks.example/x"}"#).unwrap();
        let ChannelConfig::Webhook(w) = &c else { panic!() };
        assert_eq!(w.timeout_seconds, 10);
        assert!(w.secret.is_none() && w.headers.is_empty());
        let c = ChannelConfig::from_json(
            r#"{"type":"email","smtpHost":"mail","from":"nines@example.com","to":["ops@example.com"]}"#,
        )
        .unwrap();
        let ChannelConfig::Email(e) = &c else { panic!() };
        assert_eq!((e.smtp_port, e.tls, e.timeout_seconds), (587, SmtpTls::Starttls, 30));
        assert_eq!(c.validate(""), Ok(()));
        let c = ChannelConfig::from_json(r#"{"type":"alertmanager","url":"http://am:9093"}"#).unwrap();
        let ChannelConfig::Alertmanager(a) = &c else { panic!() };
        assert_eq!(a.alert_ttl_seconds, 86_400);
    }

    /// Invalid configs, each with its exact message.
    #[test]
    fn invalid_configs_and_their_messages() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"type":"pager","url":"x"}"#,
                "type: unknown channel type \"pager\"; expected one of webhook, slack, email, alertmanager",
            ),
            (r#"{"url":"x"}"#, "type: type is required"),
            (
                r#"{"type":"webhook","url":"https://x","timeout":5}"#,
                "timeout: unknown field `timeout`, expected one of `url`, `secret`, `headers`, `timeoutSeconds`",
            ),
            (r#"{"type":"webhook"}"#, "url: url is required"),
            (
                r#"{"type":"email","smtpHost":"m","from":"a@b","to":"c@d"}"#,
                "to: invalid type: string \"c@d\", expected a sequence",
            ),
            (
                r#"{"type":"email","smtpHost":"m","from":"a@b","to":["c@d", 5]}"#,
                "to[1]: invalid type: integer `5`, expected a string",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(ChannelConfig::from_json(json).unwrap_err().to_string(), *want, "{json}");
        }
        let cases: &[(&str, &str)] = &[
            (
                r#"{"type":"webhook","url":"ftp://x/y","timeoutSeconds":0,"secret":"","headers":{"X-Nines-Signature":"v","Bad Name":"v"}}"#,
                "channels[0].url: \"ftp://x/y\" must be an http:// or https:// URL; \
                 channels[0].headers.Bad Name: not a valid header name; \
                 channels[0].headers.X-Nines-Signature: set by nines; cannot be overridden; \
                 channels[0].timeoutSeconds: must be 1..=300; channels[0].secret: must not be empty",
            ),
            (
                r#"{"type":"slack","url":"hooks.slack.com/services/T000/SECRET"}"#,
                "channels[0].url: must be an absolute http:// or https:// URL",
            ),
            (
                r#"{"type":"email","smtpHost":" ","from":"nope","to":[],"username":"u","tls":"none","caCertificatePem":"x"}"#,
                "channels[0].smtpHost: must not be empty; channels[0].from: not an email address (Invalid input); \
                 channels[0].to: at least one recipient is required; channels[0].password: required with username; \
                 channels[0].caCertificatePem: not a PEM certificate",
            ),
            (
                r#"{"type":"email","smtpHost":"m","from":"a@b.c","to":["x@y.z","bad"],"username":"u","password":"p","tls":"none"}"#,
                "channels[0].to[1]: not an email address (Invalid input); \
                 channels[0].tls: credentials are never sent without TLS; use starttls or tls",
            ),
            (
                r#"{"type":"alertmanager","url":"/relative","extraLabels":{"1x":"v"},"alertTtlSeconds":5}"#,
                "channels[0].url: \"/relative\" is not an absolute URL (relative URL without a base); \
                 channels[0].extraLabels.1x: label names match [a-zA-Z_][a-zA-Z0-9_]*; \
                 channels[0].alertTtlSeconds: must be at least 60",
            ),
        ];
        for (json, want) in cases {
            let c = ChannelConfig::from_json(json).unwrap();
            let got = c.validate("channels[0]").unwrap_err().to_string();
            assert_eq!(got, *want, "{json}");
            assert!(!got.contains("SECRET"), "secrets stay out of messages");
        }
    }

    #[test]
    fn an_update_with_redacted_placeholders_keeps_the_stored_secrets() {
        let old = ChannelConfig::from_json(
            r#"{"type":"webhook","url":"https://x","secret":"s3cr3t","headers":{"Authorization":"Bearer t0k3n"}}"#,
        )
        .unwrap();
        let mut new = old.redacted();
        if let ChannelConfig::Webhook(w) = &mut new {
            w.url = "https://y".into();
        }
        assert!(new.has_redacted_placeholder());
        new.keep_redacted_secrets(&old);
        assert!(!new.has_redacted_placeholder());
        let ChannelConfig::Webhook(w) = &new else { panic!() };
        assert_eq!((w.url.as_str(), w.secret.as_ref().unwrap().expose()), ("https://y", "s3cr3t"));
        assert_eq!(w.headers["Authorization"].expose(), "Bearer t0k3n");
        // a new secret replaces the old one
        let mut new = ChannelConfig::from_json(r#"{"type":"webhook","url":"https://x","secret":"fresh"}"#).unwrap();
        new.keep_redacted_secrets(&old);
        let ChannelConfig::Webhook(w) = &new else { panic!() };
        assert_eq!(w.secret.as_ref().unwrap().expose(), "fresh");
    }

    #[test]
    fn secrets_never_show_in_debug_or_redacted_copies() {
        let json =
            r#"{"type":"webhook","url":"https://x","secret":"s3cr3t","headers":{"Authorization":"Bearer t0k3n"}}"#;
        let c = ChannelConfig::from_json(json).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("t0k3n"), "{dbg}");
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(!shown.contains("s3cr3t") && !shown.contains("t0k3n") && shown.contains("<redacted>"), "{shown}");
        // The stored form keeps the secrets, and round-trips.
        let stored = serde_json::to_string(&c).unwrap();
        assert_eq!(ChannelConfig::from_json(&stored).unwrap(), c);
        for json in [
            r#"{"type":"slack","url":"https://hooks.slack.com/services/T/B/s3cr3t"}"#,
            r#"{"type":"email","smtpHost":"m","from":"a@b.c","to":["x@y.z"],"username":"u","password":"s3cr3t"}"#,
            r#"{"type":"alertmanager","url":"http://am","headers":{"Authorization":"Basic s3cr3t"}}"#,
        ] {
            let c = ChannelConfig::from_json(json).unwrap();
            assert!(!format!("{c:?}").contains("s3cr3t"));
            assert!(!serde_json::to_string(&c.redacted()).unwrap().contains("s3cr3t"));
        }
    }
}
