//! A real Prometheus (Debian's `prometheus`) scrapes nines' /metrics with
//! the scrape configuration the README gives: an organization's key sees
//! its own series, a key of every organization all of them, no key nothing.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use nines_server::SystemClock;
use std::sync::Arc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn prometheus_scrapes_probe_success() {
    let bin = "/usr/bin/prometheus";
    if !std::path::Path::new(bin).exists() {
        if nines_store::testing::require_all() {
            panic!("NINES_TEST_REQUIRE_ALL=1 but {bin} is missing (apt-get install prometheus)");
        }
        eprintln!("SKIP prometheus: {bin} not installed");
        return;
    }
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        on_backend(&db).await;
    }
}

async fn on_backend(db: &nines_store::testing::TestDb) {
    let mut cfg = fast_config("prom-test");
    cfg.checks_reload_every = Duration::from_millis(50);
    let srv = start_with(db.store.clone(), Arc::new(SystemClock), cfg).await;
    let key = srv.key("acme", "operator").await;
    let globex_op = srv.key("globex", "operator").await;
    let acme_reader = srv.key("acme", "read-only").await;
    let app = Router::new().route("/", get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    for (org, k) in [("acme", &key), ("globex", &globex_op)] {
        let doc = format!(
            "version: \"1\"\nhierarchy: {{organization: {org}, platform: p, environment: prod, cluster: c1}}\nservice: {{name: site}}\nchecks:\n  - {{type: http, name: home, url: '{target}', intervalSeconds: 1, timeoutSeconds: 0.5}}\n"
        );
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(k), &doc, None).await;
        assert_eq!(c, 200, "{v}");
    }
    let dir = nines_store::testing::ScratchDir::new("prom");
    let addr = srv.base.trim_start_matches("http://").to_string();
    // the scrape configuration the README documents: the key as a bearer token
    let job = |name: &str, key: Option<&str>| {
        let auth = key.map(|k| format!("    authorization:\n      credentials: '{k}'\n")).unwrap_or_default();
        format!("  - job_name: {name}\n{auth}    static_configs:\n      - targets: ['{addr}']\n")
    };
    std::fs::write(
        dir.0.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}{}",
            job("acme", Some(&acme_reader)),
            job("everyone", Some(&srv.admin)),
            job("nokey", None)
        ),
    )
    .unwrap();
    let port = free_port();
    let mut child = std::process::Command::new("/usr/bin/prometheus")
        .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let query = async |q: &str| -> Vec<serde_json::Value> {
        let enc: String = q
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={enc}");
        match http.get(&url).send().await {
            Ok(r) => r.json::<serde_json::Value>().await.ok().and_then(|v| v["data"]["result"].as_array().cloned()),
            Err(_) => None,
        }
        .unwrap_or_default()
    };
    let orgs = |res: &[serde_json::Value]| {
        let mut o: Vec<String> =
            res.iter().map(|x| x["metric"]["organization"].as_str().unwrap_or("").to_string()).collect();
        o.sort();
        o.dedup();
        o
    };
    let mut seen = None;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let acme = query("probe_success{job=\"acme\"}").await;
        let everyone = query("probe_success{job=\"everyone\"}").await;
        let nokey = query("up{job=\"nokey\"}").await;
        if !acme.is_empty() && orgs(&everyone).len() == 2 && !nokey.is_empty() {
            seen = Some((acme, everyone, nokey));
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let (acme, everyone, nokey) = seen.expect("Prometheus scraped both keyed jobs and tried the one without a key");
    assert_eq!(orgs(&acme), ["acme"], "an organization's key sees its own series only: {acme:?}");
    assert!(
        acme.iter()
            .any(|x| x["metric"]["check"].as_str().is_some_and(|c| c.ends_with("/home")) && x["value"][1] == "1")
    );
    assert_eq!(orgs(&everyone), ["acme", "globex"]);
    assert_eq!(nokey[0]["value"][1], "0", "a scrape without a key fails: {nokey:?}");
    // and what Prometheus was told
    let resp = http.get(format!("{}/metrics", srv.base)).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    srv.stop().await;
}
