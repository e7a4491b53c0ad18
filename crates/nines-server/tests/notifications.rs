//! Notifications end to end with real receivers: an HTTP receiver that
//! checks the HMAC signature, an SMTP server written here, Debian's
//! `prometheus-alertmanager`; retries with recorded attempts; two servers on
//! one PostgreSQL delivering each event once; secrets kept out of responses,
//! logs and rows; maintenance windows keeping quiet; storage conditions
//! notifying once when they start and once when they end.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use nines_core::clock::{Clock, ManualClock};
use nines_server::ServerConfig;
use nines_server::notify::{NotifyConfig, SecretKey};
use nines_store::testing::{TestDb, all, require_all};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const MIN: i64 = 60_000;
const WEBHOOK_SECRET: &str = "whsec-3f9c1d7e";

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

/// Wall-clock now, rounded to the second: receivers compare times.
fn real_now() -> i64 {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    ms - ms % 1000
}

fn key() -> SecretKey {
    SecretKey::parse("a shared test key for both replicas").unwrap()
}

fn config(replica: &str) -> ServerConfig {
    let mut cfg = fast_config(replica);
    // silence must not interfere: push services go stale after days
    cfg.stale = nines_core::timeline::StaleRule { unknown_after_ms: 86_400_000, down_after_ms: 2 * 86_400_000 };
    cfg.notify = NotifyConfig {
        every: Duration::from_millis(20),
        watch_every: Duration::from_millis(20),
        public_url: Some("https://nines.example".into()),
        key: Some(key()),
        retry: nines_notify::RetryPolicy { initial_delay_ms: 1000, max_delay_ms: 60_000, max_attempts: 5, jitter: 0.0 },
        ..NotifyConfig::default()
    };
    cfg
}

// ---- log capture: every line the servers in this test binary log ----

#[derive(Clone)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static LogBuf {
    static LOGS: OnceLock<LogBuf> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = LogBuf(Arc::new(Mutex::new(Vec::new())));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug,sqlx=warn,hyper=warn,reqwest=warn"))
            .with_writer(move || w.clone())
            .with_ansi(false)
            .try_init();
        buf
    })
}

// ---- an HTTP receiver that checks the signature ----

#[derive(Debug, Clone)]
struct Receipt {
    delivery: String,
    kind: String,
    signed: bool,
    body: Value,
}

struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Receipt>>>,
    hits: Arc<AtomicUsize>,
}

impl Receiver {
    fn receipts(&self) -> Vec<Receipt> {
        self.got.lock().unwrap().clone()
    }
    fn kinds(&self) -> Vec<String> {
        self.receipts().into_iter().map(|r| r.kind).collect()
    }
}

/// Answers 503 to the first `fail_first` requests, then 200 after `delay`.
async fn receiver(clock: Arc<dyn Clock>, fail_first: usize, delay: Duration) -> Receiver {
    let got: Arc<Mutex<Vec<Receipt>>> = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let (g, h) = (got.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (g, h, clock) = (g.clone(), h.clone(), clock.clone());
            async move {
                let n = h.fetch_add(1, Ordering::SeqCst);
                if n < fail_first {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                tokio::time::sleep(delay).await;
                let hv = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let signed = nines_notify::channel::webhook::verify(
                    WEBHOOK_SECRET.as_bytes(),
                    &hv("x-nines-timestamp"),
                    &body,
                    &hv("x-nines-signature"),
                    clock.now_ms() / 1000,
                    300,
                )
                .is_ok();
                g.lock().unwrap().push(Receipt {
                    delivery: hv("x-nines-delivery"),
                    kind: hv("x-nines-event"),
                    signed,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, got, hits }
}

// ---- a plain SMTP server: enough of RFC 5321 for one relay session ----

#[derive(Debug, Clone, Default)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

async fn smtp_server() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let log = mails.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let mut s = BufReader::new(tcp);
                s.write_all(b"220 127.0.0.1 ESMTP nines-test\r\n").await.unwrap();
                let mut mail = Mail::default();
                let mut line = String::new();
                loop {
                    line.clear();
                    if s.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.trim_end().to_string();
                    let up = cmd.to_ascii_uppercase();
                    let reply = if up.starts_with("EHLO") || up.starts_with("HELO") {
                        "250-127.0.0.1\r\n250 8BITMIME\r\n"
                    } else if up.starts_with("MAIL FROM:") {
                        mail.from = cmd[10..].trim().trim_matches(['<', '>']).to_string();
                        "250 2.1.0 Ok\r\n"
                    } else if up.starts_with("RCPT TO:") {
                        mail.to.push(cmd[8..].trim().trim_matches(['<', '>']).to_string());
                        "250 2.1.5 Ok\r\n"
                    } else if up == "DATA" {
                        s.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await.unwrap();
                        loop {
                            line.clear();
                            s.read_line(&mut line).await.unwrap();
                            if line == ".\r\n" {
                                break;
                            }
                            mail.data.push_str(&line);
                        }
                        log.lock().unwrap().push(std::mem::take(&mut mail));
                        "250 2.0.0 Ok: queued\r\n"
                    } else if up == "QUIT" {
                        s.write_all(b"221 2.0.0 Bye\r\n").await.unwrap();
                        return;
                    } else if up == "RSET" || up == "NOOP" {
                        "250 2.0.0 Ok\r\n"
                    } else {
                        "502 5.5.2 Command not recognized\r\n"
                    };
                    s.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (port, mails)
}

/// Undo quoted-printable soft breaks and `=XX` escapes.
fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        if b[i] == b'='
            && let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- Debian's prometheus-alertmanager ----

struct Alertmanager {
    url: String,
    child: std::process::Child,
    dir: PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn alertmanager() -> Option<Alertmanager> {
    let bin = std::env::var_os("NINES_ALERTMANAGER_BIN").map(PathBuf::from).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .flat_map(|d| [d.join("prometheus-alertmanager"), d.join("alertmanager")])
            .chain([PathBuf::from("/usr/bin/prometheus-alertmanager")])
            .find(|p| p.is_file())
    });
    let Some(bin) = bin else {
        let why = "no prometheus-alertmanager on PATH (apt-get install prometheus-alertmanager)";
        assert!(!require_all(), "NINES_TEST_REQUIRE_ALL=1 but {why}");
        eprintln!("SKIP alertmanager: {why}");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("nines-server-am-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(&cfg, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n").unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = std::process::Command::new(&bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    // owned at once, so the process is killed and reaped on every path
    let am = Alertmanager { url: format!("http://127.0.0.1:{port}"), child, dir };
    for _ in 0..200 {
        if reqwest::get(format!("{}/-/ready", am.url)).await.is_ok_and(|r| r.status().is_success()) {
            return Some(am);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alertmanager did not start: {}", std::fs::read_to_string(am.dir.join("log")).unwrap_or_default());
}

// ---- helpers against the API ----

async fn push(srv: &Srv, key: &str, name: &str, status: &str) -> i64 {
    let body = json!({"service": name, "status": status, "nodeId": "acme/p/prod/c1", "criticality": "critical", "tags": ["db"]});
    let (code, v) = srv.post("/api/v1/health/report", key, body).await;
    assert!(code / 100 == 2, "{v}");
    v["id"].as_i64().unwrap()
}

async fn create_channel(srv: &Srv, key: &str, name: &str, config: Value) -> i64 {
    let (code, v) = srv.post("/api/v1/notifications/channels", key, json!({"name": name, "config": config})).await;
    assert_eq!(code, 201, "{v}");
    v["id"].as_i64().unwrap()
}

async fn put(srv: &Srv, path: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = srv.http.put(format!("{}{path}", srv.base)).header("X-API-Key", key).json(&body).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

async fn delete(srv: &Srv, path: &str, key: &str) -> u16 {
    srv.http.delete(format!("{}{path}", srv.base)).header("X-API-Key", key).send().await.unwrap().status().as_u16()
}

async fn deliveries(srv: &Srv, key: &str) -> Vec<Value> {
    let (code, v) = srv.get("/api/v1/notifications/deliveries", key).await;
    let v = v["items"].clone();
    assert_eq!(code, 200, "{v}");
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_down_service_notifies_once_when_it_opens_and_once_when_it_resolves() {
    logs();
    let am = alertmanager().await;
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("n1")).await;
        let admin = srv.key("acme", "admin").await;
        let reader = srv.key("acme", "read-only").await;
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        let (smtp_port, mails) = smtp_server().await;

        // validation names the field; only admins write
        let (c, v) = srv
            .post("/api/v1/notifications/channels", &admin, json!({"name": "x", "config": {"type": "webhook"}}))
            .await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("config.url")), "{v}");
        let (c, v) = srv
            .post(
                "/api/v1/notifications/channels",
                &admin,
                json!({"name": "x", "config": {"type": "webhook", "url": "ftp://x", "timeoutSeconds": 0}}),
            )
            .await;
        assert_eq!(c, 422, "{v}");
        let fields: Vec<&str> =
            v["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, ["config.url", "config.timeoutSeconds"]);
        let (c, _) = srv
            .post(
                "/api/v1/notifications/channels",
                &reader,
                json!({"name": "x", "config": {"type": "webhook", "url": hook.url}}),
            )
            .await;
        assert_eq!(c, 403);

        let wh = create_channel(
            &srv,
            &admin,
            "ops-hook",
            json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}),
        )
        .await;
        // read, modify, write back: the redacted secret stays what it was
        let (_, shown) = srv.get(&format!("/api/v1/notifications/channels/{wh}"), &reader).await;
        assert_eq!(shown["config"]["secret"], "<redacted>");
        let mut body = json!({"name": "ops-webhook", "config": shown["config"].clone()});
        body["config"]["timeoutSeconds"] = json!(5);
        let (c, v) = put(&srv, &format!("/api/v1/notifications/channels/{wh}"), &admin, body).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!((v["name"].as_str(), v["config"]["timeoutSeconds"].as_i64()), (Some("ops-webhook"), Some(5)));
        let (c, _) = srv
            .post(
                "/api/v1/notifications/channels",
                &admin,
                json!({"name": "ops-webhook", "config": {"type": "webhook", "url": hook.url}}),
            )
            .await;
        assert_eq!(c, 409, "names are unique per organization");
        create_channel(
            &srv,
            &admin,
            "ops-mail",
            json!({"type": "email", "smtpHost": "127.0.0.1", "smtpPort": smtp_port, "tls": "none",
                   "from": "nines@example.com", "to": ["oncall@example.com"]}),
        )
        .await;
        if let Some(am) = &am {
            create_channel(&srv, &admin, "am", json!({"type": "alertmanager", "url": am.url})).await;
        }

        let id = push(&srv, &admin, "orders-db", "OPERATIONAL").await;
        clock.advance(MIN);
        let body = json!({"service": "orders-db", "status": "DOWN", "nodeId": "acme/p/prod/c1",
                          "message": "replication lag 900 s"});
        let (code, v) = srv.post("/api/v1/health/report", &admin, body).await;
        assert!(code / 100 == 2, "{v}");
        let opened = eventually("the opened message", async || {
            hook.receipts().into_iter().find(|r| r.kind == "downtime_opened")
        })
        .await;
        clock.advance(5 * MIN);
        push(&srv, &admin, "orders-db", "OPERATIONAL").await;
        let resolved = eventually("the resolved message", async || {
            hook.receipts().into_iter().find(|r| r.kind == "downtime_resolved")
        })
        .await;
        // more passes change nothing
        srv.settle().await;
        assert_eq!(hook.kinds(), ["downtime_opened", "downtime_resolved"]);
        assert!(opened.signed && resolved.signed, "HMAC signature checks out");

        let dt = opened.body["event"]["id"].as_str().unwrap().to_string();
        let md = opened.body["markdown"].as_str().unwrap();
        assert!(
            md.starts_with(&format!("[orders-db is down](https://nines.example/ui/downtimes/{dt}) started ")),
            "{md}"
        );
        assert!(
            md.contains(&format!("- [orders-db](https://nines.example/ui/services/{id}) (acme/p/prod/c1): DOWN")),
            "{md}"
        );
        assert!(!md.to_lowercase().contains("downtime alert") && !md.to_lowercase().contains("view downtime"));
        // the member's line says why: the reason of its change on the timeline
        assert!(md.contains("(acme/p/prod/c1): DOWN (replication lag 900 s)"), "{md}");
        // the links lead to the dashboard's pages (a sign-in redirect for a stranger, never a 404)
        let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for path in [format!("/ui/downtimes/{dt}"), format!("/ui/services/{id}"), format!("/downtimes/{dt}")] {
            let code = no_redirect.get(format!("{}{path}", srv.base)).send().await.unwrap().status().as_u16();
            assert_eq!(code == 404, path.starts_with("/downtimes"), "{path}: {code}");
        }
        // the severity word is the one the downtime shows
        let (_, shown) = srv.get(&format!("/api/v1/downtimes/{dt}"), &admin).await;
        let word = shown["severity"].as_str().unwrap();
        assert!(md.contains(&format!("Severity: {word}")), "{word}: {md}");
        let md = resolved.body["markdown"].as_str().unwrap();
        assert!(md.contains("Counts towards SLA: yes"), "{md}");
        assert!(
            md.contains(&format!("[orders-db](https://nines.example/ui/services/{id}) (acme/p/prod/c1): OPERATIONAL"))
        );
        assert_eq!(resolved.body["event"]["countsTowardsSla"], true);
        assert_eq!(resolved.body["title"], "Resolved: orders-db is down");

        let mail = eventually("two mails", async || {
            let m = mails.lock().unwrap().clone();
            (m.len() >= 2).then_some(m)
        })
        .await;
        assert_eq!(mail.len(), 2);
        assert_eq!(
            (mail[0].from.as_str(), mail[0].to.clone()),
            ("nines@example.com", vec!["oncall@example.com".into()])
        );
        let text = unqp(&mail[0].data);
        assert!(text.contains("Subject: Opened: orders-db is down"), "{text}");
        assert!(text.contains(&format!("https://nines.example/ui/downtimes/{dt}")), "{text}");
        assert!(unqp(&mail[1].data).contains("Subject: Resolved: orders-db is down"));

        if let Some(am) = &am {
            let alert = eventually("the alert in alertmanager", async || {
                let v: Value = reqwest::get(format!("{}/api/v2/alerts", am.url)).await.ok()?.json().await.ok()?;
                v.as_array()?
                    .iter()
                    .find(|a| a["labels"]["downtime_id"] == dt.as_str() && a["labels"]["service"] == "orders-db")
                    .cloned()
            })
            .await;
            assert_eq!(alert["labels"]["alertname"], "NinesDowntime");
            assert_eq!(alert["labels"]["organization"], "acme");
            assert_eq!(alert["generatorURL"], format!("https://nines.example/ui/downtimes/{dt}"));
        }

        // the record: one delivery per event and channel, each with its attempt
        let channels = if am.is_some() { 3 } else { 2 };
        let list = eventually("every delivery done", async || {
            let l = deliveries(&srv, &reader).await;
            (l.len() == 2 * channels && l.iter().all(|d| d["state"] == "delivered")).then_some(l)
        })
        .await;
        for d in &list {
            assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "{d}");
            assert_eq!(d["attempts"][0]["outcome"], "delivered");
        }
        let keys: Vec<&str> = list.iter().map(|d| d["dedupKey"].as_str().unwrap()).collect();
        assert!(
            keys.contains(&format!("downtime:{dt}:opened").as_str())
                && keys.contains(&format!("downtime:{dt}:resolved").as_str())
        );
        let (c, v) = srv.get("/api/v1/notifications/deliveries?state=lost", &reader).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("state")));
        // another organization sees none of it
        let other = srv.key("globex", "admin").await;
        assert!(deliveries(&srv, &other).await.is_empty());
        let (c, _) = srv.get(&format!("/api/v1/notifications/channels/{wh}"), &other).await;
        assert_eq!(c, 404);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_backoff_and_every_attempt_is_recorded() {
    logs();
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("retry")).await;
        let admin = srv.key("acme", "admin").await;
        let hook = receiver(Arc::new(clock.clone()), 2, Duration::ZERO).await;
        create_channel(&srv, &admin, "flaky", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}))
            .await;
        push(&srv, &admin, "api", "OPERATIONAL").await;
        clock.advance(MIN);
        push(&srv, &admin, "api", "DOWN").await;
        // The backoff counts from the end of an attempt, read off the clock
        // once the receiver has answered: advance the clock only after the
        // attempt is on record, or the next one would be due later than 1 s.
        let recorded = async |n: usize| {
            eventually("attempt recorded", async || {
                let d = deliveries(&srv, &admin).await;
                d.iter().any(|d| d["attempts"].as_array().map_or(0, Vec::len) == n).then_some(())
            })
            .await
        };
        eventually("first failure", async || (hook.hits.load(Ordering::SeqCst) == 1).then_some(())).await;
        recorded(1).await;
        // nothing happens before the backoff has passed …
        srv.settle().await;
        assert_eq!(hook.hits.load(Ordering::SeqCst), 1);
        // … 1 s, then 2 s (initial 1 s, doubling, no jitter)
        clock.advance(1000);
        eventually("second failure", async || (hook.hits.load(Ordering::SeqCst) == 2).then_some(())).await;
        recorded(2).await;
        clock.advance(1000);
        srv.settle().await;
        assert_eq!(hook.hits.load(Ordering::SeqCst), 2, "the second delay is 2 s");
        clock.advance(1000);
        eventually("delivered", async || (hook.receipts().len() == 1).then_some(())).await;
        let d = eventually("recorded", async || {
            deliveries(&srv, &admin).await.into_iter().find(|d| d["state"] == "delivered")
        })
        .await;
        let a = d["attempts"].as_array().unwrap();
        let outcomes: Vec<&str> = a.iter().map(|x| x["outcome"].as_str().unwrap()).collect();
        assert_eq!(outcomes, ["retrying", "retrying", "delivered"]);
        let codes: Vec<i64> = a.iter().map(|x| x["statusCode"].as_i64().unwrap()).collect();
        assert_eq!(codes, [503, 503, 200]);
        assert!(a[0]["error"].as_str().unwrap().starts_with("HTTP 503"));
        let t = |x: &Value, f: &str| nines_core::clock::parse_rfc3339(x[f].as_str().unwrap()).unwrap();
        assert_eq!(t(&a[0], "nextAttemptAt") - t(&a[0], "at"), 1000);
        assert_eq!(t(&a[1], "nextAttemptAt") - t(&a[1], "at"), 2000);
        assert!(a[2]["nextAttemptAt"].is_null());
        assert_eq!(hook.receipts()[0].delivery, hook.receipts()[0].body["id"].as_str().unwrap());
        srv.stop().await;
    })
    .await;
}

/// Two replicas' stores on one fresh PostgreSQL schema, a shared clock and
/// their configurations; `None` (with the reason printed) without PostgreSQL.
async fn two_replicas() -> Option<(nines_store::Store, nines_store::Store, ManualClock, ServerConfig, ServerConfig)> {
    logs();
    let url = nines_store::testing::postgres_url().await?;
    let store_a = nines_store::Store::connect(&url).await.unwrap();
    let store_b = nines_store::Store::connect(&url).await.unwrap();
    Some((store_a, store_b, ManualClock::new(real_now()), config("replica-a"), config("replica-b")))
}

#[tokio::test]
async fn two_servers_on_one_postgres_deliver_each_event_once() {
    let Some((store_a, store_b, clock, mut cfg_a, mut cfg_b)) = two_replicas().await else { return };
    cfg_a.notify.every = Duration::from_millis(5);
    cfg_b.notify.every = Duration::from_millis(5);
    let a = start_with(store_a.clone(), Arc::new(clock.clone()), cfg_a).await;
    let b = start_with(store_b.clone(), Arc::new(clock.clone()), cfg_b).await;
    let admin = a.key("acme", "admin").await;
    // a slow receiver widens the window in which both could send
    let hook = receiver(Arc::new(clock.clone()), 0, Duration::from_millis(15)).await;
    create_channel(&a, &admin, "hook", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET})).await;
    // replica b reads the channel a sealed: same key
    let (c, v) = b.get("/api/v1/notifications/channels", &admin).await;
    let v = v["items"].clone();
    assert_eq!((c, v[0]["config"]["secret"].as_str()), (200, Some("<redacted>")), "{v}");

    // many events at once …
    let events: Vec<nines_store::notifications::NewEvent> = (0..40)
        .map(|i| {
            let e = nines_notify::Event::StorageCritical(nines_notify::event::Storage {
                organization: "acme".into(),
                service: nines_notify::event::ServiceRef {
                    id: i.to_string(),
                    name: format!("vol-{i}"),
                    node_id: "acme/p/prod/c1".into(),
                    status: nines_core::Status::Operational,
                    criticality: nines_core::Criticality::High,
                    tags: vec!["storage".into()],
                    url: None,
                    reason: None,
                },
                used_bytes: 95,
                total_bytes: 100,
                free_percent: 5.0,
                at: clock.now_ms(),
                cleared_at: None,
            });
            nines_store::notifications::NewEvent {
                dedup_key: format!("test:{i}"),
                subject: None,
                kind: "storage_critical".into(),
                organization: "acme".into(),
                payload: serde_json::to_string(&e).unwrap(),
                at: clock.now_ms(),
            }
        })
        .collect();
    assert_eq!(store_a.enqueue_events(&events, clock.now_ms()).await.unwrap(), 40);
    assert_eq!(store_b.enqueue_events(&events, clock.now_ms()).await.unwrap(), 0, "dedup keys are unique");
    // … and a real downtime through both servers; the clock jumps past the
    // lease, so both may act as leader for a moment: the downtime cursor's
    // compare-and-set keeps that to one downtime
    push(&a, &admin, "db", "OPERATIONAL").await;
    clock.advance(MIN);
    push(&b, &admin, "db", "DOWN").await;
    clock.advance(MIN);
    push(&a, &admin, "db", "OPERATIONAL").await;
    eventually("42 receipts", async || (hook.receipts().len() >= 42).then_some(())).await;
    a.settle().await;
    b.settle().await;
    let r = hook.receipts();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for x in &r {
        *by_id.entry(x.delivery.clone()).or_default() += 1;
        assert!(x.signed);
    }
    assert_eq!(r.len(), 42, "each event once: {by_id:?}");
    assert_eq!(by_id.len(), 42);
    assert_eq!(r.iter().filter(|x| x.kind == "downtime_opened").count(), 1);
    assert_eq!(r.iter().filter(|x| x.kind == "downtime_resolved").count(), 1);
    let list = deliveries(&a, &admin).await;
    assert_eq!(list.len(), 42);
    let replicas: std::collections::BTreeSet<&str> =
        list.iter().map(|d| d["attempts"][0]["replica"].as_str().unwrap()).collect();
    eprintln!("attempts made by {replicas:?}");
    // every delivery was made once, by one of the two, and says which
    assert!(list.iter().all(|d| d["attempts"].as_array().unwrap().len() == 1), "one attempt each");
    assert!(!replicas.is_empty() && replicas.is_subset(&["replica-a", "replica-b"].into()), "{replicas:?}");
    // and the downtime's messages arrived in order
    let order: Vec<&str> = r.iter().map(|x| x.kind.as_str()).filter(|k| k.starts_with("downtime_")).collect();
    assert_eq!(order, ["downtime_opened", "downtime_resolved"]);
    a.stop().await;
    b.stop().await;
}

/// A replica dies in the middle of sending "downtime opened" (its receiver
/// never answers). The survivor takes over; the downtime resolves there,
/// but "resolved" waits while "opened" is still claimed by the dead
/// replica, which it is for at most the claim's lifetime (20 s): then the
/// survivor sends "opened" (same delivery id) and, after it, "resolved".
#[tokio::test]
async fn a_delivery_claimed_by_a_dead_replica_is_retaken_and_a_downtime_speaks_in_order() {
    let Some((store_a, store_b, clock, mut cfg_a, mut cfg_b)) = two_replicas().await else { return };
    for c in [&mut cfg_a, &mut cfg_b] {
        c.lease_ttl_ms = 2_000;
        c.lease_renew = Duration::from_millis(20);
    }
    assert!(cfg_a.notify.claim_ttl_ms <= 30_000, "retaken within 30 s");
    // the first request hangs for ever: the replica sending it dies meanwhile
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let (g, h) = (got.clone(), hits.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap| {
            let (g, h) = (g.clone(), h.clone());
            async move {
                let hv = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                if h.fetch_add(1, Ordering::SeqCst) == 0 {
                    g.lock().unwrap().push(("hung".into(), hv("x-nines-delivery")));
                    std::future::pending::<()>().await;
                }
                g.lock().unwrap().push((hv("x-nines-event"), hv("x-nines-delivery")));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let a = start_with(store_a.clone(), Arc::new(clock.clone()), cfg_a).await;
    let admin = a.key("acme", "admin").await;
    create_channel(&a, &admin, "hook", json!({"type": "webhook", "url": hook, "secret": WEBHOOK_SECRET})).await;
    push(&a, &admin, "db", "OPERATIONAL").await;
    clock.advance(MIN);
    push(&a, &admin, "db", "DOWN").await;
    eventually("replica a to be sending 'opened'", async || (hits.load(Ordering::SeqCst) == 1).then_some(())).await;
    let hung_id = got.lock().unwrap()[0].1.clone();
    // kill -9: nothing released, the claim stays
    a.running.expect("running").abort();

    let b = start_with(store_b.clone(), Arc::new(clock.clone()), cfg_b).await;
    clock.advance(3_000); // a's lease is over: b leads
    push(&b, &admin, "db", "OPERATIONAL").await;
    eventually("the downtime to resolve on b", async || {
        let (_, v) = b.get("/api/v1/downtimes", &admin).await;
        let v = v["items"].clone();
        v.as_array().and_then(|l| l.first()).and_then(|d| d["resolvedAt"].as_str().map(|_| ()))
    })
    .await;
    b.settle().await;
    b.settle().await;
    assert_eq!(got.lock().unwrap().len(), 1, "'resolved' must wait for 'opened': {:?}", got.lock().unwrap());
    // the dead replica's claim runs out
    clock.advance(20_000);
    eventually("both messages, in order", async || (got.lock().unwrap().len() == 3).then_some(())).await;
    let g = got.lock().unwrap().clone();
    assert_eq!(g[1].0, "downtime_opened", "{g:?}");
    assert_eq!(g[1].1, hung_id, "the same delivery, sent again: receivers deduplicate by its id");
    assert_eq!(g[2].0, "downtime_resolved", "{g:?}");
    b.stop().await;
}

#[tokio::test]
async fn secrets_stay_out_of_responses_logs_and_database_rows() {
    let logs = logs();
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("secrets")).await;
        let admin = srv.key("acme", "admin").await;
        let secrets = ["whsec-AAAA1111", "Bearer tok-BBBB2222", "SLACKPATH-CCCC3333", "mailpw-DDDD4444", "Basic am-EEEE5555"];
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        let ids = [
            create_channel(&srv, &admin, "w", json!({"type": "webhook", "url": hook.url, "secret": secrets[0], "headers": {"Authorization": secrets[1]}})).await,
            // a dead end whose URL is the secret: its error must not show it
            create_channel(&srv, &admin, "s", json!({"type": "slack", "url": format!("http://127.0.0.1:1/services/{}", secrets[2])})).await,
            create_channel(&srv, &admin, "e", json!({"type": "email", "smtpHost": "127.0.0.1", "smtpPort": 1, "from": "a@example.com", "to": ["b@example.com"], "username": "u", "password": secrets[3]})).await,
            create_channel(&srv, &admin, "a", json!({"type": "alertmanager", "url": "http://127.0.0.1:1", "headers": {"Authorization": secrets[4]}})).await,
        ];
        push(&srv, &admin, "web", "OPERATIONAL").await;
        clock.advance(MIN);
        push(&srv, &admin, "web", "DOWN").await;
        eventually("attempts on every channel", async || {
            let l = deliveries(&srv, &admin).await;
            (l.len() == 4 && l.iter().all(|d| !d["attempts"].as_array().unwrap().is_empty())).then_some(())
        })
        .await;
        let test = srv.post(&format!("/api/v1/notifications/channels/{}/test", ids[1]), &admin, json!({})).await;
        assert_eq!((test.0, test.1["delivered"].as_bool()), (200, Some(false)), "{}", test.1);
        let test_ok = srv.post(&format!("/api/v1/notifications/channels/{}/test", ids[0]), &admin, json!({})).await;
        assert_eq!(test_ok.1["delivered"], true, "{}", test_ok.1);

        let mut shown = String::new();
        for path in ["/api/v1/notifications/channels", "/api/v1/notifications/deliveries"] {
            shown.push_str(&srv.get(path, &admin).await.1.to_string());
        }
        for id in ids {
            shown.push_str(&srv.get(&format!("/api/v1/notifications/channels/{id}"), &admin).await.1.to_string());
        }
        shown.push_str(&test.1.to_string());
        assert!(shown.contains("<redacted>") && shown.contains("connection failed"), "{shown}");
        // the raw rows
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        let mut raw = String::new();
        for (sql, cols) in [
            ("SELECT name, kind, config_sealed FROM notify_channels", 3),
            ("SELECT COALESCE(last_error, '') FROM notify_deliveries", 1),
            ("SELECT COALESCE(error, '') FROM notify_attempts", 1),
            ("SELECT payload FROM notify_events", 1),
        ] {
            for row in sqlx::query(sql).fetch_all(&mut conn).await.unwrap() {
                for i in 0..cols {
                    raw.push_str(&sqlx::Row::get::<String, _>(&row, i));
                    raw.push('\n');
                }
            }
        }
        assert!(raw.contains("v1."), "sealed: {raw}");
        let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
        assert!(logged.contains("notification not delivered"), "the failures were logged");
        for s in secrets {
            let needle = s.split(' ').next_back().unwrap();
            assert!(!shown.contains(needle), "{needle} in an API response: {shown}");
            assert!(!raw.contains(needle), "{needle} in a row: {raw}");
            assert!(!logged.contains(needle), "{needle} in the logs");
        }
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn maintenance_keeps_quiet_and_routes_pick_channels() {
    logs();
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("mw")).await;
        let admin = srv.key("acme", "admin").await;
        let all_hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        let critical_hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        let all = create_channel(&srv, &admin, "all", json!({"type": "webhook", "url": all_hook.url, "secret": WEBHOOK_SECRET})).await;
        let crit = create_channel(&srv, &admin, "critical", json!({"type": "webhook", "url": critical_hook.url, "secret": WEBHOOK_SECRET})).await;
        // routes: validation names the field, then critical → both, the rest → all
        let (c, v) = srv.post("/api/v1/notifications/routes", &admin, json!({"channels": [999]})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("channels[0]")), "{v}");
        let (c, v) = srv.post("/api/v1/notifications/routes", &admin, json!({"channels": [all], "severity": "x"})).await;
        assert_eq!(c, 422, "{v}");
        let (c, r1) = srv
            .post("/api/v1/notifications/routes", &admin, json!({"minCriticality": "critical", "channels": [crit, all], "stop": true}))
            .await;
        assert_eq!(c, 201, "{r1}");
        let (c, r2) = srv.post("/api/v1/notifications/routes", &admin, json!({"channels": [all]})).await;
        assert_eq!((c, r2["position"].as_i64()), (201, Some(r1["position"].as_i64().unwrap() + 1)));
        let (c, v) = put(&srv, &format!("/api/v1/notifications/routes/{}", r2["id"]), &admin, json!({"channels": [all], "tags": ["web"]})).await;
        assert_eq!((c, v["tags"].clone()), (200, json!(["web"])), "{v}");
        let (_, list) = srv.get("/api/v1/notifications/routes", &admin).await;
        let list = list["items"].clone();
        assert_eq!(list.as_array().unwrap().len(), 2);

        // a window over the node: going down inside it notifies nobody
        let id = push(&srv, &admin, "orders-db", "OPERATIONAL").await;
        let (c, w) = srv
            .post(
                "/api/v1/maintenance",
                &admin,
                json!({"title": "patching", "nodeIds": ["acme/p/prod"], "startsAt": nines_core::clock::rfc3339(clock.now_ms()),
                       "endsAt": nines_core::clock::rfc3339(clock.now_ms() + 20 * MIN)}),
            )
            .await;
        assert_eq!(c, 201, "{w}");
        clock.advance(MIN);
        push(&srv, &admin, "orders-db", "DOWN").await;
        clock.advance(5 * MIN);
        push(&srv, &admin, "orders-db", "OPERATIONAL").await;
        srv.settle().await;
        assert!(deliveries(&srv, &admin).await.is_empty());
        assert!(all_hook.receipts().is_empty() && critical_hook.receipts().is_empty());
        // after the window: the critical service reaches both channels
        clock.advance(30 * MIN);
        push(&srv, &admin, "orders-db", "DOWN").await;
        eventually("both channels", async || {
            (all_hook.receipts().len() == 1 && critical_hook.receipts().len() == 1).then_some(())
        })
        .await;
        assert_eq!(all_hook.receipts()[0].body["event"]["services"][0]["id"], id.to_string());
        assert_eq!(delete(&srv, &format!("/api/v1/notifications/routes/{}", r1["id"]), &admin).await, 204);
        assert_eq!(delete(&srv, &format!("/api/v1/notifications/channels/{crit}"), &admin).await, 204);
        assert_eq!(delete(&srv, &format!("/api/v1/notifications/channels/{crit}"), &admin).await, 404);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn storage_critical_notifies_when_it_starts_and_when_it_ends() {
    logs();
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("leader")).await;
        let admin = srv.key("acme", "admin").await;
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        create_channel(&srv, &admin, "hook", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}))
            .await;
        let report = async |free: f64| {
            let (c, v) = srv
                .post(
                    "/api/v1/storage/report",
                    &admin,
                    json!({"service": "pg-data", "nodeId": "acme/p/prod/c1", "freePercent": free}),
                )
                .await;
            assert!(c / 100 == 2, "{v}");
        };
        report(40.0).await;
        srv.settle().await;
        report(5.0).await;
        let first = eventually("critical", async || hook.receipts().first().cloned()).await;
        assert_eq!(first.kind, "storage_critical");
        assert_eq!(first.body["title"], "Storage critical: pg-data (5.0 % free)");
        // still critical, then between the thresholds: no new message
        report(4.0).await;
        srv.settle().await;
        report(11.0).await;
        srv.settle().await;
        assert_eq!(hook.receipts().len(), 1);
        report(30.0).await;
        let last = eventually("recovered", async || hook.receipts().get(1).cloned()).await;
        assert_eq!(last.body["title"], "Storage recovered: pg-data (30.0 % free)");
        srv.settle().await;
        assert_eq!(hook.receipts().len(), 2);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn certificates_notify_when_expiring_when_expired_and_once_when_renewed() {
    logs();
    each(async |db| {
        const DAY: i64 = 86_400_000;
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("leader")).await;
        let admin = srv.key("acme", "admin").await;
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        create_channel(&srv, &admin, "hook", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}))
            .await;
        let report = async |not_after: i64| {
            let body = json!({"nodeId": "acme/k8s/prod/c1", "namespace": "shop", "name": "api-tls",
                "dnsNames": ["api.example.com"], "notAfter": nines_core::clock::rfc3339(not_after), "status": "ready"});
            let (c, v) = srv.post("/api/v1/certificates", &admin, body).await;
            assert!(c / 100 == 2, "{v}");
            v["id"].as_i64().unwrap()
        };
        let id = report(clock.now_ms() + 45 * DAY).await;
        srv.settle().await;
        assert!(hook.receipts().is_empty(), "45 days left: quiet");
        clock.advance(20 * DAY);
        let r = eventually("expiring", async || hook.receipts().first().cloned()).await;
        assert_eq!(r.body["title"], "Certificate expires in 25 days: api.example.com");
        assert!(
            r.body["markdown"]
                .as_str()
                .unwrap()
                .contains(&format!("(https://nines.example/ui/certificates#cert-{id})")),
            "{}",
            r.body["markdown"]
        );
        // the page it leads to lists the certificate under that anchor
        let r = srv.http.get(format!("{}/ui/certificates", srv.base)).header("X-API-Key", &admin).send().await.unwrap();
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!(r#"id="cert-{id}""#)) && page.contains("Expiring soon"), "{page}");
        clock.advance(30 * DAY);
        let r = eventually("expired", async || hook.receipts().get(1).cloned()).await;
        assert_eq!(
            (r.kind.as_str(), r.body["title"].as_str()),
            ("certificate_expired", Some("Certificate expired: api.example.com"))
        );
        report(clock.now_ms() + 90 * DAY).await;
        let r = eventually("renewed", async || hook.receipts().get(2).cloned()).await;
        assert_eq!(r.body["title"], "Certificate renewed: api.example.com");
        srv.settle().await;
        assert_eq!(hook.receipts().len(), 3, "{:?}", hook.kinds());
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn burn_rate_pages_and_tickets_notify_once_raised_and_once_cleared() {
    logs();
    each(async |db| {
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("slo")).await;
        let admin = srv.key("acme", "admin").await;
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        let ch =
            create_channel(&srv, &admin, "slo", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}))
                .await;
        // only burn-rate events: the downtime of the same outage goes nowhere
        let (c, v) = srv
            .post("/api/v1/notifications/routes", &admin, json!({"events": ["slo_burn_rate"], "channels": [ch]}))
            .await;
        assert_eq!(c, 201, "{v}");
        push(&srv, &admin, "checkout", "OPERATIONAL").await;
        clock.advance(2 * 3_600_000);
        push(&srv, &admin, "checkout", "DOWN").await;
        clock.advance(10 * MIN);
        let cfg = nines_server::config::SloConfig::load(&db.store).await.unwrap();
        let eval = async || nines_server::workers::evaluate_burn_rates(&db.store, clock.now_ms(), &cfg).await.unwrap();
        eval().await;
        eval().await;
        eventually("page and ticket", async || (hook.receipts().len() == 2).then_some(())).await;
        let mut titles: Vec<String> =
            hook.receipts().iter().map(|r| r.body["title"].as_str().unwrap().to_string()).collect();
        titles.sort();
        assert_eq!(titles, ["SLO burn rate (page): checkout", "SLO burn rate (ticket): checkout"]);
        assert!(hook.kinds().iter().all(|k| k == "slo_burn_rate"));
        push(&srv, &admin, "checkout", "OPERATIONAL").await;
        clock.advance(31 * MIN);
        eval().await;
        let r = eventually("page cleared", async || hook.receipts().get(2).cloned()).await;
        assert_eq!(r.body["title"], "SLO burn rate cleared (page): checkout");
        eval().await;
        srv.settle().await;
        assert_eq!(hook.receipts().len(), 3, "{:?}", hook.kinds());
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_claim_is_exclusive_until_it_expires_and_empty_downtimes_say_nothing() {
    each(async |db| {
        let s = &db.store;
        let now = real_now();
        let e = nines_store::notifications::NewEvent {
            dedup_key: "claim-test".into(),
            subject: None,
            kind: "storage_critical".into(),
            organization: "acme".into(),
            payload: "{}".into(),
            at: now,
        };
        assert_eq!(s.enqueue_events(&[e.clone(), e], now).await.unwrap(), 1);
        let ev = s.unrouted_events(10).await.unwrap();
        assert_eq!(ev.len(), 1);
        assert!(s.route_event(ev[0].id, "acme", &[7], now).await.unwrap());
        assert!(!s.route_event(ev[0].id, "acme", &[7, 8], now).await.unwrap(), "fanned out once");
        let id = s.due_deliveries(now, 10).await.unwrap()[0];
        let first = s.claim_delivery(id, now, now + 60_000).await.unwrap().expect("claimed");
        assert!(s.claim_delivery(id, now + 1000, now + 61_000).await.unwrap().is_none(), "held");
        assert!(s.due_deliveries(now + 1000, 10).await.unwrap().is_empty());
        // the first claimer dies; its claim runs out and another takes over
        let second = s.claim_delivery(id, now + 60_001, now + 120_000).await.unwrap().expect("expired claim");
        assert_ne!(first.token, second.token);
        let attempt = |outcome: &str| nines_store::notifications::AttemptRow {
            attempt: 1,
            at: now + 60_001,
            duration_ms: 5,
            outcome: outcome.into(),
            status_code: Some(200),
            error: None,
            next_attempt_at: None,
            replica: "r".into(),
        };
        assert!(!s.finish_delivery(&first, &attempt("delivered")).await.unwrap(), "a lost claim records nothing");
        assert!(s.finish_delivery(&second, &attempt("delivered")).await.unwrap());
        let d = s.list_deliveries(Some("acme"), None, None, 10).await.unwrap();
        assert_eq!((d.len(), d[0].state.as_str(), d[0].attempts.len()), (1, "delivered", 1));
        assert!(s.claim_delivery(id, now + 200_000, now + 300_000).await.unwrap().is_none(), "done");
        // a downtime without services records no event
        s.create_manual_downtime("acme", "nothing", &[], now, now).await.unwrap();
        assert!(s.unrouted_events(10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_overdue_backup_notifies_once_and_again_when_backups_are_on_time() {
    logs();
    each(async |db| {
        const DAY: i64 = 86_400_000;
        let clock = ManualClock::new(real_now());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config("leader")).await;
        let admin = srv.key("acme", "admin").await;
        let hook = receiver(Arc::new(clock.clone()), 0, Duration::ZERO).await;
        create_channel(&srv, &admin, "hook", json!({"type": "webhook", "url": hook.url, "secret": WEBHOOK_SECRET}))
            .await;
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\n\
                   service: {name: orders-db}\noperations: {backup: {expected: true, maxAgeDays: 1}}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&admin), doc, Some("application/yaml")).await;
        assert_eq!(c, 200, "{v}");
        srv.settle().await;
        assert!(hook.receipts().is_empty(), "registered just now: not overdue");
        clock.advance(2 * DAY);
        let r = eventually("overdue", async || hook.receipts().first().cloned()).await;
        assert_eq!((r.kind.as_str(), r.body["title"].as_str()), ("backup_overdue", Some("Backup overdue: orders-db")));
        srv.settle().await;
        assert_eq!(hook.receipts().len(), 1, "once, not per pass");
        let (c, v) = srv
            .post(
                "/api/v1/backup/report",
                &admin,
                json!({"service": "orders-db", "nodeId": "acme/p/prod/c1", "status": "success"}),
            )
            .await;
        assert!(c / 100 == 2, "{v}");
        let r = eventually("on time again", async || hook.receipts().get(1).cloned()).await;
        assert_eq!(r.body["title"], "Backup on time again: orders-db");
        srv.stop().await;
    })
    .await;
}
