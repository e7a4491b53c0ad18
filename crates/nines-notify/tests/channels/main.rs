//! The channels against real receivers on loopback: an HTTP receiver that
//! checks signatures, a Slack-compatible receiver, an SMTP server with
//! STARTTLS written here, and Debian's `prometheus-alertmanager`.

mod alertmanager;
mod retry;
mod slack;
mod smtp;
mod support;
mod webhook;
