//! Maintenance windows: services show MAINTENANCE, nothing opens a
//! downtime inside, and the time stays out of the SLA unless the window
//! says it counts.

mod common;

use common::*;
use nines_core::clock::rfc3339;
use nines_store::testing::{TestDb, all};
use serde_json::json;

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

const MIN: i64 = 60_000;

#[tokio::test]
async fn planned_work_is_announced_silent_and_out_of_the_sla() {
    each(async |db| {
        let clock = nines_core::clock::ManualClock::new(T0);
        let mut cfg = fast_config("mw");
        cfg.stale = nines_core::timeline::StaleRule { unknown_after_ms: 86_400_000, down_after_ms: 2 * 86_400_000 };
        let srv = start_with(db.store.clone(), std::sync::Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "admin").await;
        let push = async |status: &str| {
            let (c, v) = srv.post("/api/v1/health/report", &key, json!({"service": "db", "status": status, "nodeId": "acme/p/prod/c1"})).await;
            assert!(c / 100 == 2, "{v}");
            v["id"].as_i64().unwrap()
        };
        let id = push("OPERATIONAL").await;
        clock.advance(10 * MIN);
        // bad input names the field
        let (c, v) = srv.post("/api/v1/maintenance", &key, json!({"title": "x", "nodeIds": ["acme/p/prod"], "cron": "nightly"})).await;
        assert_eq!(c, 422, "{v}");
        let fields: Vec<&str> = v["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["cron", "durationMinutes"]);
        let (c, v) = srv.post("/api/v1/maintenance", &key, json!({"title": "x", "startsAt": rfc3339(T0)})).await;
        assert_eq!(c, 422, "{v}");
        // a one-off window from now for 20 minutes, scoped by node
        let (c, w) = srv
            .post("/api/v1/maintenance", &key, json!({"title": "DB patching", "nodeIds": ["acme/p/prod"], "startsAt": rfc3339(T0 + 10 * MIN), "endsAt": rfc3339(T0 + 30 * MIN)}))
            .await;
        assert_eq!(c, 201, "{w}");
        assert_eq!(w["active"], true);
        assert_eq!(w["countsTowardsSla"], false);
        let (_, s) = srv.get(&format!("/api/v1/services/{id}"), &key).await;
        assert_eq!(s["status"], "MAINTENANCE");
        assert_eq!(s["message"], "maintenance: DB patching");
        // it goes down during the work: no downtime
        clock.advance(5 * MIN);
        push("DOWN").await;
        clock.advance(10 * MIN);
        push("OPERATIONAL").await;
        srv.settle().await;
        let (_, dts) = srv.get("/api/v1/downtimes", &key).await;
        let dts = dts["items"].clone();
        assert!(dts.as_array().unwrap().is_empty(), "{dts}");
        // and it does not count
        clock.set(T0 + 40 * MIN);
        let (_, r) = srv.get(&format!("/api/v1/services/{id}/slo?window=40m"), &key).await;
        assert_eq!(r["badSeconds"], 0.0, "{r}");
        assert_eq!(r["excludedSeconds"], 1200.0);
        assert_eq!(r["availability"], 100.0);
        let (_, s) = srv.get(&format!("/api/v1/services/{id}"), &key).await;
        assert_eq!(s["status"], "OPERATIONAL", "the window is over");
        // recurring windows are announced with their next occurrences; an SLA
        // group must be one of the organization's
        let (c, v) = srv
            .post("/api/v1/maintenance", &key, json!({"title": "nightly", "slaGroups": ["pay"], "cron": "0 2 * * *", "durationMinutes": 30, "timeZone": "Europe/Berlin"}))
            .await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("slaGroups[0]")), "{v}");
        let (c, v) = srv.post("/api/v1/health/report", &key, json!({"service": "pay-api", "status": "OPERATIONAL", "nodeId": "acme/p/prod/c1", "slaGroup": "pay"})).await;
        assert!(c / 100 == 2, "{v}");
        let (c, w) = srv
            .post("/api/v1/maintenance", &key, json!({"title": "nightly", "slaGroups": ["pay"], "cron": "0 2 * * *", "durationMinutes": 30, "timeZone": "Europe/Berlin"}))
            .await;
        assert_eq!(c, 201, "{w}");
        assert_eq!(w["upcoming"].as_array().unwrap().len(), 30);
        srv.stop().await;
    })
    .await;
}
