//! The daily SLA report through the server: its figures are the SLO
//! engine's for the same windows (compared with the JSON API), files on
//! disk indexed and downloadable per organization, the 07:00 run made once
//! across replicas and pushed to the SLA portal, and retention that removes
//! raw observations without changing any figure.

mod common;

use common::*;
use nines_core::clock::{Clock, ManualClock, parse_rfc3339, rfc3339};
use nines_core::timeline::StaleRule;
use nines_server::report::ReportConfig;
use nines_store::testing::{ScratchDir, TestDb, all};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

/// A server that writes reports under `dir`, whose push services never go
/// stale (the test moves the clock by days), and whose SLO worker finalizes
/// days as the clock moves.
fn config(replica: &str, dir: &std::path::Path) -> nines_server::ServerConfig {
    let mut cfg = fast_config(replica);
    cfg.stale = StaleRule { unknown_after_ms: 400 * DAY, down_after_ms: 500 * DAY };
    cfg.slo_every = Duration::from_millis(20);
    cfg.report = ReportConfig {
        dir: Some(dir.to_path_buf()),
        check_every: Duration::from_millis(20),
        retention_every: Duration::from_secs(3600),
        push_backoff: Duration::from_millis(10),
        ..ReportConfig::default()
    };
    cfg
}

async fn push(srv: &Srv, key: &str, name: &str, status: &str) -> i64 {
    let (crit, group, node) = match name {
        "api" => ("critical", Some("pay"), "acme/p/prod/c1"),
        "db" => ("high", Some("pay"), "acme/p/prod/c2"),
        "web" => ("medium", None, "acme/p/prod/c1"),
        _ => ("low", None, "acme/p/dev/c1"),
    };
    let mut body = json!({"service": name, "status": status, "nodeId": node, "criticality": crit});
    if let Some(g) = group {
        body["slaGroup"] = json!(g);
    }
    let (code, v) = srv.post("/api/v1/health/report", key, body).await;
    assert!(code / 100 == 2, "{v}");
    v["id"].as_i64().unwrap()
}

/// January 2027 with downtimes, a planned window and a day crossing midnight;
/// the clock ends at 2027-01-15T07:30Z.
async fn scenario(srv: &Srv, clock: &ManualClock, key: &str) {
    clock.set(at("2027-01-01T00:00:00Z"));
    let mut ids = Vec::new();
    for n in ["api", "db", "web", "batch"] {
        ids.push((n.to_string(), push(srv, key, n, "OPERATIONAL").await));
    }
    let (c, v) = srv
        .post(
            "/api/v1/maintenance",
            key,
            json!({"title": "DB patching", "serviceIds": [ids[1].1], "startsAt": "2027-01-10T02:00:00Z", "endsAt": "2027-01-10T03:00:00Z"}),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    let steps: &[(&str, &str, &str)] = &[
        ("2027-01-05T10:00:00Z", "api", "DOWN"),
        ("2027-01-05T10:30:00Z", "api", "OPERATIONAL"),
        ("2027-01-10T02:10:00Z", "db", "DOWN"),
        ("2027-01-10T02:40:00Z", "db", "OPERATIONAL"),
        ("2027-01-14T12:00:00Z", "web", "DOWN"),
        ("2027-01-14T12:10:00Z", "api", "DEGRADED"),
        ("2027-01-14T12:30:00Z", "api", "OPERATIONAL"),
        ("2027-01-14T12:45:00Z", "web", "OPERATIONAL"),
        ("2027-01-14T23:00:00Z", "batch", "DOWN"),
        ("2027-01-15T01:00:00Z", "batch", "OPERATIONAL"),
    ];
    for (t, n, s) in steps {
        clock.set(at(t));
        push(srv, key, n, s).await;
        srv.settle_downtimes().await; // the downtime engine sees each step at its own instant
    }
    clock.set(at("2027-01-15T07:30:00Z"));
}

async fn get_ok(srv: &Srv, path: &str, key: &str) -> Value {
    let (c, v) = srv.get(path, key).await;
    assert_eq!(c, 200, "{path}: {v}");
    v
}

#[tokio::test]
async fn every_report_figure_is_the_engines_for_the_same_window() {
    each(async |db| {
        let dir = ScratchDir::new("reports");
        let clock = ManualClock::new(at("2027-01-01T00:00:00Z"));
        let mut cfg = config("rep", &dir.0);
        cfg.report.check_every = Duration::from_secs(3600); // on demand only here
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "admin").await;
        scenario(&srv, &clock, &key).await;
        // the downtime engine and the aggregation have caught up
        eventually("three downtimes", async || {
            let (_, d) = srv.get("/api/v1/downtimes", &key).await;
            let d = d["items"].clone();
            (d.as_array().map(|a| a.len()) == Some(3)).then_some(())
        })
        .await;
        eventually("final days", async || {
            db.store.days_final_until().await.unwrap().filter(|c| *c >= at("2027-01-15T00:00:00Z"))
        })
        .await;
        // a certificate expiring in ten days and one good for a year
        for (name, until) in [("api-tls", "2027-01-25T07:30:00Z"), ("web-tls", "2028-01-01T00:00:00Z")] {
            let (c, v) = srv
                .post(
                    "/api/v1/certificates/report",
                    &key,
                    json!({"nodeId": "acme/p/prod/c1", "namespace": "prod", "name": name, "status": "ready",
                           "dnsNames": [format!("{name}.example.com")], "notAfter": until}),
                )
                .await;
            assert!(c / 100 == 2, "{v}");
        }
        let (c, g) = srv.post("/api/v1/sla/report/generate", &key, json!({"date": "2027-01-14"})).await;
        assert_eq!(c, 200, "{g}");
        assert_eq!(g["date"], "2027-01-14");
        let json_path = g["paths"]["json"].as_str().unwrap().to_string();
        assert!(json_path.ends_with("/acme/2027-01-14.json"), "{json_path}");
        assert!(std::path::Path::new(g["paths"]["pdf"].as_str().unwrap()).exists());
        let doc = get_ok(&srv, "/api/v1/sla/reports/2027-01-14.json", &key).await;
        assert_eq!(doc, serde_json::from_slice::<Value>(&std::fs::read(&json_path).unwrap()).unwrap());
        assert_eq!(doc["schemaVersion"], 1);
        assert_eq!(doc["period"]["day"]["start"], "2027-01-14T00:00:00.000Z");
        let org = &doc["organizations"][0];
        assert_eq!(org["name"], "acme");

        let day = "window=day:2027-01-14";
        let mtd = "window=2027-01-01T00:00:00Z/2027-01-15T00:00:00Z";
        let budget = "window=2026-12-16T00:00:00Z/2027-01-15T00:00:00Z";
        let services = org["services"].as_array().unwrap();
        assert_eq!(services.len(), 4);
        for s in services {
            let id = s["id"].as_i64().unwrap();
            let d = get_ok(&srv, &format!("/api/v1/services/{id}/slo?{day}"), &key).await;
            let m = get_ok(&srv, &format!("/api/v1/services/{id}/slo?{mtd}"), &key).await;
            let b = get_ok(&srv, &format!("/api/v1/services/{id}/slo?{budget}"), &key).await;
            let name = s["name"].as_str().unwrap();
            assert_eq!(s["availability"]["day"], d["availability"], "{name} day");
            assert_eq!(s["availability"]["monthToDate"], m["availability"], "{name} month");
            assert_eq!(s["downtimeMinutes"]["day"].as_f64(), Some(d["badSeconds"].as_f64().unwrap() / 60.0), "{name}");
            assert_eq!(s["downtimeMinutes"]["monthToDate"].as_f64(), Some(m["badSeconds"].as_f64().unwrap() / 60.0));
            assert_eq!(s["errorBudget"]["remainingSeconds"], b["errorBudget"]["remainingSeconds"], "{name} budget");
            assert_eq!(s["conditions"], b["conditions"], "{name} conditions");
            assert_eq!(s["sloTarget"], b["sloTarget"]);
            assert_eq!(s["slaTarget"], b["slaTarget"]);
            // the stored daily result says the same
            let daily = get_ok(&srv, &format!("/api/v1/services/{id}/slo/daily?days=2"), &key).await;
            let p = daily["days"].as_array().unwrap().iter().find(|p| p["day"] == "2027-01-14").unwrap().clone();
            assert_eq!(p["final"], true);
            assert_eq!(s["availability"]["day"], p["availability"], "{name} daily");
        }
        let by_name = |n: &str| services.iter().find(|s| s["name"] == n).unwrap().clone();
        // what the scenario says, in plain numbers
        assert_eq!(by_name("web")["downtimeMinutes"]["day"], 45.0);
        assert_eq!(by_name("batch")["downtimeMinutes"]["day"], 60.0, "the day ends at midnight");
        assert_eq!(by_name("api")["downtimeMinutes"]["monthToDate"], 30.0, "DEGRADED counts as good");
        assert_eq!(by_name("db")["downtimeMinutes"]["monthToDate"], 0.0, "planned work is excluded");
        assert_eq!(by_name("api")["tier"], 1);
        assert_eq!(by_name("batch")["tier"], 4);

        // the organization and the group
        let o_day = get_ok(&srv, &format!("/api/v1/organizations/acme/slo?{day}"), &key).await;
        let o_mtd = get_ok(&srv, &format!("/api/v1/organizations/acme/slo?{mtd}"), &key).await;
        assert_eq!(org["overall"]["availability"]["day"], o_day["availability"]);
        assert_eq!(org["overall"]["availability"]["monthToDate"], o_mtd["availability"]);
        assert_eq!(org["overall"]["slaTarget"], o_day["slaTarget"]);
        let grp = &org["slaGroups"][0];
        assert_eq!(grp["name"], "pay");
        assert_eq!(grp["members"].as_array().unwrap().len(), 2);
        let g_day = get_ok(&srv, &format!("/api/v1/sla-groups/pay/slo?{day}"), &key).await;
        let g_mtd = get_ok(&srv, &format!("/api/v1/sla-groups/pay/slo?{mtd}"), &key).await;
        assert_eq!(grp["availability"]["day"], g_day["availability"]);
        assert_eq!(grp["availability"]["monthToDate"], g_mtd["availability"]);
        assert_eq!(grp["slaTarget"], g_day["slaTarget"]);
        // the chart: one point per day, each the organization's figure of that day
        let daily = org["dailyAvailability"].as_array().unwrap();
        assert_eq!(daily.len(), 14);
        for p in daily {
            let d = p["date"].as_str().unwrap();
            let o = get_ok(&srv, &format!("/api/v1/organizations/acme/slo?window=day:{d}"), &key).await;
            assert_eq!(p["availability"], o["availability"], "{d}");
        }
        // downtimes of the month with their SLA accounting, and the planned window
        let dts = get_ok(&srv, "/api/v1/downtimes", &key).await;
        let dts = dts["items"].clone();
        let reported = org["downtimes"].as_array().unwrap();
        assert_eq!(reported.len(), 3, "{reported:?}");
        for d in reported {
            let api = dts.as_array().unwrap().iter().find(|x| x["id"] == d["id"]).unwrap();
            assert_eq!(d["countsTowardsSla"], api["countsTowardsSla"]);
            assert_eq!(d["excludedReason"], api["excludedReason"]);
            assert_eq!(d["durationSeconds"].as_f64(), api["durationSeconds"].as_f64());
        }
        assert_eq!(reported[0]["durationSeconds"], 1800);
        let mw = org["maintenanceWindows"].as_array().unwrap();
        assert_eq!(mw.len(), 1);
        assert_eq!(mw[0]["services"], json!(["db"]));
        let certs = org["certificatesExpiring"].as_array().unwrap();
        assert_eq!(certs.len(), 1, "{certs:?}");
        assert_eq!(certs[0]["service"], "prod/api-tls");
        assert_eq!(certs[0]["subject"], "api-tls.example.com");
        assert_eq!(certs[0]["daysRemaining"], 10);

        // the same engine in another time zone: days drawn at Berlin midnight
        let cfg = nines_server::config::SloConfig::load(&db.store).await.unwrap();
        let date = "2027-01-14".parse().unwrap();
        let berlin =
            nines_server::report::build(&db.store, &cfg, "acme", date, "Europe/Berlin", clock.now_ms()).await.unwrap();
        let b = &berlin.organizations[0];
        assert_eq!(rfc3339(berlin.period.day.start), "2027-01-13T23:00:00.000Z");
        let w = "window=2027-01-13T23:00:00Z/2027-01-14T23:00:00Z";
        for s in &b.services {
            let d = get_ok(&srv, &format!("/api/v1/services/{}/slo?{w}", s.id), &key).await;
            assert_eq!(s.availability.day, d["availability"].as_f64(), "{}", s.name);
        }
        let batch = b.services.iter().find(|s| s.name == "batch").unwrap();
        assert_eq!(batch.downtime_minutes.day, 0.0, "23:00Z is midnight in Berlin");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn reports_are_kept_listed_overwritten_and_org_scoped() {
    each(async |db| {
        let dir = ScratchDir::new("reports");
        let clock = ManualClock::new(at("2027-01-15T05:00:00Z"));
        let mut cfg = config("rep", &dir.0);
        cfg.report.check_every = Duration::from_secs(3600);
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "admin").await;
        let other = srv.key("globex", "admin").await;
        let reader = srv.key("acme", "read-only").await;
        push(&srv, &key, "api", "OPERATIONAL").await;
        let (c, v) = srv
            .post(
                "/api/v1/health/report",
                &other,
                json!({"service": "web", "status": "OPERATIONAL", "nodeId": "globex/p/prod/c1"}),
            )
            .await;
        assert_eq!(c / 100, 2, "{v}");
        // bad input names the field; a read-only key may not generate
        let (c, v) = srv.post("/api/v1/sla/report/generate", &key, json!({"date": "14.01.2027"})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("date")), "{v}");
        let (c, v) = srv.post("/api/v1/sla/report/generate", &key, json!({"date": "2027-01-16"})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("date")), "{v}");
        let (c, v) = srv.post("/api/v1/sla/report/generate", &key, json!({"day": "2027-01-14"})).await;
        assert_eq!(c, 422, "{v}");
        let (c, _) = srv.post("/api/v1/sla/report/generate", &reader, json!({})).await;
        assert_eq!(c, 403);
        let (c, v) = srv.post("/api/v1/sla/report/generate", &key, json!({"organization": "globex"})).await;
        assert_eq!(c, 403, "{v}");
        // an empty body: yesterday, as the seed's curl does it
        let (c, g1) = srv.post_raw("/api/v1/sla/report/generate", Some(&key), "", None).await;
        assert_eq!(c, 200, "{g1}");
        assert_eq!(g1["date"], "2027-01-14");
        let first = std::fs::read(g1["paths"]["json"].as_str().unwrap()).unwrap();
        // again: the same paths, the files and the row overwritten
        clock.advance(10 * MIN);
        let (c, g2) = srv.post_raw("/api/v1/sla/report/generate", Some(&key), "", None).await;
        assert_eq!(c, 200);
        assert_eq!(g1["paths"], g2["paths"]);
        let second = std::fs::read(g2["paths"]["json"].as_str().unwrap()).unwrap();
        assert_ne!(first, second, "generatedAt moved");
        let list = get_ok(&srv, "/api/v1/sla/reports", &key).await;
        let list = list["items"].clone();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["generatedAt"], rfc3339(at("2027-01-15T05:10:00Z")));
        // no temp files left behind
        let names: Vec<String> = std::fs::read_dir(dir.0.join("acme"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // downloads: the PDF is a PDF; other organizations see nothing of it
        let resp = srv
            .http
            .get(format!("{}/api/v1/sla/reports/2027-01-14.pdf", srv.base))
            .header("X-API-Key", &reader)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        assert!(resp.bytes().await.unwrap().starts_with(b"%PDF-"));
        let (c, _) = srv.get("/api/v1/sla/reports/2027-01-14.json", &other).await;
        assert_eq!(c, 404);
        let (c, _) = srv.get("/api/v1/sla/reports/2027-01-14.json?organization=acme", &other).await;
        assert_eq!(c, 403);
        assert_eq!(get_ok(&srv, "/api/v1/sla/reports", &other).await["items"], json!([]));
        let (c, v) = srv.get("/api/v1/sla/reports/2027-01-14.txt", &key).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("file")));
        let (c, _) = srv.get("/api/v1/sla/reports/2027-01-13.json", &key).await;
        assert_eq!(c, 404);
        srv.stop().await;
    })
    .await;
}

/// A local SLA portal: refuses the first request, then records what it gets.
async fn portal() -> (String, Arc<std::sync::Mutex<Vec<(String, String, usize)>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let got: Arc<std::sync::Mutex<Vec<(String, String, usize)>>> = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/portal",
        axum::routing::post(move |h: HeaderMap, body: axum::body::Bytes| {
            let (g, refused) = (g.clone(), refused.clone());
            async move {
                if !refused.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let hv = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                g.lock().unwrap().push((hv("content-type"), hv("x-nines-report-date"), body.len()));
                StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/portal", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, got)
}

#[tokio::test]
async fn the_daily_run_is_made_once_at_seven_and_pushed_to_the_portal() {
    each(async |db| {
        let dir = ScratchDir::new("reports");
        let (url, got) = portal().await;
        let clock = ManualClock::new(at("2027-01-15T05:00:00Z"));
        let mut replicas = Vec::new();
        for r in ["a", "b"] {
            let store = nines_store::Store::connect(&db.url).await.unwrap();
            let mut cfg = config(r, &dir.0);
            cfg.report.time_zone = "Europe/Berlin".into();
            cfg.report.portal_url = Some(url.clone());
            replicas.push(start_with(store, Arc::new(clock.clone()), cfg).await);
        }
        let key = replicas[0].key("acme", "admin").await;
        push(&replicas[0], &key, "api", "OPERATIONAL").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(db.store.list_reports(None).await.unwrap().is_empty(), "06:00 in Berlin: not yet");
        clock.set(at("2027-01-15T06:00:00Z")); // 07:00 in Berlin
        let row = eventually("the report of yesterday", async || {
            db.store.get_report("acme", "2027-01-14").await.unwrap().filter(|r| r.pushed_at.is_some())
        })
        .await;
        assert_eq!(row.state, "done");
        assert!(["a", "b"].contains(&row.claimed_by.as_str()));
        assert!(std::path::Path::new(row.pdf_path.as_deref().unwrap()).exists());
        // the portal got the JSON and the PDF (after one refusal)
        let seen = got.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("application/json", "2027-01-14"));
        assert_eq!((seen[0].2 as i64, seen[1].2 as i64), (row.json_bytes.unwrap(), row.pdf_bytes.unwrap()));
        assert_eq!(seen[1].0, "application/pdf");
        // later ticks make nothing again
        clock.advance(HOUR);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(db.store.get_report("acme", "2027-01-14").await.unwrap().unwrap().generated_at, row.generated_at);
        assert_eq!(got.lock().unwrap().len(), 2);
        for r in replicas {
            r.stop().await;
        }
        // the claim itself: two replicas due at the same instant make the report once
        let clock = ManualClock::new(at("2027-01-16T07:00:00Z"));
        let rc = ReportConfig { dir: Some(dir.0.clone()), ..ReportConfig::default() };
        let s2 = nines_store::Store::connect(&db.url).await.unwrap();
        let (x, y) = tokio::join!(
            nines_server::report::run_due(&db.store, &rc, &clock, "x"),
            nines_server::report::run_due(&s2, &rc, &clock, "y"),
        );
        assert_eq!(x.unwrap().len() + y.unwrap().len(), 1);
        assert_eq!(nines_server::report::run_due(&db.store, &rc, &clock, "z").await.unwrap().len(), 0);
    })
    .await;
}

#[tokio::test]
async fn retention_removes_old_raw_observations_and_no_figure_moves() {
    each(async |db| {
        let dir = ScratchDir::new("reports");
        let start = at("2026-09-01T00:00:00Z");
        let clock = ManualClock::new(start);
        let mut cfg = config("ret", &dir.0);
        cfg.report.check_every = Duration::from_secs(3600);
        cfg.report.keep_days = 30;
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg.clone()).await;
        let key = srv.key("acme", "admin").await;
        // four months of reports every 12 hours, a DOWN hour every ten days
        let mut id = 0;
        for i in 0..240 {
            clock.set(start + i * 12 * HOUR);
            let s = if i % 20 == 5 { "DOWN" } else { "OPERATIONAL" };
            id = push(&srv, &key, "api", s).await;
            if s == "DOWN" {
                clock.advance(HOUR);
                push(&srv, &key, "api", "OPERATIONAL").await;
            }
        }
        let now = clock.now_ms();
        let cutoff = now - 90 * DAY;
        // an old report, to be removed with its files
        let old = nines_server::report::generate(
            &db.store,
            &ReportConfig { dir: Some(dir.0.clone()), ..ReportConfig::default() },
            "acme",
            "2026-10-01".parse().unwrap(),
            now,
            "t",
        )
        .await
        .unwrap();
        let figures = async |srv: &Srv, key: String| {
            let mut v = Vec::new();
            for w in ["400d", "120d", "30d", "month:2026-09", "month:2026-10", "day:2026-09-03"] {
                let r = get_ok(srv, &format!("/api/v1/services/{id}/slo?window={w}"), &key).await;
                v.push((r["availability"].clone(), r["badSeconds"].clone(), r["errorBudget"].clone()));
                let o = get_ok(srv, &format!("/api/v1/organizations/acme/slo?window={w}"), &key).await;
                v.push((o["availability"].clone(), o["badSeconds"].clone(), json!(null)));
            }
            v.push((get_ok(srv, &format!("/api/v1/services/{id}/slo/daily?days=130"), &key).await, json!(0), json!(0)));
            v
        };
        let before = figures(&srv, key.clone()).await;
        assert!(before[0].1.as_f64().unwrap() >= 12.0 * 3600.0, "{:?}", before[0]);
        assert!(db.store.observations_before(cutoff).await.unwrap() > 50);
        let total_before = db.store.observation_count(id).await.unwrap();
        srv.stop().await;
        // the same database under a server whose hourly job runs now and then
        cfg.report.retention_every = Duration::from_millis(20);
        // audit entries: one past the audit retention, one within it
        let now = nines_core::clock::Clock::now_ms(&clock);
        for (at, path) in [(now - 401 * 24 * HOUR, "/old"), (now - 24 * HOUR, "/recent")] {
            let e = nines_store::audit::AuditEntry {
                id: 0,
                at,
                key_id: "k".into(),
                actor: "someone".into(),
                organization: "acme".into(),
                role: "admin".into(),
                via: "api".into(),
                method: "POST".into(),
                route: path.into(),
                path: path.into(),
                status: 200,
            };
            db.store.audit(&e).await.unwrap();
        }
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "admin").await;
        eventually("the old audit entry pruned", async || {
            let left = db.store.list_audit(Some("acme"), None, 500).await.unwrap();
            (!left.iter().any(|e| e.path == "/old")).then_some(left)
        })
        .await
        .iter()
        .find(|e| e.path == "/recent")
        .expect("a recent entry stays");
        // the hourly job on the leader does it
        eventually("raw observations pruned", async || {
            (db.store.observations_before(cutoff).await.unwrap() == 0).then_some(())
        })
        .await;
        let total_after = db.store.observation_count(id).await.unwrap();
        assert!(total_after < total_before && total_after > 0, "{total_before} -> {total_after}");
        eventually("old report removed", async || db.store.list_reports(None).await.unwrap().is_empty().then_some(()))
            .await;
        assert!(!std::path::Path::new(&old.paths.json).exists());
        assert!(!std::path::Path::new(&old.paths.pdf).exists());
        assert_eq!(figures(&srv, key.clone()).await, before, "no figure moved");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_report_for_a_day_not_over_counts_only_time_that_has_passed() {
    each(async |db| {
        let dir = ScratchDir::new("reports-partial");
        let clock = ManualClock::new(at("2027-03-10T00:00:00Z"));
        let mut cfg = config("rep-partial", &dir.0);
        cfg.report.check_every = Duration::from_secs(3600);
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "web", "OPERATIONAL").await;
        clock.set(at("2027-03-10T03:19:00Z"));
        push(&srv, &key, "web", "DOWN").await;
        clock.advance(2_000);
        push(&srv, &key, "web", "OPERATIONAL").await;
        clock.set(at("2027-03-10T03:20:00Z"));
        let (c, g) = srv.post("/api/v1/sla/report/generate", &key, json!({"date": "2027-03-10"})).await;
        assert_eq!(c, 200, "{g}");
        let doc = get_ok(&srv, "/api/v1/sla/reports/2027-03-10.json", &key).await;
        assert_eq!(doc["period"]["partialUntil"], "2027-03-10T03:20:00.000Z", "{doc}");
        assert_eq!(doc["period"]["day"]["end"], "2027-03-10T03:20:00.000Z");
        let s = doc["organizations"][0]["services"].as_array().unwrap().iter().find(|s| s["id"] == id).unwrap().clone();
        // two seconds down, not the rest of the day
        assert_eq!(s["downtimeMinutes"]["day"].as_f64(), Some(2.0 / 60.0), "{s}");
        // the same window through the SLO API
        let w = "window=2027-03-10T00:00:00Z/2027-03-10T03:20:00Z";
        let d = get_ok(&srv, &format!("/api/v1/services/{id}/slo?{w}"), &key).await;
        assert_eq!(s["availability"]["day"], d["availability"], "{d}");
        assert_eq!(s["downtimeMinutes"]["day"].as_f64(), Some(d["badSeconds"].as_f64().unwrap() / 60.0));
        // a day that has not begun is refused, naming the field
        let (c, e) = srv.post("/api/v1/sla/report/generate", &key, json!({"date": "2027-03-11"})).await;
        assert_eq!(c, 422, "{e}");
        srv.stop().await;
    })
    .await;
}
