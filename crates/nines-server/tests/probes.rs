//! Active checks end to end on real sockets: a local target, server-side
//! runs on the leader, statuses on the timeline, failures with their
//! reasons, blackbox-compatible metrics that vanish with their check, bad
//! check declarations, and quorum across agent locations.

mod common;

use axum::Router;
use axum::routing::get;
use common::*;
use nines_server::SystemClock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

/// A target whose answer the test switches.
async fn target() -> (String, Arc<AtomicU16>) {
    let code = Arc::new(AtomicU16::new(200));
    let c = code.clone();
    let app = Router::new().route(
        "/health",
        get(move || {
            let c = c.clone();
            async move {
                let status = axum::http::StatusCode::from_u16(c.load(Ordering::SeqCst)).unwrap();
                (status, r#"{"database":"connected"}"#)
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}/health"), code)
}

async fn start_real(db: &nines_store::testing::TestDb) -> Srv {
    let mut cfg = fast_config("probe-test");
    cfg.checks_reload_every = Duration::from_millis(50);
    cfg.slo_every = Duration::from_secs(3600);
    start_with(db.store.clone(), Arc::new(SystemClock), cfg).await
}

fn doc(name: &str, checks: &str) -> String {
    format!(
        "version: \"1\"\nhierarchy: {{organization: acme, platform: p, environment: prod, cluster: c1}}\nservice: {{name: {name}}}\nchecks:\n{checks}"
    )
}

#[tokio::test]
async fn server_side_checks_drive_the_timeline_and_metrics() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_real(&db).await;
        let key = srv.key("acme", "operator").await;
        let (url, code) = target().await;
        let checks = format!(
            "  - type: http\n    name: health\n    url: {url}\n    intervalSeconds: 1\n    timeoutSeconds: 0.5\n    failureThreshold: 2\n    expectedBody: '\"database\":\"connected\"'\n"
        );
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), &doc("api", &checks), None).await;
        assert_eq!(c, 200, "{v}");
        let id = v["items"][0]["id"].as_i64().unwrap();
        let path = format!("/api/v1/services/{id}");
        eventually("OPERATIONAL", async || {
            let (_, s) = srv.get(&path, &key).await;
            (s["status"] == "OPERATIONAL").then_some(())
        })
        .await;
        code.store(503, Ordering::SeqCst);
        let s = eventually("DOWN", async || {
            let (_, s) = srv.get(&path, &key).await;
            (s["status"] == "DOWN").then_some(s)
        })
        .await;
        assert_eq!(s["timeline"].as_array().unwrap().last().unwrap()["cause"], "probe");
        assert!(s["message"].as_str().unwrap().contains("status 503 where 200-299 was expected"), "{s}");
        let check_id = format!("{id}/health");
        let (_, d) = srv.get(&format!("/api/v1/checks/{check_id}"), &key).await;
        assert_eq!(d["states"][0]["location"], "server");
        assert_eq!(d["states"][0]["status"], "DOWN");
        assert!(d["failures"][0]["message"].as_str().unwrap().contains("503"), "{d}");
        assert!(d["recent"].as_array().unwrap().len() >= 3);
        assert!(d["recent"][0]["connectMs"].as_f64().is_some(), "per-phase timings: {d}");
        let text = srv.metrics().await;
        let line = text
            .lines()
            .find(|l| l.starts_with("probe_success{") && l.contains(&check_id))
            .expect("probe_success series");
        assert!(line.ends_with(" 0") && line.contains("organization=\"acme\""), "{line}");
        assert!(text.lines().any(|l| l.starts_with("probe_http_status_code{") && l.ends_with(" 503")));
        assert!(text.contains("probe_duration_seconds{") && text.contains("phase=\"connect\""));
        assert!(text.contains("nines_probe_runs_total "));
        // recovery, then removal: the series disappears
        code.store(200, Ordering::SeqCst);
        eventually("recovered", async || {
            let (_, s) = srv.get(&path, &key).await;
            (s["status"] == "OPERATIONAL").then_some(())
        })
        .await;
        let no_checks = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\nservice: {name: api}\n";
        let (c, _) = srv.post_raw("/api/v1/services/apply", Some(&key), no_checks, None).await;
        assert_eq!(c, 200);
        eventually("series gone", async || {
            let text = srv.metrics().await;
            (!text.contains(&check_id)).then_some(())
        })
        .await;
        srv.stop().await;
    }
}

#[tokio::test]
async fn bad_checks_are_named_with_their_path_and_nothing_changes() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_real(&db).await;
        let key = srv.key("acme", "operator").await;
        let good = doc("ok", "  - {type: tcp, host: 127.0.0.1, port: 1}\n");
        let bad = doc(
            "bad",
            "  - {type: http, url: 'not a url', intervalSeconds: 10, timeoutSeconds: 10}\n  - {type: smtp, host: x}\n  - {type: tcp, host: x}\n",
        );
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), &format!("{good}---\n{bad}"), None).await;
        assert_eq!(c, 422, "{v}");
        let fields: Vec<String> = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap().to_string())
            .collect();
        assert!(fields.iter().any(|f| f == "documents[1].checks[0].url"), "{fields:?}");
        assert!(fields.iter().any(|f| f == "documents[1].checks[0].timeoutSeconds"), "{fields:?}");
        assert!(fields.iter().any(|f| f.starts_with("documents[1].checks[1]")), "{fields:?}");
        assert!(fields.iter().any(|f| f == "documents[1].checks[2].port"), "{fields:?}");
        let (_, list) = srv.get("/api/v1/services", &key).await;
        assert!(list["items"].as_array().unwrap().is_empty(), "nothing applied");
        srv.stop().await;
    }
}

#[tokio::test]
async fn locations_combine_by_quorum() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_real(&db).await;
        let key = srv.key("acme", "operator").await;
        let op = srv.key("acme", "operator").await;
        let checks =
            "  - {type: http, name: web, url: 'http://127.0.0.1:9/', locations: [eu, us, ap], failureThreshold: 1}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&op), &doc("web", checks), None).await;
        assert_eq!(c, 200, "{v}");
        let id = v["items"][0]["id"].as_i64().unwrap();
        let check = format!("{id}/web");
        let (_, eu) = srv.get("/api/v1/agent/checks?location=eu", &key).await;
        assert_eq!(eu["checks"][0]["id"], check.as_str());
        let (_, xx) = srv.get("/api/v1/agent/checks?location=xx", &key).await;
        assert!(xx["checks"].as_array().unwrap().is_empty());
        let now = nines_core::clock::Clock::now_ms(&SystemClock);
        let (srv_ref, key_ref, check_ref) = (&srv, &key, &check);
        let push = async |loc: &str, outcome: &str, at: i64| {
            let body = json!({"location": loc, "results": [{"checkId": check_ref, "at": at, "outcome": outcome, "message": format!("{outcome} from {loc}"), "totalMs": 3.0}]});
            srv_ref.post("/api/v1/agent/results", key_ref, body).await
        };
        for loc in ["eu", "us", "ap"] {
            let (c, a) = push(loc, "up", now - 3000).await;
            assert_eq!((c, a["accepted"].as_u64()), (200, Some(1)), "{a}");
        }
        let status =
            async || srv.get(&format!("/api/v1/services/{id}"), &key).await.1["status"].as_str().unwrap().to_string();
        assert_eq!(status().await, "OPERATIONAL");
        push("eu", "down", now - 2000).await;
        assert_eq!(status().await, "DEGRADED", "1 of 3 is no quorum");
        push("us", "down", now - 1000).await;
        assert_eq!(status().await, "DOWN", "2 of 3 is a majority");
        let s: Value = srv.get(&format!("/api/v1/services/{id}"), &key).await.1;
        let last = s["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["at"], nines_core::clock::rfc3339(now - 1000), "placed at the run's event time");
        // results for a check elsewhere are reported back, not recorded
        let body = json!({"location": "eu", "results": [{"checkId": "999/nope", "at": now, "outcome": "down", "message": "x", "totalMs": 1.0}]});
        let (_, a) = srv.post("/api/v1/agent/results", &key, body).await;
        assert_eq!(a["unknown"][0], "999/nope");
        let body = json!({"location": "eu", "results": [{"checkId": check, "at": now, "outcome": "sideways", "message": "x", "totalMs": 1.0}]});
        let (c, a) = srv.post("/api/v1/agent/results", &key, body).await;
        assert_eq!((c, a["error"]["field"].as_str()), (422, Some("results[0].outcome")));
        srv.stop().await;
    }
}

/// A service with many checks: each result is recorded (state machine,
/// recent runs, the service's status from its checks), a steady check's
/// state reaches the database only when its status changes, and what the
/// API shows is the newest state whether written yet or not.
#[tokio::test]
async fn steady_results_write_nothing_until_a_status_changes() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_real(&db).await;
        let op = srv.key("acme", "operator").await;
        // 200 checks run by an agent location (the server runs none of them)
        let mut checks = String::new();
        for i in 0..200 {
            checks.push_str(&format!(
                "  - {{type: http, name: c{i}, url: 'http://127.0.0.1:9/{i}', locations: [eu], failureThreshold: 2}}\n"
            ));
        }
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&op), &doc("big", &checks), None).await;
        assert_eq!(c, 200, "{v}");
        let id = v["items"][0]["id"].as_i64().unwrap();
        let engine = srv.running.as_ref().unwrap().state.probes.clone();
        let now = nines_core::clock::Clock::now_ms(&SystemClock);
        let run = |check: usize, outcome: &str, at: i64| nines_server::probes::RunResult {
            check_id: format!("{id}/c{check}"),
            at,
            outcome: outcome.into(),
            message: format!("{outcome} {at}"),
            error: None,
            http_status: Some(200),
            dns_ms: None,
            connect_ms: Some(0.2),
            tls_ms: None,
            first_byte_ms: Some(0.5),
            total_ms: 1.0,
            cert_not_after: None,
        };
        // every check up once: 200 states written (their status is new)
        let first: Vec<_> = (0..200).map(|i| run(i, "up", now - 10_000)).collect();
        engine.record("eu", &first).await.unwrap();
        let stored = |db: &nines_store::Store| {
            let db = db.clone();
            async move { db.check_states_of_services(&[id]).await.unwrap().into_iter().map(|(_, s)| s).collect::<Vec<_>>() }
        };
        let rows = stored(&srv.store).await;
        assert_eq!(rows.len(), 200);
        assert!(rows.iter().all(|r| r.last_at == now - 10_000 && r.status == nines_core::Status::Operational));
        let status =
            async || srv.get(&format!("/api/v1/services/{id}"), &op).await.1["status"].as_str().unwrap().to_string();
        assert_eq!(status().await, "OPERATIONAL");
        // more good runs: nothing written, the API still shows the newest
        for k in 1..=3 {
            let batch: Vec<_> = (0..200).map(|i| run(i, "up", now - 10_000 + k * 1000)).collect();
            engine.record("eu", &batch).await.unwrap();
        }
        assert!(stored(&srv.store).await.iter().all(|r| r.last_at == now - 10_000), "steady runs were written");
        let (_, detail) = srv.get(&format!("/api/v1/checks/{id}/c7"), &op).await;
        assert_eq!(detail["states"][0]["lastRun"], nines_core::clock::rfc3339(now - 7_000), "{detail}");
        assert_eq!(detail["recent"].as_array().unwrap().len(), 4, "{detail}");
        // one check fails twice: DOWN, written at once, and the service follows
        engine.record("eu", &[run(7, "down", now - 5_000)]).await.unwrap();
        assert_eq!(status().await, "OPERATIONAL", "one failure is below the threshold");
        engine.record("eu", &[run(7, "down", now - 4_000)]).await.unwrap();
        let rows = stored(&srv.store).await;
        let c7 = rows.iter().find(|r| r.check_id.ends_with("/c7")).unwrap();
        assert_eq!((c7.status, c7.last_at, c7.failures), (nines_core::Status::Down, now - 4_000, 2));
        assert_eq!(status().await, "DOWN");
        // it recovers: OPERATIONAL again
        engine.record("eu", &[run(7, "up", now - 3_000)]).await.unwrap();
        assert_eq!(status().await, "OPERATIONAL");
        // a flush writes what was held back
        engine.flush().await.unwrap();
        let rows = stored(&srv.store).await;
        assert!(rows.iter().filter(|r| !r.check_id.ends_with("/c7")).all(|r| r.last_at == now - 7_000), "flushed");
        // the engine holds a sender of the ingest queue, which must close for the server to stop
        drop(engine);
        srv.stop().await;
    }
}

/// Callers that find the check set out of date at the same moment wait for
/// one reload and share it, instead of each reading every check (with
/// 100,000 checks each copy is tens of megabytes).
#[tokio::test]
async fn callers_that_find_the_checks_changed_share_one_reload() {
    use nines_server::probes::{ProbeEngine, parse_checks};
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let apply = |name: &str| {
            let specs = nines_core::apply::parse_documents(&doc(
                name,
                "  - type: tcp\n    name: port\n    host: 127.0.0.1\n    port: 9\n    intervalSeconds: 60\n",
            ))
            .unwrap();
            let (checks, errs) = parse_checks(&specs);
            assert!(errs.is_empty(), "{errs:?}");
            (specs, checks)
        };
        let (specs, checks) = apply("api");
        db.store.apply_with_checks(&specs, &checks, nines_core::model::Source::Config, 1).await.unwrap();
        let floor = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let (ingest, tasks) = nines_server::ingest::Ingest::start(db.store.clone(), Default::default(), floor, 1);
        let engine = ProbeEngine::new(db.store.clone(), Arc::new(SystemClock), ingest);

        let (a, b, c) = tokio::join!(engine.checks(), engine.checks(), engine.checks());
        let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
        assert_eq!(a.len(), 1);
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &c), "each caller read the checks itself");
        // unchanged: the same set
        assert!(Arc::ptr_eq(&a, &engine.checks().await.unwrap()));

        // changed again: one new set, for every caller
        let (specs, checks) = apply("web");
        db.store.apply_with_checks(&specs, &checks, nines_core::model::Source::Config, 2).await.unwrap();
        let (d, e) = tokio::join!(engine.checks(), engine.checks());
        let (d, e) = (d.unwrap(), e.unwrap());
        assert_eq!(d.len(), 2);
        assert!(Arc::ptr_eq(&d, &e) && !Arc::ptr_eq(&a, &d));
        for t in tasks {
            t.abort();
        }
    }
}
