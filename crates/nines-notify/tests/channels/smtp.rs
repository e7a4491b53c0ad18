//! Email against an SMTP server written here: EHLO, STARTTLS (rcgen
//! certificate, trusted by the client through `caCertificatePem`), AUTH
//! PLAIN, MAIL FROM, RCPT TO, DATA.

use std::sync::Arc;

use base64::Engine;
use nines_notify::{Channel, ChannelConfig, Class, Notifier};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::support::{Log, now_ms, opened};

#[derive(Debug, Clone, Default)]
struct Mail {
    tls: bool,
    /// `user:password` from AUTH PLAIN.
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    data: String,
}

struct Server {
    port: u16,
    ca_pem: String,
    mails: Log<Mail>,
}

/// Whether the server offers STARTTLS.
async fn start(offer_starttls: bool) -> Server {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "nines test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let leaf = p.signed_by(&key, &Issuer::from_params(&ca_params, &ca_key)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Log::default();
    let log = mails.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(session(tcp, acceptor.clone(), offer_starttls, log.clone()));
        }
    });
    Server { port, ca_pem: ca.pem(), mails }
}

enum Next {
    StartTls,
    Done,
}

async fn session(tcp: TcpStream, acceptor: TlsAcceptor, offer_starttls: bool, log: Log<Mail>) {
    let mut plain = BufReader::new(tcp);
    plain.write_all(b"220 127.0.0.1 ESMTP nines-test\r\n").await.unwrap();
    if let Next::StartTls = dialog(&mut plain, false, offer_starttls, &log).await {
        let tls = acceptor.accept(plain.into_inner()).await.unwrap();
        dialog(&mut BufReader::new(tls), true, false, &log).await;
    }
}

async fn dialog<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    tls: bool,
    offer_starttls: bool,
    log: &Log<Mail>,
) -> Next {
    let mut mail = Mail { tls, ..Default::default() };
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Next::Done;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            let mut r = String::from("250-127.0.0.1\r\n");
            if offer_starttls {
                r.push_str("250-STARTTLS\r\n");
            }
            if tls {
                r.push_str("250-AUTH PLAIN\r\n");
            }
            r.push_str("250 8BITMIME\r\n");
            r
        } else if upper == "STARTTLS" && offer_starttls && !tls {
            s.write_all(b"220 2.0.0 Ready to start TLS\r\n").await.unwrap();
            return Next::StartTls;
        } else if let Some(b64) = cmd.strip_prefix("AUTH PLAIN ") {
            let raw = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            let parts: Vec<String> = raw.split(|b| *b == 0).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
            mail.auth = Some(format!("{}:{}", parts[1], parts[2]));
            "235 2.7.0 Authentication successful\r\n".into()
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].trim().trim_start_matches('<').split('>').next().unwrap().to_string();
            "250 2.1.0 Ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].trim().trim_start_matches('<').split('>').next().unwrap().to_string());
            "250 2.1.5 Ok\r\n".into()
        } else if upper == "DATA" {
            s.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await.unwrap();
            let mut data = String::new();
            loop {
                line.clear();
                s.read_line(&mut line).await.unwrap();
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            mail.data = data;
            log.lock().unwrap().push(std::mem::take(&mut mail));
            mail.tls = tls;
            "250 2.0.0 Ok: queued as NINES1\r\n".into()
        } else if upper == "RSET" || upper == "NOOP" {
            "250 2.0.0 Ok\r\n".into()
        } else if upper == "QUIT" {
            s.write_all(b"221 2.0.0 Bye\r\n").await.unwrap();
            return Next::Done;
        } else {
            "502 5.5.2 Command not recognized\r\n".into()
        };
        s.write_all(reply.as_bytes()).await.unwrap();
    }
}

/// Undo quoted-printable (soft breaks, `=XX`).
fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && i + 2 < b.len() + 1
            && u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16).is_ok()
        {
            out.push(u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn config(port: u16, ca_pem: &str, auth: bool) -> ChannelConfig {
    let mut v = serde_json::json!({
        "type": "email",
        "smtpHost": "127.0.0.1",
        "smtpPort": port,
        "from": "nines <nines@example.com>",
        "to": ["ops@example.com", "oncall@example.com"],
        "caCertificatePem": ca_pem,
        "timeoutSeconds": 10,
    });
    if auth {
        v["username"] = "nines".into();
        v["password"] = "s3cr3t".into();
    }
    ChannelConfig::from_json(&v.to_string()).unwrap()
}

#[tokio::test]
async fn mail_arrives_over_starttls_with_subject_and_body() {
    let srv = start(true).await;
    let ch = Channel::build(&config(srv.port, &srv.ca_pem, true)).unwrap();
    assert!(!format!("{ch:?}").contains("s3cr3t"));
    let msg = opened(now_ms() - 60_000);
    let d = ch.send(&msg, now_ms()).await.unwrap();
    assert_eq!(d.status_code, Some(250));
    assert!(d.detail.unwrap().contains("queued as NINES1"));

    let mails = srv.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(m.tls, "the message must arrive over TLS");
    assert_eq!(m.auth.as_deref(), Some("nines:s3cr3t"));
    assert_eq!(m.from, "nines@example.com");
    assert_eq!(m.to, ["ops@example.com", "oncall@example.com"]);
    assert!(m.data.contains("\r\nSubject: Opened: API outage\r\n"), "{}", m.data);
    assert!(m.data.contains("From: nines <nines@example.com>\r\n"), "{}", m.data);
    assert!(m.data.contains("multipart/alternative"), "{}", m.data);
    let body = unqp(&m.data);
    assert!(body.contains("[API outage](https://nines.example/ui/downtimes/42) started "), "{body}");
    assert!(
        body.contains("- [api-gateway](https://nines.example/ui/services/7) (acme/platform/prod/c1): DOWN"),
        "{body}"
    );
    assert!(body.contains("<a href=\"https://nines.example/ui/services/8\">auth</a>"), "{body}");
}

#[tokio::test]
async fn auth_is_optional() {
    let srv = start(true).await;
    Channel::build(&config(srv.port, &srv.ca_pem, false)).unwrap().send(&opened(now_ms()), now_ms()).await.unwrap();
    let m = srv.mails.lock().unwrap()[0].clone();
    assert!(m.tls);
    assert_eq!(m.auth, None);
}

#[tokio::test]
async fn no_starttls_offered_means_no_mail() {
    let srv = start(false).await;
    let err = Channel::build(&config(srv.port, &srv.ca_pem, true))
        .unwrap()
        .send(&opened(now_ms()), now_ms())
        .await
        .unwrap_err();
    assert!(srv.mails.lock().unwrap().is_empty(), "nothing sent in clear");
    assert_eq!(err.class(), Class::Permanent, "{err}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let srv = start(true).await;
    let other = start(true).await;
    // Trust another CA than the server's.
    let err = Channel::build(&config(srv.port, &other.ca_pem, false))
        .unwrap()
        .send(&opened(now_ms()), now_ms())
        .await
        .unwrap_err();
    assert!(srv.mails.lock().unwrap().is_empty());
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}
