//! The notification channels of nines.
//!
//! What lives here: the notification events ([`event`]), their rendering to
//! text without boilerplate ([`render`]), routing rules from events to
//! channel ids ([`route`]), channel configs with validation and redaction
//! ([`config`]), the channels themselves — webhook, Slack-compatible, email,
//! Alertmanager ([`channel`]) — and the delivery policy: backoff, error
//! classes, per-attempt records ([`delivery`]).
//!
//! What does not: deciding *when* to notify (the downtime engine and the SLO
//! engine), storing channels, routes and attempts, and the exactly-once
//! claim of a delivery (the database). The caller's loop is:
//!
//! ```text
//! let msg = Message::new(id, event, base_url)?;           // None: nothing to send
//! for ch in route(&rules, &msg.event) { claim (msg.id, ch); }
//! let a = deliver(&channel, &msg, attempt_no, &policy, &clock).await;
//! store a; if a.outcome == Retrying, run again at a.next_attempt_at
//! ```
//!
//! # Adding a channel kind
//!
//! 1. A config struct in [`config`] (`deny_unknown_fields`, camelCase,
//!    defaults via `#[serde(default = …)]`, secrets as [`Secret`]) and a
//!    variant of [`ChannelConfig`]; extend `validate` and `redacted` (the
//!    compiler points at both).
//! 2. A module `channel/<kind>.rs` with a struct implementing
//!    [`Notifier`]: build the request from the [`Message`], send it, map
//!    failures to a [`SendError`] whose class (retryable or permanent) is
//!    right; never put a secret in an error text.
//! 3. A variant of [`Channel`] and its arm in `Channel::build` and in the
//!    `Notifier` impl.
//! 4. A test against a real local receiver under `tests/`.

pub mod channel;
pub mod config;
pub mod delivery;
pub mod error;
pub mod event;
pub mod render;
pub mod route;

pub use channel::{Channel, Delivery, Notifier};
pub use config::{ChannelConfig, Secret};
pub use delivery::{Attempt, Outcome, RetryPolicy, deliver, deliver_with_retries};
pub use error::{BuildError, Class, SendError};
pub use event::{Event, EventKind, Severity};
pub use render::{Message, Rendered, render};
pub use route::{RouteRule, route};
