//! A real Prometheus (Debian's `prometheus`) scrapes nines' /metrics and its
//! query API returns probe_success for a check.

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
    let db = nines_store::testing::sqlite().await;
    let mut cfg = fast_config("prom-test");
    cfg.checks_reload_every = Duration::from_millis(50);
    let srv = start_with(db.store.clone(), Arc::new(SystemClock), cfg).await;
    let key = srv.key("acme", "operator").await;
    let app = Router::new().route("/", get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let doc = format!(
        "version: \"1\"\nhierarchy: {{organization: acme, platform: p, environment: prod, cluster: c1}}\nservice: {{name: site}}\nchecks:\n  - {{type: http, name: home, url: '{target}', intervalSeconds: 1, timeoutSeconds: 0.5}}\n"
    );
    let (c, _) = srv.post_raw("/api/v1/services/apply", Some(&key), &doc, None).await;
    assert_eq!(c, 200);
    let dir = nines_store::testing::ScratchDir::new("prom");
    let addr = srv.base.trim_start_matches("http://").to_string();
    std::fs::write(
        dir.0.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nines\n    static_configs:\n      - targets: ['{addr}']\n"),
    )
    .unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", dir.0.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.0.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut found = None;
    for _ in 0..120 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query=probe_success");
        if let Ok(r) = http.get(&url).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && let Some(res) = v["data"]["result"].as_array()
            && let Some(first) =
                res.iter().find(|x| x["metric"]["check"].as_str().is_some_and(|c| c.ends_with("/home")))
        {
            found = Some(first.clone());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let series = found.expect("Prometheus returned probe_success for the check");
    assert_eq!(series["metric"]["organization"], "acme");
    assert_eq!(series["value"][1], "1");
    srv.stop().await;
}
