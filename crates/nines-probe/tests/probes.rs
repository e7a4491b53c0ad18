//! Every probe kind against real local servers on 127.0.0.1.

mod support;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use nines_core::clock::ManualClock;
use nines_probe::{
    CheckSpec, DnsCheck, ErrorKind, HttpCheck, JsonPathCondition, Outcome, ProbeEnv, ProbeResult, RecordKind,
    StatusPattern, TcpCheck, TlsCheck, probe,
};
use support::{Pki, Rec};

fn env() -> ProbeEnv {
    ProbeEnv::builder().roots(rustls::RootCertStore::empty()).build().unwrap()
}

async fn run(spec: impl Into<CheckSpec>, env: &ProbeEnv) -> ProbeResult {
    let spec = spec.into();
    assert!(spec.validate("t").is_empty(), "{:?}", spec.validate("t"));
    probe(&spec, env).await
}

fn http(url: String) -> HttpCheck {
    let mut c = HttpCheck::new(url);
    c.timeout_seconds = Some(5.0);
    c
}

#[tokio::test]
async fn http_up_reports_status_and_phases() {
    let addr = support::http_server().await;
    let r = run(http(format!("http://{addr}/ok")), &env()).await;
    assert_eq!((r.outcome, r.message.as_str(), r.http_status), (Outcome::Up, "status 200", Some(200)));
    assert_eq!(r.error, None);
    assert!(r.timings.dns.is_none(), "an IP literal needs no DNS");
    assert!(r.timings.connect.is_some() && r.timings.first_byte.is_some() && r.timings.tls.is_none());
    assert!(r.timings.total >= r.timings.first_byte.unwrap());
    assert_eq!(r.cert_not_after_ms, None);
}

#[tokio::test]
async fn http_status_body_regex_and_json_conditions() {
    let addr = support::http_server().await;
    let env = env();
    let r = run(http(format!("http://{addr}/fail")), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::UnexpectedStatus)));
    assert_eq!(r.message, "status 503 where 200-299 was expected");
    assert_eq!(r.http_status, Some(503));

    let mut c = http(format!("http://{addr}/fail"));
    c.expected_status = vec![StatusPattern("500-599".into())];
    assert_eq!(run(c, &env).await.outcome, Outcome::Up);

    let mut c = http(format!("http://{addr}/json"));
    c.expected_body = Some(r#""database":"connected""#.into());
    c.body_regex = Some(r#""latencyMs":\d+"#.into());
    c.json_path = Some(JsonPathCondition { path: "$.database".into(), equals: Some("connected".into()) });
    let r = run(c.clone(), &env).await;
    assert_eq!((r.outcome, r.message.as_str()), (Outcome::Up, "status 200"), "{r:?}");

    let mut bad = c.clone();
    bad.url = format!("http://{addr}/json-bad");
    let r = run(bad.clone(), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::BodyMismatch)));
    assert_eq!(r.message, r#"body lacks `"database":"connected"`"#);

    bad.expected_body = None;
    let json_path = bad.json_path.take();
    bad.body_regex = Some("connected".into());
    assert_eq!(run(bad.clone(), &env).await.outcome, Outcome::Up, "`disconnected` contains `connected`");
    bad.body_regex = Some("^ok$".into());
    assert_eq!(run(bad.clone(), &env).await.message, "body does not match /^ok$/");
    bad.body_regex = None;
    bad.json_path = json_path;
    assert_eq!(
        run(bad.clone(), &env).await.message,
        r#"JSON $.database is "disconnected" where "connected" was expected"#
    );
    bad.json_path = Some(JsonPathCondition { path: "$.checks[0].latencyMs".into(), equals: None });
    assert_eq!(run(bad.clone(), &env).await.message, "JSON $.checks[0].latencyMs is missing");
    let mut num = c;
    num.json_path = Some(JsonPathCondition { path: "$.checks[0].latencyMs".into(), equals: Some("3".into()) });
    assert_eq!(run(num, &env).await.outcome, Outcome::Up);

    let mut post = http(format!("http://{addr}/echo-method"));
    post.method = "POST".into();
    post.body = Some("{}".into());
    post.expected_body = Some("POST".into());
    assert_eq!(run(post, &env).await.outcome, Outcome::Up);
}

#[tokio::test]
async fn slow_answers_are_degraded_and_hangs_time_out() {
    let addr = support::http_server().await;
    let env = env();
    let mut c = http(format!("http://{addr}/slow"));
    c.max_response_time_ms = Some(100);
    let r = run(c.clone(), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Degraded, Some(ErrorKind::SlowResponse)));
    assert!(
        r.message.starts_with("slow: answered in ") && r.message.ends_with("more than maxResponseTimeMs 100"),
        "{}",
        r.message
    );
    c.max_response_time_ms = Some(5000);
    assert_eq!(run(c, &env).await.outcome, Outcome::Up);

    let mut hang = http(format!("http://{addr}/hang"));
    hang.timeout_seconds = Some(0.4);
    let start = std::time::Instant::now();
    let r = run(hang, &env).await;
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::Timeout)));
    assert_eq!(r.message, "timeout after 400 ms (waiting for the response)");
    assert!(r.timings.connect.is_some());
}

#[tokio::test]
async fn redirects_are_followed_only_when_asked() {
    let addr = support::http_server().await;
    let env = env();
    let c = http(format!("http://{addr}/redirect"));
    let r = run(c.clone(), &env).await;
    assert_eq!(r.message, "status 302 where 200-299 was expected");
    let mut follow = c.clone();
    follow.follow_redirects = true;
    let r = run(follow, &env).await;
    assert_eq!((r.outcome, r.http_status), (Outcome::Up, Some(200)));
    let mut seed = c;
    seed.expected_status = vec![StatusPattern("302".into())];
    assert_eq!(run(seed, &env).await.outcome, Outcome::Up);
    let mut looping = http(format!("http://{addr}/loop"));
    looping.follow_redirects = true;
    let r = run(looping, &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::TooManyRedirects)));
    assert!(r.message.starts_with("more than 10 redirects, last to http://"), "{}", r.message);
}

#[tokio::test]
async fn refused_connections_and_tcp_checks() {
    let env = env();
    let port = support::closed_port().await;
    let r = run(http(format!("http://127.0.0.1:{port}/")), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::ConnectionRefused)));
    assert_eq!(r.message, format!("connection refused by 127.0.0.1:{port}"));

    let r = run(TcpCheck::new("127.0.0.1", port), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::ConnectionRefused)));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    let r = run(TcpCheck::new("127.0.0.1", open.port()), &env).await;
    assert_eq!((r.outcome, r.message.clone()), (Outcome::Up, format!("connected to {open}")));
    assert!(r.timings.connect.is_some());
}

#[tokio::test]
async fn https_verification_custom_roots_and_tls_verify_false() {
    let pki = Pki::new();
    let leaf = pki.leaf(-1, 365);
    let addr = support::https_server(leaf.chain.clone(), leaf.key.clone_key()).await;
    let trusted = ProbeEnv::builder().roots(pki.roots()).build().unwrap();
    let url = format!("https://127.0.0.1:{}/ok", addr.port());

    let r = run(http(url.clone()), &trusted).await;
    assert_eq!((r.outcome, r.http_status), (Outcome::Up, Some(200)), "{r:?}");
    assert_eq!(r.cert_not_after_ms, Some(leaf.not_after_ms));
    assert!(r.timings.tls.is_some());

    // The same server is untrusted without the test CA...
    let r = run(http(url.clone()), &env()).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::TlsCertificateInvalid)));
    assert_eq!(r.message, "TLS: certificate signed by an unknown authority");
    // ...unless verification is really off; the expiry is still reported.
    let mut insecure = http(url.clone());
    insecure.tls_verify = false;
    let r = run(insecure, &env()).await;
    assert_eq!(r.outcome, Outcome::Up);
    assert_eq!(r.cert_not_after_ms, Some(leaf.not_after_ms));

    // A name the certificate does not cover.
    let mut wrong = TlsCheck::new("127.0.0.1", addr.port());
    wrong.server_name = Some("other.example".into());
    let r = run(wrong, &trusted).await;
    assert_eq!(r.message, "TLS: certificate is not valid for other.example");
}

#[tokio::test]
async fn expired_and_expiring_certificates() {
    let pki = Pki::new();
    let env = ProbeEnv::builder().roots(pki.roots()).build().unwrap();

    let expired = pki.leaf(-400, -3);
    let addr = support::https_server(expired.chain.clone(), expired.key.clone_key()).await;
    let r = run(http(format!("https://127.0.0.1:{}/ok", addr.port())), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::CertificateExpired)));
    assert_eq!(r.message, "TLS: certificate expired 3 days ago");
    assert_eq!(r.cert_not_after_ms, Some(expired.not_after_ms));
    let mut insecure = http(format!("https://127.0.0.1:{}/ok", addr.port()));
    insecure.tls_verify = false;
    let r = run(insecure, &env).await;
    assert_eq!((r.outcome, r.cert_not_after_ms), (Outcome::Up, Some(expired.not_after_ms)));
    let r = run(TlsCheck::new("127.0.0.1", addr.port()), &env).await;
    assert_eq!((r.outcome, r.message.as_str()), (Outcome::Down, "TLS: certificate expired 3 days ago"));

    let soon = pki.leaf(-10, 6);
    let addr = support::https_server(soon.chain.clone(), soon.key.clone_key()).await;
    let r = run(TlsCheck::new("127.0.0.1", addr.port()), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::CertificateExpiresSoon)));
    assert_eq!(r.message, "TLS: certificate expires in 5 days (critical below 7)");
    assert_eq!(r.cert_not_after_ms, Some(soon.not_after_ms));
    assert!(r.timings.tls.is_some() && r.timings.connect.is_some());

    // Warning window, with the clock moved to 20 days before expiry.
    let valid = pki.leaf(-1, 365);
    let addr = support::https_server(valid.chain.clone(), valid.key.clone_key()).await;
    let r = run(TlsCheck::new("127.0.0.1", addr.port()), &env).await;
    assert_eq!(r.outcome, Outcome::Up);
    let clock = ManualClock::new(valid.not_after_ms - 20 * 86_400_000);
    let moved = ProbeEnv::builder().roots(pki.roots()).clock(Arc::new(clock)).build().unwrap();
    let r = run(TlsCheck::new("127.0.0.1", addr.port()), &moved).await;
    assert_eq!(
        (r.outcome, r.message.as_str()),
        (Outcome::Degraded, "TLS: certificate expires in 20 days (warning below 30)")
    );
}

fn zone() -> Vec<(&'static str, Rec)> {
    vec![
        ("app.test", Rec::A(Ipv4Addr::LOCALHOST)),
        ("multi.test", Rec::A(Ipv4Addr::new(10, 0, 0, 1))),
        ("multi.test", Rec::A(Ipv4Addr::new(10, 0, 0, 2))),
        ("multi.test", Rec::Aaaa(Ipv6Addr::LOCALHOST)),
        ("multi.test", Rec::Mx(10, "mail.multi.test")),
        ("multi.test", Rec::Txt("v=spf1 -all")),
        ("multi.test", Rec::Ns("ns1.multi.test")),
        ("www.multi.test", Rec::Cname("multi.test")),
    ]
}

#[tokio::test]
async fn dns_checks_against_a_local_server() {
    let server = support::dns_server(zone()).await.to_string();
    let env = env();
    let dns = |name: &str, kind: RecordKind, expected: &[&str]| {
        let mut c = DnsCheck::new(name, kind);
        c.server = Some(server.clone());
        c.timeout_seconds = Some(5.0);
        if !expected.is_empty() {
            c.expected_answers = Some(expected.iter().map(|s| s.to_string()).collect());
        }
        c
    };
    let table: &[(&str, RecordKind, &[&str], &str)] = &[
        ("multi.test", RecordKind::A, &["10.0.0.2", "10.0.0.1"], "A multi.test: 10.0.0.1, 10.0.0.2"),
        ("multi.test", RecordKind::Aaaa, &["::1"], "AAAA multi.test: ::1"),
        ("multi.test", RecordKind::Mx, &["mail.multi.test"], "MX multi.test: 10 mail.multi.test."),
        ("multi.test", RecordKind::Txt, &["v=spf1 -all"], "TXT multi.test: v=spf1 -all"),
        ("multi.test", RecordKind::Ns, &["ns1.multi.test."], "NS multi.test: ns1.multi.test."),
        ("www.multi.test", RecordKind::Cname, &["multi.test"], "CNAME www.multi.test: multi.test."),
    ];
    for (name, kind, expected, msg) in table {
        let r = run(dns(name, *kind, expected), &env).await;
        assert_eq!((r.outcome, r.message.as_str()), (Outcome::Up, *msg), "{name} {kind:?}");
        assert!(r.timings.dns.is_some());
    }
    let r = run(dns("multi.test", RecordKind::A, &["10.0.0.9"]), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::DnsAnswerMismatch)));
    assert_eq!(r.message, "DNS A multi.test lacks 10.0.0.9 (got 10.0.0.1, 10.0.0.2)");
    let r = run(dns("example.invalid", RecordKind::A, &[]), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::DnsNoSuchHost)));
    assert_eq!(r.message, "DNS failure: no such host example.invalid");
    let r = run(dns("app.test", RecordKind::Mx, &[]), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::DnsNoRecords)));
    assert_eq!(r.message, "DNS failure: no MX records for app.test");
}

#[tokio::test]
async fn http_resolves_names_and_reports_dns_failures() {
    let ns = support::dns_server(zone()).await;
    let env = ProbeEnv::builder().nameserver(ns).roots(rustls::RootCertStore::empty()).build().unwrap();
    let addr = support::http_server().await;
    let r = run(http(format!("http://app.test:{}/ok", addr.port())), &env).await;
    assert_eq!(r.outcome, Outcome::Up, "{r:?}");
    assert!(r.timings.dns.is_some());
    let r = run(http(format!("http://example.invalid:{}/ok", addr.port())), &env).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::DnsNoSuchHost)));
    assert_eq!(r.message, "DNS failure: no such host example.invalid");
    let r = run(TcpCheck::new("example.invalid", 80), &env).await;
    assert_eq!(r.message, "DNS failure: no such host example.invalid");
}

#[tokio::test]
async fn unreachable_resolver_times_out_with_its_phase() {
    // A UDP socket that never answers: the probe's hard timeout covers DNS.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut c = DnsCheck::new("app.test", RecordKind::A);
    c.server = Some(silent.local_addr().unwrap().to_string());
    c.timeout_seconds = Some(0.3);
    let r = run(c, &env()).await;
    assert_eq!((r.outcome, r.error), (Outcome::Down, Some(ErrorKind::Timeout)));
    assert_eq!(r.message, "timeout after 300 ms (waiting for the DNS answer)");

    let env = ProbeEnv::builder().nameserver(silent.local_addr().unwrap()).build().unwrap();
    let mut c = http("http://app.test/".into());
    c.timeout_seconds = Some(0.3);
    let r = run(c, &env).await;
    assert_eq!(r.message, "timeout after 300 ms (resolving the name)");
}
