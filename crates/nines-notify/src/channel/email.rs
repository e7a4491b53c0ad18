//! Email over SMTP with lettre and rustls (aws-lc-rs). STARTTLS by default,
//! and required: a server that does not offer it fails the send instead of
//! getting the message in clear. Subject = title; the body is the Markdown
//! text (readable as plain text) with an HTML alternative built from the
//! same spans.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use nines_core::clock::Millis;

use super::{Delivery, Notifier};
use crate::config::{EmailConfig, SmtpTls};
use crate::error::{BuildError, SendError, describe};
use crate::render::Message;

pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl std::fmt::Debug for EmailChannel {
    // The transport holds the credentials: show only the addresses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel").field("from", &self.from).field("to", &self.to).finish_non_exhaustive()
    }
}

impl EmailChannel {
    pub fn new(config: EmailConfig) -> Result<Self, BuildError> {
        let bad = |field: &str, e: &dyn std::error::Error| BuildError::Client(format!("{field}: {}", describe(e)));
        let from: Mailbox = config.from.parse().map_err(|e| bad("from", &e))?;
        let to = config
            .to
            .iter()
            .enumerate()
            .map(|(i, t)| t.parse::<Mailbox>().map_err(|e| bad(&format!("to[{i}]"), &e)))
            .collect::<Result<Vec<_>, _>>()?;
        let tls = if config.tls == SmtpTls::None {
            Tls::None
        } else {
            let mut p = TlsParameters::builder(config.smtp_host.clone());
            if let Some(pem) = &config.ca_certificate_pem {
                p = p.add_root_certificate(
                    Certificate::from_pem(pem.as_bytes()).map_err(|e| bad("caCertificatePem", &e))?,
                );
            }
            let p = p.build_rustls().map_err(|e| bad("tls", &e))?;
            if config.tls == SmtpTls::Tls { Tls::Wrapper(p) } else { Tls::Required(p) }
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.clone())
            .port(config.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_seconds)));
        if let (Some(user), Some(pass)) = (&config.username, &config.password) {
            b = b
                .credentials(Credentials::new(user.clone(), pass.expose().to_string()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(EmailChannel { transport: b.build(), from, to })
    }

    /// The mail for a message (exposed for tests and previews).
    pub fn mail(&self, msg: &Message) -> Result<lettre::Message, SendError> {
        let mut b = lettre::Message::builder().from(self.from.clone()).subject(msg.rendered.title.clone());
        for t in &self.to {
            b = b.to(t.clone());
        }
        b.multipart(MultiPart::alternative_plain_html(msg.rendered.markdown(), msg.rendered.html()))
            .map_err(|e| SendError::Config(describe(&e)))
    }
}

impl EmailChannel {
    /// A plain-text mail to one recipient through this channel's SMTP
    /// server and sender (status page subscribers), with `List-Unsubscribe`
    /// (and one-click `List-Unsubscribe-Post`) when a link is given.
    pub async fn send_text(
        &self,
        to: &str,
        subject: &str,
        text: &str,
        unsubscribe: Option<&str>,
    ) -> Result<Delivery, SendError> {
        let to: Mailbox = to.parse().map_err(|e| SendError::Config(format!("to: {}", describe(&e))))?;
        let mut b = lettre::Message::builder().from(self.from.clone()).to(to).subject(subject);
        if let Some(u) = unsubscribe {
            use lettre::message::header::{HeaderName, HeaderValue};
            b = b
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{u}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_string(),
                ));
        }
        let mail = b
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| SendError::Config(describe(&e)))?;
        self.transmit(mail).await
    }

    async fn transmit(&self, mail: lettre::Message) -> Result<Delivery, SendError> {
        match self.transport.send(mail).await {
            Ok(resp) => Ok(Delivery {
                status_code: Some(u16::from(resp.code())),
                detail: Some(resp.message().collect::<Vec<_>>().join(" ")),
            }),
            Err(e) => {
                let message = describe(&e);
                let code = e.status().map(u16::from);
                Err(if e.is_timeout() {
                    SendError::Timeout(message)
                } else if e.is_transient() || e.is_permanent() {
                    SendError::Smtp { code, transient: e.is_transient(), message }
                } else if e.is_client() {
                    // No STARTTLS offered, no common AUTH mechanism: the
                    // server and the config disagree; retrying will not help.
                    SendError::Config(message)
                } else {
                    SendError::Transport(message)
                })
            }
        }
    }
}

impl Notifier for EmailChannel {
    async fn send(&self, msg: &Message, _now: Millis) -> Result<Delivery, SendError> {
        self.transmit(self.mail(msg)?).await
    }
}
