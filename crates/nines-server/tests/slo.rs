//! The SLO engine through the API, on a test clock: hand-computed fixtures,
//! final daily results, late observations, SLA groups, SystemConfig,
//! burn-rate alerts and /metrics — and the bulk path (daily results plus
//! edges) agreeing with the direct path (timeline) to the millisecond.

mod common;

use common::*;
use nines_core::clock::{ManualClock, rfc3339};
use nines_core::timeline::StaleRule;
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};
use std::sync::Arc;

const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

/// A server whose push services never go stale (the test moves the clock by days).
async fn start_quiet(db: &TestDb) -> (Srv, ManualClock) {
    start_quiet_every(db, std::time::Duration::from_secs(3600)).await
}

/// `slo_every`: how often the SLO worker runs; tests that drive it by hand
/// keep it from running on its own.
async fn start_quiet_every(db: &TestDb, slo_every: std::time::Duration) -> (Srv, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut cfg = fast_config("slo-test");
    cfg.slo_every = slo_every;
    cfg.stale = StaleRule { unknown_after_ms: 400 * DAY, down_after_ms: 500 * DAY };
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
    (srv, clock)
}

async fn push(srv: &Srv, key: &str, name: &str, status: &str) -> Value {
    let (code, v) = srv
        .post(
            "/api/v1/health/report",
            key,
            json!({"service": name, "status": status, "nodeId": "acme/pf/prod/c1", "slaGroup": "payments"}),
        )
        .await;
    assert!(code == 200 || code == 201, "{v}");
    v
}

#[tokio::test]
async fn forty_three_minutes_twelve_seconds_down_in_thirty_days() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "api", "OPERATIONAL").await["id"].clone();
        clock.advance(10 * DAY);
        push(&srv, &key, "api", "DOWN").await;
        clock.advance(43 * MIN + 12_000);
        push(&srv, &key, "api", "OPERATIONAL").await;
        clock.set(T0 + 30 * DAY);
        // the default SLO target for a medium service is DEFAULT_SLO_TARGET (99.9)
        let (code, r) = srv.get(&format!("/api/v1/services/{id}/slo?window=30d"), &key).await;
        assert_eq!(code, 200, "{r}");
        assert_eq!(r["availability"], 99.9);
        assert_eq!(r["sloTarget"], 99.9);
        assert_eq!(r["slaTarget"], 99.5, "medium tier");
        assert_eq!(r["errorBudget"]["totalSeconds"], 2592.0);
        assert_eq!(r["errorBudget"]["consumedSeconds"], 2592.0);
        assert_eq!(r["errorBudget"]["remainingSeconds"], 0.0);
        assert_eq!(r["errorBudget"]["consumedPercent"], 100.0);
        assert_eq!(r["errorBudget"]["state"], "exhausted");
        assert_eq!(r["conditions"], json!(["SLO_WARNING"]));
        assert_eq!(r["badSeconds"], 2592.0);
        assert_eq!(r["tier"]["responseMinutes"], 15 * 16);
        // the same window through the bulk path (after the days are final)
        srv.stop().await;
        let n = db.store.aggregate(T0 + 30 * DAY + 20 * MIN, 15 * MIN, 100).await.unwrap();
        assert!(n >= 29, "days finalized: {n}");
        let (srv, _clock) = {
            let clock = ManualClock::new(T0 + 30 * DAY);
            let s = start_with(db.store.clone(), Arc::new(clock.clone()), fast_config("slo-2")).await;
            (s, clock)
        };
        let (_, ov) = srv.get("/api/v1/slo/overview?window=30d", &key).await;
        let item = &ov["items"][0];
        assert_eq!(item["availability"], 99.9, "{ov}");
        assert_eq!(item["budgetRemainingSeconds"], 0.0);
        assert_eq!(ov["counts"], json!({"tracked": 1, "atRisk": 1, "breached": 0}));
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bulk_figures_equal_direct_figures_and_late_reports_restate_final_days() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        // five services flapping on different rhythms over 12 days
        let names = ["a", "b", "c", "d", "e"];
        let mut t = 0;
        while t < 12 * DAY {
            for (i, n) in names.iter().enumerate() {
                let period = (i as i64 + 2) * 7 * 3_600_000 + i as i64 * 977_000;
                let status = match (t / period) % 4 {
                    0 | 1 => "OPERATIONAL",
                    2 => "DOWN",
                    _ => {
                        if i % 2 == 0 {
                            "DEGRADED"
                        } else {
                            "UNKNOWN"
                        }
                    }
                };
                push(&srv, &key, n, status).await;
            }
            t += 5 * 3_600_000 + 123_456;
            clock.set(T0 + t);
        }
        let now = T0 + t;
        // finalize what is final, then compare
        db.store.aggregate(now, 15 * MIN, 100).await.unwrap();
        let check = async |label: &str| {
            let (_, ov) = srv.get("/api/v1/slo/overview?window=10d", &key).await;
            let items = ov["items"].as_array().unwrap();
            assert_eq!(items.len(), 5);
            for it in items {
                let (_, direct) = srv.get(&format!("/api/v1/services/{}/slo?window=10d", it["id"]), &key).await;
                assert_eq!(it["availability"], direct["availability"], "{label}: {it} vs {direct}");
                assert_eq!(it["budgetRemainingSeconds"], direct["errorBudget"]["remainingSeconds"], "{label}");
            }
        };
        check("before the late report").await;
        // a late report lands inside a final day: that day's result is redone
        let late_at = now - 6 * DAY + 7 * MIN;
        let (code, ack) = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service":"a","status":"DOWN","nodeId":"acme/pf/prod/c1","timestamp": rfc3339(late_at)}),
            )
            .await;
        assert_eq!(code, 200, "{ack}");
        assert_eq!(ack["late"], true);
        db.store.aggregate(now, 15 * MIN, 100).await.unwrap();
        check("after the late report").await;
        // daily series: final flags and the day's figures from the timeline
        let (_, series) = srv.get(&format!("/api/v1/services/{}/slo/daily?days=12", ack["id"]), &key).await;
        let days = series["days"].as_array().unwrap();
        assert_eq!(days.len(), 12);
        assert_eq!(days.last().unwrap()["final"], false);
        assert_eq!(days[0]["final"], true);
        for d in days {
            let (_, r) = srv
                .get(&format!("/api/v1/services/{}/slo?window=day:{}", ack["id"], d["day"].as_str().unwrap()), &key)
                .await;
            assert_eq!(d["availability"], r["availability"], "{d} vs {r}");
        }
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn sla_groups_combine_members_by_mode() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        push(&srv, &key, "db-1", "OPERATIONAL").await;
        push(&srv, &key, "db-2", "OPERATIONAL").await;
        clock.advance(60 * MIN);
        push(&srv, &key, "db-1", "DOWN").await;
        clock.advance(30 * MIN);
        push(&srv, &key, "db-2", "DOWN").await;
        clock.advance(30 * MIN);
        push(&srv, &key, "db-1", "OPERATIONAL").await;
        push(&srv, &key, "db-2", "OPERATIONAL").await;
        clock.advance(60 * MIN);
        // 3 h: db-1 down 60 min, db-2 down 30 min, overlapping 30 min
        let (_, all) = srv.get("/api/v1/sla-groups/payments/slo?window=3h", &key).await;
        assert_eq!(all["badSeconds"], 3600.0, "all: any member down counts");
        let resp = srv
            .http
            .put(format!("{}/api/v1/sla-groups/payments", srv.base))
            .header("X-API-Key", &key)
            .body(r#"{"mode":"any"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (_, any) = srv.get("/api/v1/sla-groups/payments/slo?window=3h", &key).await;
        assert_eq!(any["badSeconds"], 1800.0, "any: only when both are down");
        let resp = srv
            .http
            .put(format!("{}/api/v1/sla-groups/payments", srv.base))
            .header("X-API-Key", &key)
            .body(r#"{"mode":"quorum"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422);
        let (code, _) = srv.get("/api/v1/sla-groups/nope/slo", &key).await;
        assert_eq!(code, 404);
        // node and organization aggregate with counts
        let (_, node) = srv.get("/api/v1/hierarchy/slo?nodeId=acme/pf&window=3h", &key).await;
        assert_eq!(node["object"]["kind"], "node");
        assert_eq!(node["counts"]["tracked"], 2);
        assert_eq!(node["badSeconds"], 2700.0, "equal weights: (3600 + 1800) / 2");
        let (_, org) = srv.get("/api/v1/organizations/acme/slo?window=3h", &key).await;
        assert_eq!(org["badSeconds"], 2700.0);
        let other = srv.key("other", "read-only").await;
        let (code, _) = srv.get("/api/v1/organizations/acme/slo", &other).await;
        assert_eq!(code, 404, "another organization answers as an unknown one");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn system_config_is_listed_validated_and_used() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let (_, list) = srv.get("/api/v1/system-config", &srv.admin).await;
        let list = list["items"].clone();
        let keys: Vec<&str> = list.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
        for k in [
            "DEFAULT_SLO_TARGET",
            "DEFAULT_SLA_TARGET",
            "DEFAULT_SLO_WINDOW_DAYS",
            "DEFAULT_SLA_WINDOW_DAYS",
            "ERROR_BUDGET_WARNING_THRESHOLD",
            "ERROR_BUDGET_CRITICAL_THRESHOLD",
        ] {
            assert!(keys.contains(&k), "{k}");
        }
        assert!(list[0]["description"].as_str().unwrap().len() > 10);
        let put = |k: &str, body: &str| {
            let req = srv
                .http
                .put(format!("{}/api/v1/system-config/{k}", srv.base))
                .header("X-API-Key", &srv.admin)
                .body(body.to_string());
            async move {
                let r = req.send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (code, v) = put("DEFAULT_SLO_TARGET", r#"{"value": 101}"#).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("value")));
        let (code, _) = put("NO_SUCH_KEY", r#"{"value": "1"}"#).await;
        assert_eq!(code, 404);
        let (code, v) = put("ERROR_BUDGET_WARNING_THRESHOLD", r#"{"value": 95}"#).await;
        assert_eq!(code, 422, "{v}");
        let (code, v) = put("DEFAULT_SLO_TARGET", r#"{"value": "99.99"}"#).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["overridden"], true);
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "x", "OPERATIONAL").await["id"].clone();
        clock.advance(MIN);
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo"), &key).await;
        assert_eq!(r["sloTarget"], 99.99);
        assert_eq!(r["window"]["label"], "30d");
        let (code, _) = put("DEFAULT_SLO_TARGET", r#"{"value": null}"#).await;
        assert_eq!(code, 200);
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo"), &key).await;
        assert_eq!(r["sloTarget"], 99.9);
        // per-service settings
        let resp = srv
            .http
            .put(format!("{}/api/v1/services/{id}/slo", srv.base))
            .header("X-API-Key", &key)
            .body(r#"{"sloTarget": 99.0, "slaTarget": 99.5}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "an SLO looser than the SLA is refused");
        let resp = srv
            .http
            .put(format!("{}/api/v1/services/{id}/slo", srv.base))
            .header("X-API-Key", &key)
            .body(r#"{"sloTarget": 99.95, "slaTarget": 99.5, "windowDays": 7, "degradedCountsAs": "bad"}"#)
            .send()
            .await
            .unwrap();
        let r: Value = resp.json().await.unwrap();
        assert_eq!((r["sloTarget"].as_f64(), r["window"]["label"].as_str()), (Some(99.95), Some("7d")));
        // an org-scoped admin cannot change global settings
        let org_admin = srv.key("acme", "admin").await;
        let r = srv
            .http
            .put(format!("{}/api/v1/system-config/DEFAULT_SLO_TARGET", srv.base))
            .header("X-API-Key", &org_admin)
            .body(r#"{"value": 99}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn burn_rate_alerts_are_raised_and_cleared_as_events() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        push(&srv, &key, "checkout", "OPERATIONAL").await;
        clock.advance(2 * 3_600_000);
        push(&srv, &key, "checkout", "DOWN").await;
        clock.advance(10 * MIN);
        let cfg = nines_server::config::SloConfig::load(&db.store).await.unwrap();
        assert_eq!(
            nines_server::workers::evaluate_burn_rates(&db.store, clock_now(&clock), &cfg).await.unwrap(),
            2,
            "page and ticket"
        );
        let (_, r) = srv.get("/api/v1/slo/overview", &key).await;
        let id = r["items"][0]["id"].clone();
        let (_, rep) = srv.get(&format!("/api/v1/services/{id}/slo"), &key).await;
        assert_eq!(rep["alerts"], json!({"page": true, "ticket": true}));
        assert!(rep["burnRates"]["5m"].as_f64().unwrap() > 14.4);
        assert!(rep["errorBudget"]["timeToExhaustionSeconds"].as_f64().unwrap() >= 0.0);
        // evaluating again raises nothing twice
        assert_eq!(nines_server::workers::evaluate_burn_rates(&db.store, clock_now(&clock), &cfg).await.unwrap(), 0);
        push(&srv, &key, "checkout", "OPERATIONAL").await;
        clock.advance(6 * MIN);
        // 5 min clean, but 6 h and 30 min both still burn above 6x: still paging
        assert_eq!(nines_server::workers::evaluate_burn_rates(&db.store, clock_now(&clock), &cfg).await.unwrap(), 0);
        clock.advance(25 * MIN);
        // 30 min clean too: the page clears; the ticket (1 d and 2 h at 3x) stays
        assert_eq!(nines_server::workers::evaluate_burn_rates(&db.store, clock_now(&clock), &cfg).await.unwrap(), 1);
        let ev = db.store.events_after(0, 100).await.unwrap();
        let kinds: Vec<&str> = ev.iter().map(|e| e.2.as_str()).collect();
        assert!(kinds.contains(&"slo.burn_rate.page.raised"), "{kinds:?}");
        assert!(kinds.contains(&"slo.burn_rate.page.cleared"), "{kinds:?}");
        let first = ev.iter().find(|e| e.2.starts_with("slo.")).unwrap();
        let payload: Value = serde_json::from_str(&first.6).unwrap();
        assert_eq!(payload["service"], "checkout");
        srv.stop().await;
    })
    .await;
}

fn clock_now(c: &ManualClock) -> i64 {
    use nines_core::clock::Clock;
    c.now_ms()
}

#[tokio::test]
async fn metrics_serve_the_engine_figures() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, clock) = start_quiet_every(&db, std::time::Duration::from_millis(20)).await;
        let key = srv.key("acme", "admin").await;
        push(&srv, &key, "web", "OPERATIONAL").await;
        clock.advance(30 * MIN);
        push(&srv, &key, "web", "DOWN").await;
        // half an hour of history: the availability is there, budgets and burn
        // rates are not (SLO_MIN_HISTORY_MINUTES is 60)
        let young = eventually("metrics of a young service", async || {
            let t = srv.metrics().await;
            t.contains("nines_slo_availability_ratio{").then_some(t)
        })
        .await;
        assert!(
            !young.contains("nines_burn_rate{") && !young.contains("nines_error_budget_remaining_ratio{"),
            "{young}"
        );
        clock.advance(30 * MIN);
        let text = eventually("metrics", async || {
            let t = srv.metrics().await;
            t.contains("nines_error_budget_remaining_ratio{").then_some(t)
        })
        .await;
        let line = text.lines().find(|l| l.starts_with("nines_slo_availability_ratio{")).unwrap();
        assert!(line.contains("service=\"web\"") && line.contains("organization=\"acme\""), "{line}");
        assert!(line.ends_with(" 0.5"), "{line}");
        assert!(text.contains("nines_burn_rate{") && text.contains("window=\"5m\""));
        assert!(text.contains("nines_error_budget_remaining_ratio{"));
        srv.stop().await;
    }
}

#[tokio::test]
async fn openslo_import_sets_the_objective_and_export_round_trips() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "checkout", "OPERATIONAL").await["id"].clone();
        clock.advance(10 * MIN);
        // 30 s down inside the third minute: a 1-minute slice at 90 % fails
        push(&srv, &key, "checkout", "DOWN").await;
        clock.advance(30_000);
        push(&srv, &key, "checkout", "OPERATIONAL").await;
        clock.advance(20 * MIN - 30_000);
        let doc = r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
  service: checkout
  indicatorRef: checkout-uptime
  budgetingMethod: Timeslices
  timeWindow:
    - duration: 28d
      isRolling: true
  objectives:
    - target: 0.95
      timeSliceTarget: 0.9
      timeSliceWindow: 1m
"#;
        let (code, v) = srv.post_raw("/api/v1/openslo", Some(&key), doc, Some("application/yaml")).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v[0]["name"], "checkout-availability");
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo"), &key).await;
        assert_eq!(r["window"]["label"], "28d");
        assert_eq!(r["sloTarget"], 95.0);
        // 30 one-minute slices, one of them bad
        assert_eq!((r["goodSeconds"].as_f64(), r["badSeconds"].as_f64()), (Some(29.0 * 60.0), Some(60.0)), "{r}");
        let resp = srv
            .http
            .get(format!("{}/api/v1/services/{id}/openslo", srv.base))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        let back = nines_core::openslo::import(&text).unwrap();
        assert_eq!(back[0].name, "checkout-availability");
        assert_eq!(
            back[0].budgeting,
            nines_core::openslo::Budgeting::Timeslices { slice_ms: 60_000, slice_target: 0.9 }
        );
        assert_eq!(back[0].node_id.as_deref(), Some("acme/pf/prod/c1"));
        // errors: unknown service, bad document
        let (code, v) =
            srv.post_raw("/api/v1/openslo", Some(&key), &doc.replace("service: checkout", "service: nope"), None).await;
        assert_eq!((code, v["error"]["field"].as_str()), (404, Some("spec.service")));
        let (code, v) = srv.post_raw("/api/v1/openslo", Some(&key), &doc.replace("Timeslices", "Ratio"), None).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("spec.budgetingMethod")));
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn five_minute_buckets_close_after_the_settle_delay() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, clock) = start_quiet(&db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "b", "OPERATIONAL").await["id"].clone();
        clock.advance(7 * MIN);
        push(&srv, &key, "b", "DOWN").await;
        clock.advance(MIN);
        push(&srv, &key, "b", "OPERATIONAL").await;
        clock.advance(17 * MIN);
        let from = rfc3339(T0);
        let (code, v) = srv.get(&format!("/api/v1/services/{id}/slo/buckets?from={from}"), &key).await;
        assert_eq!(code, 200, "{v}");
        let b = v.as_array().unwrap();
        assert_eq!(b.len(), 5);
        assert_eq!(b[1]["badSeconds"], 60.0, "the minute of DOWN lands in the 5-10 min bucket");
        assert_eq!(b[1]["availability"], 80.0);
        // at 25 min: buckets ending by 10 min are final (15 min settle delay)
        assert_eq!(
            b.iter().map(|x| x["final"].as_bool().unwrap()).collect::<Vec<_>>(),
            vec![true, true, false, false, false]
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn a_new_service_has_insufficient_data_until_it_has_an_hour_of_history() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "payments", "OPERATIONAL").await["id"].clone();
        clock.advance(5 * MIN);
        push(&srv, &key, "payments", "DOWN").await;
        clock.advance(27_000);
        push(&srv, &key, "payments", "OPERATIONAL").await;
        clock.advance(3 * MIN);
        let slo = format!("/api/v1/services/{id}/slo?window=30d");
        let (_, r) = srv.get(&slo, &key).await;
        assert_eq!(r["errorBudget"]["state"], "insufficient_data", "{r}");
        assert_eq!(r["conditions"], json!([]), "{r}");
        assert_eq!(r["alerts"], json!({"page": false, "ticket": false}), "{r}");
        // figures stay sane: no negative remainder, no percentage past 100
        assert!(r["errorBudget"]["remainingSeconds"].as_f64().unwrap() >= 0.0, "{r}");
        assert!(r["errorBudget"]["consumedPercent"].as_f64().unwrap() <= 100.0, "{r}");
        assert!(
            r["errorBudget"]["overspentTimes"].is_null() && r["errorBudget"]["timeToExhaustionSeconds"].is_null(),
            "{r}"
        );
        // and no burn rates: a 27-second blip is not a budget burning a thousand times too fast
        let rates = r["burnRates"].as_object().unwrap();
        assert!(!rates.is_empty() && rates.values().all(Value::is_null), "{r}");
        let (_, ov) = srv.get("/api/v1/slo/overview", &key).await;
        assert_eq!(ov["counts"]["breached"], 0, "{ov}");
        // the history reached (SLO_MIN_HISTORY_MINUTES, 60 by default): the blip counts
        clock.advance(60 * MIN);
        let (_, r) = srv.get(&slo, &key).await;
        assert_eq!(r["errorBudget"]["state"], "exhausted", "{r}");
        assert!(r["conditions"].as_array().unwrap().contains(&json!("SLO_BREACH")), "{r}");
        assert!(r["burnRates"]["3d"].as_f64().unwrap() > 1.0, "{r}");
        let times = r["errorBudget"]["overspentTimes"].as_f64().unwrap();
        let counted = r["goodSeconds"].as_f64().unwrap() + r["badSeconds"].as_f64().unwrap();
        assert!((times - 27.0 / (counted * 0.001)).abs() < 1e-9, "{times} {r}");
        // a shorter minimum brings the figures sooner
        let r = srv
            .http
            .put(format!("{}/api/v1/system-config/SLO_MIN_HISTORY_MINUTES", srv.base))
            .header("X-API-Key", &srv.admin)
            .body(r#"{"value": "600"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let (_, r) = srv.get(&slo, &key).await;
        assert_eq!(r["errorBudget"]["state"], "insufficient_data", "{r}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_service_created_by_late_reports_is_tracked_from_its_earliest_observation() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "operator").await;
        let at = |ms: i64| rfc3339(ms);
        let report = |status: &str, ts: i64| {
            json!({"service": "batch", "status": status, "nodeId": "acme/pf/prod/c1", "timestamp": at(ts)})
        };
        // an agent delivers its buffer: the service is created by a report three hours old
        let (code, v) = srv.post("/api/v1/health/report", &key, report("OPERATIONAL", T0 - 180 * MIN)).await;
        assert_eq!(code, 201, "{v}");
        let id = v["id"].clone();
        srv.post("/api/v1/health/report", &key, report("DOWN", T0 - 120 * MIN)).await;
        srv.post("/api/v1/health/report", &key, report("OPERATIONAL", T0)).await;
        clock.advance(1000);
        let (_, s) = srv.get(&format!("/api/v1/services/{id}"), &key).await;
        assert_eq!(s["createdAt"], at(T0 - 180 * MIN), "{s}");
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo?window=30d"), &key).await;
        assert_eq!((r["goodSeconds"].as_f64(), r["badSeconds"].as_f64()), (Some(3601.0), Some(7200.0)), "{r}");
        // an even older report arriving later moves the start again, never forward
        let (_, v) = srv.post("/api/v1/health/report", &key, report("OPERATIONAL", T0 - 240 * MIN)).await;
        assert_eq!(v["late"], true, "{v}");
        let (_, s) = srv.get(&format!("/api/v1/services/{id}"), &key).await;
        assert_eq!(s["createdAt"], at(T0 - 240 * MIN), "{s}");
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo?window=30d"), &key).await;
        assert_eq!((r["goodSeconds"].as_f64(), r["badSeconds"].as_f64()), (Some(7201.0), Some(7200.0)), "{r}");
        srv.stop().await;
    })
    .await;
}
