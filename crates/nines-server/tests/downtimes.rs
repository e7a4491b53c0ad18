//! Downtimes from the timeline: services that break together share one,
//! recoveries resolve it, the log has the seed's lines, the timeline is
//! compiled with activities, tiers set the due times; manual downtimes,
//! SLA accounting fields, acknowledgement and post-mortem notes.

mod common;

use common::*;
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

async fn push(srv: &Srv, key: &str, name: &str, node: &str, group: Option<&str>, status: &str) {
    let mut body = json!({"service": name, "status": status, "nodeId": node, "criticality": "critical"});
    if let Some(g) = group {
        body["slaGroup"] = json!(g);
    }
    let (code, v) = srv.post("/api/v1/health/report", key, body).await;
    assert!(code / 100 == 2, "{v}");
}

#[tokio::test]
async fn what_breaks_together_is_one_downtime() {
    each(async |db| {
        // silence must not interfere here: push services go stale after days
        let clock = nines_core::clock::ManualClock::new(T0);
        let mut cfg = fast_config("dt");
        cfg.stale = nines_core::timeline::StaleRule { unknown_after_ms: 86_400_000, down_after_ms: 2 * 86_400_000 };
        let srv = start_with(db.store.clone(), std::sync::Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "operator").await;
        for n in ["db-1", "db-2", "cache"] {
            let node = if n == "cache" { "acme/p/prod/c9" } else { "acme/p/prod/c1" };
            push(&srv, &key, n, node, (n != "cache").then_some("pay"), "OPERATIONAL").await;
        }
        clock.advance(60_000);
        push(&srv, &key, "db-1", "acme/p/prod/c1", Some("pay"), "DOWN").await;
        clock.advance(60_000);
        push(&srv, &key, "db-2", "acme/p/prod/c1", Some("pay"), "DOWN").await;
        push(&srv, &key, "cache", "acme/p/prod/c9", None, "DOWN").await;
        let list = eventually("two downtimes", async || {
            let (_, v) = srv.get("/api/v1/downtimes?state=open", &key).await;
            (v.as_array().map(|a| a.len()) == Some(2)).then_some(v)
        })
        .await;
        let pay = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["title"] == "2 services are down")
            .expect("joined downtime")
            .clone();
        assert_eq!(pay["severity"], "critical");
        assert_eq!(pay["source"], "MONITORING");
        // tier 1: respond within 15 min, resolve within 4 h
        let started = nines_core::clock::parse_rfc3339(pay["startedAt"].as_str().unwrap()).unwrap();
        assert_eq!(pay["responseDueAt"], nines_core::clock::rfc3339(started + 15 * 60_000));
        assert_eq!(pay["resolutionDueAt"], nines_core::clock::rfc3339(started + 4 * 3_600_000));
        let id = pay["id"].clone();
        // an activity inside the downtime
        let (c, _) = srv
            .post(
                "/api/v1/activities",
                &key,
                json!({"kind": "deployment", "message": "rolled back db operator", "nodeId": "acme/p/prod/c1"}),
            )
            .await;
        assert_eq!(c, 201);
        clock.advance(5 * 60_000);
        push(&srv, &key, "db-1", "acme/p/prod/c1", Some("pay"), "OPERATIONAL").await;
        clock.advance(60_000);
        push(&srv, &key, "db-2", "acme/p/prod/c1", Some("pay"), "DEGRADED").await;
        let d = eventually("resolved", async || {
            let (_, v) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
            (v["resolvedAt"].is_string() && v["timeline"].as_array().is_some_and(|t| !t.is_empty())).then_some(v)
        })
        .await;
        let log: Vec<&str> = d["log"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
        assert_eq!(
            log,
            vec![
                "Added to downtime: db-1",
                "Added to downtime: db-2",
                "Recovered from downtime: db-1",
                "Recovered from downtime: db-2",
                "Status changed from DOWN to DEGRADED while in downtime: db-2",
                "Resolved: every service recovered"
            ]
        );
        assert_eq!(d["durationSeconds"], 420.0);
        assert_eq!(d["responseBreached"], false);
        let tl = d["timeline"].as_array().unwrap();
        assert!(tl.iter().any(|i| i["kind"] == "activity" && i["text"] == "rolled back db operator"));
        assert!(tl.iter().any(|i| i["kind"] == "status" && i["service"] == "db-2" && i["to"] == "DEGRADED"));
        let ats: Vec<&str> = tl.iter().map(|i| i["at"].as_str().unwrap()).collect();
        let mut sorted = ats.clone();
        sorted.sort();
        assert_eq!(ats, sorted, "chronological");
        let ev = db.store.events_after(0, 100).await.unwrap();
        assert_eq!(ev.iter().filter(|e| e.2 == "downtime.opened").count(), 2);
        assert_eq!(ev.iter().filter(|e| e.2 == "downtime.resolved").count(), 1);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn manual_downtimes_classification_and_post_mortems() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("acme", "operator").await;
        push(&srv, &key, "api", "acme/p/prod/c1", None, "OPERATIONAL").await;
        let (_, list) = srv.get("/api/v1/services", &key).await;
        let sid = list["items"][0]["id"].as_i64().unwrap();
        let (c, v) = srv.post("/api/v1/downtimes", &key, json!({"title": "Provider outage", "serviceIds": []})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("serviceIds")));
        let (c, d) = srv.post("/api/v1/downtimes", &key, json!({"title": "Provider outage", "serviceIds": [sid]})).await;
        assert_eq!(c, 201, "{d}");
        assert_eq!(d["source"], "MANUAL");
        let id = d["id"].clone();
        let patch = |body: Value| {
            let req = srv.http.patch(format!("{}/api/v1/downtimes/{id}", srv.base)).header("X-API-Key", &key).body(body.to_string());
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (c, v) = patch(json!({"countsTowardsSla": false})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("excludedReason")));
        let (c, v) = patch(json!({"countsTowardsSla": false, "excludedReason": "upstream provider", "classification": "external", "resolve": true})).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!((v["countsTowardsSla"].as_bool(), v["excludedReason"].as_str()), (Some(false), Some("upstream provider")));
        assert!(v["resolvedAt"].is_string());
        let r = srv.http.post(format!("{}/api/v1/downtimes/{id}/acknowledge", srv.base)).header("X-API-Key", &key).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["acknowledgedAt"].is_string());
        // one call, no dialog: a prefilled note
        let r = srv.http.post(format!("{}/api/v1/downtimes/{id}/postmortem", srv.base)).header("X-API-Key", &key).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let note: Value = r.json().await.unwrap();
        let body = note["body"].as_str().unwrap();
        assert!(body.starts_with("# Post-mortem: Provider outage"), "{body}");
        assert!(body.contains("**Counts towards SLA:** no (upstream provider)"));
        assert!(body.contains("api (acme/p/prod/c1)") && body.contains("## Timeline") && body.contains("## Root cause"));
        assert!(note["author"].as_str().unwrap().contains("operator"));
        let r = srv.http.put(format!("{}/api/v1/notes/{}", srv.base, note["id"])).header("X-API-Key", &key).body(r##"{"body":"# Edited"}"##).send().await.unwrap();
        let edited: Value = r.json().await.unwrap();
        assert_eq!(edited["body"], "# Edited");
        let (_, d) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
        assert_eq!(d["notes"][0]["id"], note["id"]);
        let other = srv.key("other", "operator").await;
        let (c, _) = srv.get(&format!("/api/v1/downtimes/{id}"), &other).await;
        assert_eq!(c, 403);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_downtime_that_does_not_count_leaves_the_sla() {
    each(async |db| {
        let clock = nines_core::clock::ManualClock::new(T0);
        let mut cfg = fast_config("dt-sla");
        cfg.stale = nines_core::timeline::StaleRule { unknown_after_ms: 86_400_000, down_after_ms: 2 * 86_400_000 };
        let srv = start_with(db.store.clone(), std::sync::Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "operator").await;
        const MIN: i64 = 60_000;
        push(&srv, &key, "api", "acme/p/prod/c1", Some("shop"), "OPERATIONAL").await;
        push(&srv, &key, "web", "acme/p/prod/c2", None, "OPERATIONAL").await;
        clock.advance(30 * MIN);
        push(&srv, &key, "api", "acme/p/prod/c1", Some("shop"), "DOWN").await;
        clock.advance(10 * MIN);
        push(&srv, &key, "api", "acme/p/prod/c1", Some("shop"), "OPERATIONAL").await;
        clock.advance(20 * MIN);
        let d = eventually("a resolved downtime", async || {
            let (_, v) = srv.get("/api/v1/downtimes", &key).await;
            v.as_array().and_then(|a| a.first()).filter(|d| d["resolvedAt"].is_string()).cloned()
        })
        .await;
        let (_, list) = srv.get("/api/v1/services", &key).await;
        let api = list["items"].as_array().unwrap().iter().find(|s| s["service"] == "api").unwrap()["id"].clone();
        let slo = async || srv.get(&format!("/api/v1/services/{api}/slo?window=1h"), &key).await.1;
        let before = slo().await;
        assert_eq!(
            (before["badSeconds"].as_f64(), before["excludedSeconds"].as_f64()),
            (Some(600.0), Some(0.0)),
            "{before}"
        );
        let (_, overview) = srv.get("/api/v1/slo/overview?window=1h", &key).await;
        let bad_in_overview = |o: &Value| {
            o["items"].as_array().unwrap().iter().find(|i| i["service"] == "api").unwrap()["availability"].as_f64()
        };
        let counted = bad_in_overview(&overview);
        // classified afterwards as not counting: the 10 minutes leave the SLA everywhere
        let r = srv
            .http
            .patch(format!("{}/api/v1/downtimes/{}", srv.base, d["id"]))
            .header("X-API-Key", &key)
            .body(json!({"countsTowardsSla": false, "excludedReason": "upstream provider"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let after = slo().await;
        assert_eq!(
            (after["badSeconds"].as_f64(), after["excludedSeconds"].as_f64()),
            (Some(0.0), Some(600.0)),
            "{after}"
        );
        assert_eq!(after["availability"].as_f64(), Some(100.0), "{after}");
        let (_, overview) = srv.get("/api/v1/slo/overview?window=1h", &key).await;
        assert_eq!(bad_in_overview(&overview), Some(100.0), "the bulk path agrees: {overview}");
        let (_, group) = srv.get("/api/v1/sla-groups/shop/slo?window=1h", &key).await;
        assert_eq!(
            (group["badSeconds"].as_f64(), group["excludedSeconds"].as_f64()),
            (Some(0.0), Some(600.0)),
            "the group agrees: {group}"
        );
        assert_ne!(counted, Some(100.0));
        // the daily series agrees with the window of that day
        let (_, series) = srv.get(&format!("/api/v1/services/{api}/slo/daily?days=1"), &key).await;
        let day = series.as_array().and_then(|a| a.last()).cloned().unwrap_or(series.clone());
        let day_name = day["day"].as_str().unwrap_or_default().to_string();
        let (_, window) = srv.get(&format!("/api/v1/services/{api}/slo?window=day:{day_name}"), &key).await;
        assert_eq!(day["badSeconds"], window["badSeconds"], "{day} vs {window}");
        assert_eq!(day["excludedSeconds"], window["excludedSeconds"], "{day} vs {window}");
        srv.stop().await;
    })
    .await;
}
