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
    push_as(srv, key, name, node, group, status, "critical").await;
}

async fn push_as(srv: &Srv, key: &str, name: &str, node: &str, group: Option<&str>, status: &str, criticality: &str) {
    let mut body = json!({"service": name, "status": status, "nodeId": node, "criticality": criticality});
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
        let key = srv.key("acme", "admin").await;
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
            let v = v["items"].clone();
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
        let key = srv.key("acme", "admin").await;
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
        assert!(note["author"].as_str().unwrap().contains("admin"), "{note}");
        let r = srv.http.put(format!("{}/api/v1/notes/{}", srv.base, note["id"])).header("X-API-Key", &key).body(r##"{"body":"# Edited"}"##).send().await.unwrap();
        let edited: Value = r.json().await.unwrap();
        assert_eq!(edited["body"], "# Edited");
        let (_, d) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
        assert_eq!(d["notes"][0]["id"], note["id"]);
        let other = srv.key("other", "admin").await;
        let (c, _) = srv.get(&format!("/api/v1/downtimes/{id}"), &other).await;
        assert_eq!(c, 404, "another organization's downtime answers as a missing one");
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
        let key = srv.key("acme", "admin").await;
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
            let v = v["items"].clone();
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
        // the daily series agrees with the window of that day: the 10
        // minutes are excluded there too
        let (c, series) = srv.get(&format!("/api/v1/services/{api}/slo/daily?days=1"), &key).await;
        assert_eq!(c, 200, "{series}");
        let days = series["days"].as_array().unwrap_or_else(|| panic!("no days: {series}"));
        assert_eq!(days.len(), 1, "{series}");
        let day = &days[0];
        let day_name = day["day"].as_str().unwrap_or_else(|| panic!("no day: {day}"));
        assert_eq!(day_name, &nines_core::clock::rfc3339(T0)[..10]);
        let (c, window) = srv.get(&format!("/api/v1/services/{api}/slo?window=day:{day_name}"), &key).await;
        assert_eq!(c, 200, "{window}");
        // the day before the service was first seen (T0) counts neither way
        let unseen = (T0 - nines_core::slo::day_floor(T0)) as f64 / 1000.0;
        assert_eq!(
            (day["goodSeconds"].as_f64(), day["badSeconds"].as_f64(), day["excludedSeconds"].as_f64()),
            (Some(3000.0), Some(0.0), Some(unseen + 600.0)),
            "{day}"
        );
        assert_eq!(day["badSeconds"], window["badSeconds"], "{day} vs {window}");
        assert_eq!(day["excludedSeconds"], window["excludedSeconds"], "{day} vs {window}");
        srv.stop().await;
    })
    .await;
}

/// A clock-driven server whose push services never go stale.
async fn start_clocked(db: &TestDb, replica: &str) -> (Srv, nines_core::clock::ManualClock) {
    let clock = nines_core::clock::ManualClock::new(T0);
    let mut cfg = fast_config(replica);
    cfg.stale = nines_core::timeline::StaleRule { unknown_after_ms: 86_400_000, down_after_ms: 2 * 86_400_000 };
    let srv = start_with(db.store.clone(), std::sync::Arc::new(clock.clone()), cfg).await;
    (srv, clock)
}

async fn patch_downtime(srv: &Srv, key: &str, id: &Value, body: Value) -> (u16, Value) {
    let r = srv
        .http
        .patch(format!("{}/api/v1/downtimes/{id}", srv.base))
        .header("X-API-Key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json::<Value>().await.unwrap())
}

#[tokio::test]
async fn severity_and_due_times_follow_the_most_critical_member() {
    each(async |db| {
        const MIN: i64 = 60_000;
        const HOUR: i64 = 60 * MIN;
        let (srv, clock) = start_clocked(db, "dt-sev").await;
        let key = srv.key("acme", "admin").await;
        let node = "acme/p/prod/c1";
        let services = [("web", "medium"), ("db", "critical"), ("cache", "low"), ("queue", "high")];
        for (name, crit) in services {
            push_as(&srv, &key, name, node, None, "OPERATIONAL", crit).await;
        }
        // one more member each step; the downtime as it is then
        let down = async |name: &str, crit: &str, members: usize| {
            clock.advance(MIN);
            push_as(&srv, &key, name, node, None, "DOWN", crit).await;
            eventually(&format!("{members} members"), async || {
                let (_, list) = srv.get("/api/v1/downtimes?state=open", &key).await;
                let list = list["items"].clone();
                let id = list.as_array()?.first()?["id"].clone();
                let (_, d) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
                (d["members"].as_array()?.len() == members).then_some(d)
            })
            .await
        };
        let due = |d: &Value| {
            let at = |f: &str| nines_core::clock::parse_rfc3339(d[f].as_str().unwrap()).unwrap();
            let started = at("startedAt");
            (
                d["severity"].as_str().unwrap().to_string(),
                at("responseDueAt") - started,
                at("resolutionDueAt") - started,
            )
        };
        // opened by a medium service: minor, tier 3
        let d = down("web", "medium", 1).await;
        assert_eq!(due(&d), ("minor".into(), 4 * HOUR, 72 * HOUR), "{d}");
        // a tier-1 service joins: critical, 15 min and 4 h
        let d = down("db", "critical", 2).await;
        assert_eq!(due(&d), ("critical".into(), 15 * MIN, 4 * HOUR), "{d}");
        assert!(
            d["log"].as_array().unwrap().iter().any(|l| l["message"] == "Severity raised to critical: db joined"),
            "{d}"
        );
        assert_eq!(d["responseBreached"], false);
        let id = d["id"].clone();
        // set by hand to minor: tier 3's due times
        let (c, d) = patch_downtime(&srv, &key, &id, json!({"severity": "minor"})).await;
        assert_eq!(c, 200, "{d}");
        assert_eq!(due(&d), ("minor".into(), 4 * HOUR, 72 * HOUR), "{d}");
        assert!(d["log"].as_array().unwrap().iter().any(|l| l["message"] == "Severity set to minor by hand"), "{d}");
        let (c, v) = patch_downtime(&srv, &key, &id, json!({"severity": "fatal"})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("severity")), "{v}");
        // a low service joining leaves the hand-set severity alone (the
        // critical member does not bring it back either)
        let d = down("cache", "low", 3).await;
        assert_eq!(due(&d), ("minor".into(), 4 * HOUR, 72 * HOUR), "{d}");
        // a service more severe than the hand-set value raises it
        let d = down("queue", "high", 4).await;
        assert_eq!(due(&d), ("major".into(), HOUR, 8 * HOUR), "{d}");
        // set by hand to critical: tier 1's due times, 15 min to respond
        // from the start (3 min ago), breached once they have passed
        let (_, d) = patch_downtime(&srv, &key, &id, json!({"severity": "critical"})).await;
        assert_eq!(due(&d), ("critical".into(), 15 * MIN, 4 * HOUR), "{d}");
        clock.advance(20 * MIN);
        let (_, d) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
        assert_eq!(d["responseBreached"], true, "{d}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn current_incidents_list_only_the_services_still_down() {
    each(async |db| {
        let (srv, clock) = start_clocked(db, "dt-page").await;
        let key = srv.key("acme", "admin").await;
        let node = "acme/p/prod/c1";
        for name in ["pay-api", "pay-db"] {
            push(&srv, &key, name, node, Some("pay"), "OPERATIONAL").await;
        }
        let (_, list) = srv.get("/api/v1/services", &key).await;
        for s in list["items"].as_array().unwrap() {
            let shown = if s["service"] == "pay-api" { "Payments API" } else { "Payments DB" };
            let r = srv
                .http
                .put(format!("{}/api/v1/services/{}/public", srv.base, s["id"]))
                .header("X-API-Key", &key)
                .header("Content-Type", "application/json")
                .body(json!({"public": true, "displayName": shown}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
        clock.advance(60_000);
        push(&srv, &key, "pay-api", node, Some("pay"), "DOWN").await;
        push(&srv, &key, "pay-db", node, Some("pay"), "DOWN").await;
        // the public page's "Current incidents" section
        let current = async || {
            let html = srv.http.get(format!("{}/", srv.base)).send().await.unwrap().text().await.unwrap();
            let start = html.find("Current incidents")?;
            let end = start + html[start..].find("</section>")?;
            Some(html[start..end].to_string())
        };
        let section = eventually("both in the current incident", async || {
            current().await.filter(|t| t.contains("Payments API") && t.contains("Payments DB"))
        })
        .await;
        assert!(section.contains("since"), "{section}");
        // the API recovers; the downtime stays open for the database
        clock.advance(60_000);
        push(&srv, &key, "pay-api", node, Some("pay"), "OPERATIONAL").await;
        eventually("the API recovered in the downtime", async || {
            let (_, list) = srv.get("/api/v1/downtimes?state=open", &key).await;
            let list = list["items"].clone();
            let id = list.as_array()?.first()?["id"].clone();
            let (_, d) = srv.get(&format!("/api/v1/downtimes/{id}"), &key).await;
            d["members"].as_array()?.iter().any(|m| m["service"] == "pay-api" && m["down"] == false).then_some(())
        })
        .await;
        let section = eventually("only the database in the current incident", async || {
            current().await.filter(|t| !t.contains("Payments API"))
        })
        .await;
        assert!(section.contains("Payments DB"), "{section}");
        srv.stop().await;
    })
    .await;
}
