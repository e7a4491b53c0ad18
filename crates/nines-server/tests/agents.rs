//! Agents that fall silent, end to end through the HTTP API on both
//! backends, with a manual clock: heartbeats and results from three
//! locations, then the clock moves past the silence limit (three intervals
//! of the slowest check, at least 60 s) location by location. The silent
//! locations' checks turn UNKNOWN and count as missing in the quorum, the
//! service follows, `GET /api/v1/agents` says who is silent, each agent's
//! silence notifies once and its return once, and the agents' results bring
//! everything back.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use common::*;
use nines_core::clock::{Clock, ManualClock, rfc3339};
use nines_server::ServerConfig;
use nines_server::notify::{NotifyConfig, SecretKey};
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};

const SEC: i64 = 1000;

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

fn config() -> ServerConfig {
    let mut cfg = fast_config("agents-test");
    // the silence check runs with the leader's check runner
    cfg.checks_reload_every = Duration::from_millis(20);
    cfg.slo_every = Duration::from_secs(3600);
    cfg.notify = NotifyConfig {
        every: Duration::from_millis(20),
        watch_every: Duration::from_secs(3600),
        key: Some(SecretKey::parse("a test key for the agents test").unwrap()),
        ..NotifyConfig::default()
    };
    cfg
}

/// A webhook receiver on loopback: the bodies it got.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: Bytes| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// The titles of the agent notifications received, in order.
fn agent_titles(got: &Mutex<Vec<Value>>) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|b| b["kind"] == "agent_silent")
        .map(|b| b["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn silent_agents_turn_their_checks_unknown_and_come_back_with_their_results() {
    each(async |db| {
        let clock = ManualClock::new(T0);
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config()).await;
        let agent = srv.key("acme", "agent").await;
        let op = srv.key("acme", "operator").await;
        let reader = srv.key("acme", "read-only").await;
        let admin = srv.key("acme", "admin").await;
        let other = srv.key("globex", "read-only").await;
        let (hook, got) = receiver().await;
        let (c, v) = srv
            .post(
                "/api/v1/notifications/channels",
                &admin,
                json!({"name": "hook", "config": {"type": "webhook", "url": hook}}),
            )
            .await;
        assert_eq!(c, 201, "{v}");

        // one check from three locations; its interval (40 s) makes the limit 120 s
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\n\
                   service: {name: web}\nchecks:\n  - {type: http, name: home, url: 'http://127.0.0.1:9/', \
                   intervalSeconds: 40, failureThreshold: 1, locations: [eu, us, ap]}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&op), doc, None).await;
        assert_eq!(c, 200, "{v}");
        let id = v["items"][0]["id"].as_i64().unwrap();
        let check = format!("{id}/home");
        let service = format!("/api/v1/services/{id}");

        let heartbeat = async |loc: &str, buffered: u64| {
            let body = json!({"location": loc, "version": "9.9.9-test", "resultsBuffered": buffered});
            let (c, v) = srv.post("/api/v1/agent/heartbeat", &agent, body).await;
            assert_eq!(c, 200, "{v}");
            v
        };
        let result = async |loc: &str, outcome: &str| {
            let body = json!({"location": loc, "results": [{"checkId": check, "at": clock.now_ms(),
                "outcome": outcome, "message": format!("{outcome} from {loc}"), "totalMs": 2.0}]});
            let (c, v) = srv.post("/api/v1/agent/results", &agent, body).await;
            assert_eq!((c, v["accepted"].as_u64()), (200, Some(1)), "{v}");
        };
        let status = async || srv.get(&service, &reader).await.1["status"].as_str().unwrap().to_string();
        let states = async || -> Vec<(String, String)> {
            let (_, d) = srv.get(&format!("/api/v1/checks/{check}"), &reader).await;
            let mut v: Vec<(String, String)> = d["states"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["location"].as_str().unwrap().into(), s["status"].as_str().unwrap().into()))
                .collect();
            v.sort();
            v
        };
        let agents = async |key: &str| -> Vec<(String, String)> {
            let (c, v) = srv.get("/api/v1/agents", key).await;
            let v = v["items"].clone();
            assert_eq!(c, 200, "{v}");
            v.as_array()
                .unwrap()
                .iter()
                .map(|a| (a["location"].as_str().unwrap().into(), a["state"].as_str().unwrap().into()))
                .collect()
        };
        let pair = |l: &str, s: &str| (l.to_string(), s.to_string());

        // wrong keys and bodies are refused
        let (c, _) = srv.post("/api/v1/agent/heartbeat", &reader, json!({"location": "eu"})).await;
        assert_eq!(c, 403, "a read key sends no heartbeat");
        let (c, v) = srv.post("/api/v1/agent/heartbeat", &agent, json!({"location": "Not A Name"})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("location")), "{v}");

        // all three report up
        let ack = heartbeat("eu", 7).await;
        assert_eq!((ack["checksAssigned"].as_u64(), ack["silentAfterSeconds"].as_i64()), (Some(1), Some(120)));
        heartbeat("us", 0).await;
        heartbeat("ap", 0).await;
        for loc in ["eu", "us", "ap"] {
            result(loc, "up").await;
        }
        assert_eq!(status().await, "OPERATIONAL");
        let (_, list) = srv.get("/api/v1/agents", &reader).await;
        let list = list["items"].clone();
        let eu = list.as_array().unwrap().iter().find(|a| a["location"] == "eu").cloned().unwrap();
        assert_eq!(eu["organization"], "acme");
        assert_eq!(eu["version"], "9.9.9-test");
        assert_eq!(eu["lastSeen"], rfc3339(T0));
        assert_eq!((eu["checksAssigned"].as_i64(), eu["resultsBuffered"].as_i64()), (Some(1), Some(7)));
        assert_eq!((eu["state"].as_str(), eu["silentAfterSeconds"].as_i64()), (Some("online"), Some(120)));
        assert_eq!(agents(&srv.admin).await.len(), 3, "a key of every organization sees them");
        assert!(agents(&other).await.is_empty(), "another organization sees none");

        // us and ap fall silent; eu keeps reporting
        clock.advance(60 * SEC);
        heartbeat("eu", 0).await;
        result("eu", "up").await;
        clock.advance(60 * SEC); // us and ap: 120 s of silence
        eventually("us and ap UNKNOWN", async || {
            (states().await == vec![pair("ap", "UNKNOWN"), pair("eu", "OPERATIONAL"), pair("us", "UNKNOWN")])
                .then_some(())
        })
        .await;
        assert_eq!(agents(&reader).await, vec![pair("ap", "silent"), pair("eu", "online"), pair("us", "silent")]);
        assert_eq!(status().await, "OPERATIONAL", "the one location present is the quorum of those present");
        eventually("two silent notices", async || (agent_titles(&got).len() == 2).then_some(())).await;
        let mut titles = agent_titles(&got);
        titles.sort();
        assert_eq!(titles, vec!["Agent silent: ap", "Agent silent: us"]);
        let raised = srv.store.raised_conditions("agent:").await.unwrap();
        let mut keys: Vec<&String> = raised.keys().collect();
        keys.sort();
        assert_eq!(keys, vec!["agent:acme:ap", "agent:acme:us"]);

        // a silent location is missing, not a vote: one DOWN of three is no majority
        result("eu", "down").await;
        assert_eq!(status().await, "DEGRADED");

        // eu falls silent too: nothing is known, the service is UNKNOWN from
        // the instant the last limit passed
        let eu_last = clock.now_ms();
        clock.advance(200 * SEC);
        let s = eventually("UNKNOWN", async || {
            let (_, s) = srv.get(&service, &reader).await;
            (s["status"] == "UNKNOWN").then_some(s)
        })
        .await;
        let last = s["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["to"].as_str(), last["cause"].as_str()), (Some("UNKNOWN"), Some("probe")), "{last}");
        assert_eq!(last["at"], rfc3339(eu_last + 120 * SEC), "{last}");
        assert!(s["message"].as_str().unwrap().contains("no word from the agent at eu"), "{s}");
        assert_eq!(states().await, vec![pair("ap", "UNKNOWN"), pair("eu", "UNKNOWN"), pair("us", "UNKNOWN")]);
        assert!(agents(&reader).await.iter().all(|(_, st)| st == "silent"));
        eventually("three silent notices", async || (agent_titles(&got).len() == 3).then_some(())).await;

        // they come back: heartbeats, then their results bring the checks back
        clock.advance(10 * SEC);
        for loc in ["eu", "us", "ap"] {
            heartbeat(loc, 0).await;
        }
        assert!(agents(&reader).await.iter().all(|(_, st)| st == "online"));
        for loc in ["eu", "us", "ap"] {
            result(loc, "up").await;
        }
        assert_eq!(status().await, "OPERATIONAL");
        assert_eq!(
            states().await,
            vec![pair("ap", "OPERATIONAL"), pair("eu", "OPERATIONAL"), pair("us", "OPERATIONAL")]
        );
        eventually("three back notices", async || (agent_titles(&got).len() == 6).then_some(())).await;
        let mut back: Vec<String> = agent_titles(&got).split_off(3);
        back.sort();
        assert_eq!(back, vec!["Agent back: ap", "Agent back: eu", "Agent back: us"]);
        assert!(srv.store.raised_conditions("agent:").await.unwrap().is_empty());
        // and once only
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(agent_titles(&got).len(), 6);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn any_agent_request_is_a_sign_of_life_and_the_dashboard_lists_agents() {
    each(async |db| {
        let clock = ManualClock::new(T0);
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), config()).await;
        let agent = srv.key("acme", "agent").await;
        let op = srv.key("acme", "operator").await;
        let reader = srv.key("acme", "read-only").await;
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\n\
                   service: {name: db}\nchecks:\n  - {type: tcp, name: port, host: 127.0.0.1, port: 9, \
                   intervalSeconds: 5, timeoutSeconds: 1, failureThreshold: 1, locations: [lab]}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&op), doc, None).await;
        assert_eq!(c, 200, "{v}");
        let check = format!("{}/port", v["items"][0]["id"].as_i64().unwrap());
        // an agent without heartbeats (an older one) is seen by its requests
        let (c, _) = srv.get("/api/v1/agent/checks?location=lab", &agent).await;
        assert_eq!(c, 200);
        let body = json!({"location": "lab", "results": [{"checkId": check, "at": T0, "outcome": "up", "message": "ok", "totalMs": 1.0}]});
        let (c, _) = srv.post("/api/v1/agent/results", &agent, body).await;
        assert_eq!(c, 200);
        let (_, list) = srv.get("/api/v1/agents", &reader).await;
        let list = list["items"].clone();
        let a = &list[0];
        assert_eq!((a["location"].as_str(), a["state"].as_str()), (Some("lab"), Some("online")), "{list}");
        assert_eq!(a["version"], Value::Null);
        assert_eq!(a["silentAfterSeconds"], 60, "5 s checks: the one-minute floor");
        // 59 s on it is still online; a poll at 50 s moves its last word
        clock.advance(50 * SEC);
        srv.get("/api/v1/agent/checks?location=lab", &agent).await;
        clock.advance(59 * SEC);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, list) = srv.get("/api/v1/agents", &reader).await;
        let list = list["items"].clone();
        assert_eq!(list[0]["state"], "online", "{list}");
        assert_eq!(list[0]["lastSeen"], rfc3339(T0 + 50 * SEC));
        let (_, d) = srv.get(&format!("/api/v1/checks/{check}"), &reader).await;
        assert_eq!(d["states"][0]["status"], "OPERATIONAL");
        clock.advance(SEC);
        eventually("silent", async || {
            let (_, d) = srv.get(&format!("/api/v1/checks/{check}"), &reader).await;
            (d["states"][0]["status"] == "UNKNOWN").then_some(())
        })
        .await;
        // the dashboard lists it
        let page = srv
            .http
            .get(format!("{}/ui/agents", srv.base))
            .header("X-API-Key", &reader)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<h1>Agents</h1>") && page.contains("1 agent, 1 silent"), "{page}");
        assert!(page.contains("<td>lab</td>") && page.contains("Silent"), "{page}");
        assert!(page.contains(r#"<a href="/ui/agents" aria-current="page">Agents</a>"#), "{page}");
        srv.stop().await;
    })
    .await;
}
