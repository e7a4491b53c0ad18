//! Observability accounting against a real VictoriaMetrics and VictoriaLogs:
//! 31 days of series and logs with past timestamps, figures checked exactly
//! against what was ingested, on both store backends; an outage is a gap,
//! never zeros; late logs are absorbed; the cluster query path against a
//! request-recording double; bad settings refused.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/victoria.rs"]
mod victoria;

use axum::Router;
use axum::extract::Path;
use axum::routing::post;
use common::*;
use nines_core::clock::ManualClock;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const HOUR: i64 = 3_600_000;
const SLOT: i64 = 300_000;
const DAY: i64 = 86_400_000;
const LOG_LABEL: &str = "organizations.polycrate.io/name";
/// umbrella's label values: they need quoting in LogsQL and in JSON.
const UMBRELLA_LOGS: &str = "um\"brel la'x/ü";
const UMBRELLA_METRICS: &str = "umb \"rella\"";

fn iso(ms: i64) -> String {
    nines_core::clock::rfc3339(ms)
}

/// "Now" for the server: hours behind the real clock (so the backends hold
/// everything, and the outage test's later "now" is still past for them),
/// 20 minutes into an hour.
fn test_now() -> i64 {
    let real = nines_server::SystemClock;
    let real = nines_core::clock::Clock::now_ms(&real);
    (real / HOUR) * HOUR - 4 * HOUR + 20 * 60_000
}

/// What was sent to the backends, to recompute every figure by hand.
struct Data {
    /// (label value, time, message)
    logs: Vec<(String, i64, String)>,
    /// label value → sample times of each of its series
    series: HashMap<String, Vec<Vec<i64>>>,
}

impl Data {
    fn lines(&self, value: &str, from: i64, to: i64) -> (i64, i64) {
        let it = self.logs.iter().filter(|(v, t, _)| v == value && *t >= from && *t < to);
        it.fold((0, 0), |(n, b), (_, _, m)| (n + 1, b + m.len() as i64))
    }

    /// Series of `value` with a sample in (t - 1h, t].
    fn active(&self, value: &str, t: i64) -> i64 {
        let Some(all) = self.series.get(value) else { return 0 };
        all.iter().filter(|s| s.iter().any(|x| *x > t - HOUR && *x <= t)).count() as i64
    }

    /// The average active series over the slots of [from, to).
    fn avg(&self, value: &str, from: i64, to: i64) -> f64 {
        let slots: Vec<i64> = (0..).map(|i| from + i * SLOT).take_while(|t| *t < to).collect();
        slots.iter().map(|t| self.active(value, *t)).sum::<i64>() as f64 / slots.len() as f64
    }
}

/// 31 days of data for acme, globex and umbrella (initech has none).
fn generate(now: i64) -> Data {
    let start = (now / SLOT) * SLOT - 31 * DAY;
    // samples a minute past each slot: never on a window's edge
    let every_slot =
        |from: i64| -> Vec<i64> { (0..).map(|i| from + 60_000 + i * SLOT).take_while(|t| *t < now).collect() };
    let mut series = HashMap::new();
    series.insert("acme".to_string(), vec![every_slot(start), every_slot(start), every_slot(start)]);
    // globex: two series all along, a third for the last two days, a fourth
    // that stopped 10 days ago
    let stopped: Vec<i64> = every_slot(start).into_iter().filter(|t| *t < now - 10 * DAY).collect();
    series.insert(
        "globex".to_string(),
        vec![every_slot(start), every_slot(start), every_slot((now / SLOT) * SLOT - 2 * DAY), stopped],
    );
    // umbrella: one series every hour (each slot still sees one in its hour)
    let hourly: Vec<i64> = (0..).map(|i| start + 90_000 + i * HOUR).take_while(|t| *t < now).collect();
    series.insert(UMBRELLA_METRICS.to_string(), vec![hourly]);
    // an organization nines does not know: ignored
    series.insert("stranger".to_string(), vec![every_slot(start)]);

    let mut logs = Vec::new();
    let h0 = (now / HOUR) * HOUR;
    for k in 0..(31 * 24) {
        let hour = h0 - k * HOUR;
        // acme: a line in every 3rd hour, two in every 5th, one multibyte
        if k % 3 == 0 {
            logs.push(("acme".to_string(), hour + 7 * 60_000, format!("acme line {k}")));
        }
        if k % 5 == 0 {
            logs.push(("acme".to_string(), hour + 59 * 60_000, format!("grüße {k}")));
            logs.push(("acme".to_string(), hour + 30 * 60_000, "x".repeat(100 + k as usize)));
        }
        if k % 7 == 1 {
            logs.push(("globex".to_string(), hour + 1_000, format!("globex {k}")));
        }
        if k % 48 == 2 {
            logs.push((UMBRELLA_LOGS.to_string(), hour + 20 * 60_000, format!("umbrella {k}")));
        }
        if k % 11 == 0 {
            logs.push(("stranger".to_string(), hour + 5_000, "not ours".into()));
        }
    }
    Data { logs, series }
}

async fn ingest(vm: &victoria::Proc, vl: &victoria::Proc, d: &Data) {
    let mut lines = Vec::new();
    for (value, all) in &d.series {
        for (i, s) in all.iter().enumerate() {
            lines.push(json!({
                "metric": {"__name__": format!("up_{i}"), "customer": value, "job": "app"},
                "values": vec![1; s.len()],
                "timestamps": s,
            }));
        }
    }
    victoria::vm_import(vm, &lines).await;
    let mut logs: Vec<Value> =
        d.logs.iter().map(|(v, t, m)| json!({"_time": iso(*t), "_msg": m, LOG_LABEL: v, "app": "web"})).collect();
    // a line without the label counts for nobody
    logs.push(json!({"_time": iso(d.logs[0].1), "_msg": "no label", "app": "web"}));
    victoria::vl_ingest(vl, &logs).await;
}

async fn configure(srv: &Srv, vm: &str, vl: &str) {
    for (k, v) in [
        ("VICTORIAMETRICS_URL", json!(vm)),
        ("VICTORIAMETRICS_IS_CLUSTER", json!(false)),
        ("VICTORIALOGS_URL", json!(vl)),
    ] {
        let (c, b) = srv.put(&format!("/api/v1/system-config/{k}"), &srv.admin, json!({"value": v})).await;
        assert_eq!(c, 200, "{k}: {b}");
    }
}

async fn organizations(srv: &Srv) {
    let op = srv.key("acme", "operator").await;
    for org in ["acme", "globex", "initech"] {
        let k = if org == "acme" { op.clone() } else { srv.key(org, "operator").await };
        let (c, b) = srv
            .post(
                "/api/v1/health/report",
                &k,
                json!({"service": "web", "status": "OPERATIONAL", "nodeId": format!("{org}/p/prod/c1")}),
            )
            .await;
        assert!(c == 200 || c == 201, "{b}");
    }
    let (c, b) = srv
        .put(
            "/api/v1/organizations/umbrella/observability/labels",
            &srv.admin,
            json!({"logs": UMBRELLA_LOGS, "metrics": UMBRELLA_METRICS}),
        )
        .await;
    assert_eq!(c, 200, "{b}");
    assert_eq!(b["logs"], UMBRELLA_LOGS);
}

/// Runs until both backends have nothing left to fill (at most 8 queries
/// each per run, whatever the number of organizations); returns the runs.
async fn fill(srv: &Srv) -> Vec<Value> {
    let mut runs = Vec::new();
    for _ in 0..8 {
        let r = refresh(srv).await;
        assert_eq!(r["metrics"]["error"], Value::Null, "{r}");
        assert_eq!(r["logs"]["error"], Value::Null, "{r}");
        for b in ["metrics", "logs"] {
            assert!(r[b]["queries"].as_i64().unwrap() <= 8, "a bounded run: {r}");
        }
        // done once only the recent hours are asked again
        let done = r["metrics"]["queries"].as_i64().unwrap() <= 1 && r["logs"]["queries"] == 1;
        runs.push(r);
        if done {
            return runs;
        }
    }
    panic!("not filled after 8 runs: {runs:?}");
}

async fn refresh(srv: &Srv) -> Value {
    let (c, b) = srv.post("/api/v1/observability/refresh", &srv.admin, json!({})).await;
    assert_eq!(c, 200, "{b}");
    b
}

/// Every figure of `org` equals the hand count over the ingested data.
fn check_org(d: &Data, v: &Value, logs_value: &str, metrics_value: &str, now: i64) {
    let h0 = (now / HOUR) * HOUR;
    let org = v["organization"].as_str().unwrap().to_string();
    for (w, from) in [("1h", h0 - HOUR), ("24h", h0 - 24 * HOUR), ("30d", h0 - 720 * HOUR)] {
        let (n, b) = d.lines(logs_value, from, h0);
        assert_eq!(v["logs"]["lines"][w], json!(n), "{org} lines {w}: {v}");
        assert_eq!(v["logs"]["bytes"][w], json!(b), "{org} bytes {w}: {v}");
        let avg = d.avg(metrics_value, from, h0);
        let got = v["metrics"]["activeSeries"][format!("avg{w}")].as_f64().unwrap();
        assert!((got - avg).abs() < 1e-9, "{org} avg {w}: {got} != {avg}");
        assert_eq!(v["windows"][w]["from"], json!(iso(from)));
    }
    let newest = (now / SLOT) * SLOT;
    assert_eq!(v["metrics"]["activeSeries"]["current"], json!(d.active(metrics_value, newest)), "{org}");
    assert_eq!(v["metrics"]["activeSeries"]["currentAt"], json!(iso(newest)));
    // the daily series: 30 UTC days, each recomputable
    let daily = v["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    let day0 = ((h0 - 1) / DAY) * DAY - 29 * DAY;
    for (i, p) in daily.iter().enumerate() {
        let day = day0 + i as i64 * DAY;
        let end = (day + DAY).min(h0);
        assert_eq!(p["date"], json!(&iso(day)[..10]));
        assert_eq!(p["logLines"], json!(d.lines(logs_value, day, end).0), "{org} day {i}");
        assert_eq!(p["logBytes"], json!(d.lines(logs_value, day, end).1), "{org} day {i}");
        let avg = d.avg(metrics_value, day, end);
        assert!((p["avgActiveSeries"].as_f64().unwrap() - avg).abs() < 1e-9, "{org} day {i}: {p} != {avg}");
        assert_eq!(p["logsCoverage"], json!(1.0));
        assert_eq!(p["metricsCoverage"], json!(1.0));
    }
}

#[tokio::test]
async fn figures_match_what_was_ingested_on_every_backend() {
    let Some(vm) = victoria::victoria_metrics().await else { return };
    let Some(vl) = victoria::victoria_logs().await else { return };
    let now = test_now();
    let d = generate(now);
    ingest(&vm, &vl, &d).await;
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let clock = ManualClock::new(now);
        let reports = nines_store::testing::ScratchDir::new("obs-reports");
        let mut cfg = fast_config("obs");
        cfg.report.dir = Some(reports.0.clone());
        let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
        organizations(&srv).await;
        // off until configured: no figures, no zeros
        let (c, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!(v["logs"], Value::Null);
        assert_eq!(v["metrics"], Value::Null);
        assert_eq!(v["backends"]["logs"]["enabled"], false);
        configure(&srv, &vm.url, &vl.url).await;

        // the first runs fill 30 days and the current hour so far, newest
        // first: a query per day of slots, a day of log hours per query,
        // at most 8 queries per backend and run
        let runs = fill(&srv).await;
        let slots = 8640 + ((now / SLOT) * SLOT - (now / HOUR) * HOUR) / SLOT + 1;
        let total = |b: &str, f: &str| runs.iter().map(|r| r[b][f].as_i64().unwrap()).sum::<i64>();
        assert_eq!(total("metrics", "intervals"), slots, "{runs:?}");
        assert_eq!(total("metrics", "queries"), (slots + 287) / 288, "{runs:?}");
        // the recent three hours each run, then 717 hours a day at a time
        assert_eq!(total("logs", "intervals"), 3 * runs.len() as i64 + 717, "{runs:?}");
        assert_eq!(runs[0]["metrics"]["queries"], 8, "{runs:?}");
        for (org, lv, mv) in [
            ("acme", "acme", "acme"),
            ("globex", "globex", "globex"),
            ("initech", "initech", "initech"),
            ("umbrella", UMBRELLA_LOGS, UMBRELLA_METRICS),
        ] {
            let (c, v) = srv.get(&format!("/api/v1/organizations/{org}/observability"), &srv.admin).await;
            assert_eq!(c, 200, "{v}");
            check_org(&d, &v, lv, mv, now);
            assert_eq!(v["coverage"]["logs"]["30d"]["ratio"], 1.0, "{v}");
            assert_eq!(v["coverage"]["metrics"]["30d"]["covered"], 8640, "{v}");
            assert_eq!(v["lastError"], Value::Null);
        }
        // an organization without data: zeros, covered
        let (_, v) = srv.get("/api/v1/organizations/initech/observability", &srv.admin).await;
        assert_eq!(v["logs"]["lines"]["30d"], 0);
        assert_eq!(v["metrics"]["activeSeries"]["avg30d"], 0.0);
        // the figures are not trivially zero
        let (_, v) = srv.get("/api/v1/organizations/globex/observability", &srv.admin).await;
        assert!(v["logs"]["lines"]["30d"].as_i64().unwrap() > 50, "{v}");
        assert_eq!(v["metrics"]["activeSeries"]["current"], 3, "{v}");

        // a run right after: nothing new to sample for the metrics, the
        // last three closed hours of logs again; a constant either way
        let r = refresh(&srv).await;
        assert_eq!(r["metrics"]["queries"], 0, "{r}");
        assert_eq!(r["logs"]["queries"], 1, "{r}");
        assert_eq!(r["logs"]["intervals"], 3, "{r}");

        // an organization's key: its own organization only
        let reader = srv.key("acme", "read-only").await;
        let (c, _) = srv.get("/api/v1/organizations/globex/observability", &reader).await;
        assert_eq!(c, 404);
        let (c, v) = srv.get("/api/v1/observability/organizations", &reader).await;
        assert_eq!(c, 200, "{v}");
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{v}");
        assert_eq!(items[0]["organization"], "acme");
        let h0 = (now / HOUR) * HOUR;
        assert_eq!(items[0]["logLines30d"], json!(d.lines("acme", h0 - 720 * HOUR, h0).0));
        let (c, _) = srv.post("/api/v1/observability/refresh", &reader, json!({})).await;
        assert_eq!(c, 403);

        // /metrics: the same figures
        let m = srv.metrics().await;
        let (n, b) = d.lines("acme", h0 - 24 * HOUR, h0);
        assert!(m.contains(&format!("nines_org_log_lines{{organization=\"acme\",window=\"24h\"}} {n}\n")), "{m}");
        assert!(m.contains(&format!("nines_org_log_bytes{{organization=\"acme\",window=\"24h\"}} {b}\n")), "{m}");
        assert!(m.contains("nines_org_active_series{organization=\"globex\",window=\"current\"} 3\n"), "{m}");
        assert!(m.contains("nines_org_active_series{organization=\"initech\",window=\"30d\"} 0\n"), "{m}");
        assert!(!m.contains("stranger"), "{m}");

        // the daily report: the same figures as of the end of its day, in
        // the JSON and in the PDF
        let (c, g) = srv.post("/api/v1/sla/report/generate", &srv.admin, json!({"organization": "acme"})).await;
        assert_eq!(c, 200, "{g}");
        let doc: Value = serde_json::from_slice(&std::fs::read(g["paths"]["json"].as_str().unwrap()).unwrap()).unwrap();
        let day_end = nines_core::clock::parse_rfc3339(doc["period"]["day"]["end"].as_str().unwrap()).unwrap();
        let e = (day_end / HOUR) * HOUR;
        let o = &doc["organizations"][0]["observability"];
        assert_eq!(o["windowsEnd"], json!(iso(e)), "{o}");
        for (w, from) in [("1h", e - HOUR), ("24h", e - 24 * HOUR)] {
            assert_eq!(o["logLines"][w], json!(d.lines("acme", from, e).0), "{o}");
            assert_eq!(o["logBytes"][w], json!(d.lines("acme", from, e).1), "{o}");
        }
        assert_eq!(o["activeSeries"]["avg24h"], 3.0, "{o}");
        let pdf = g["paths"]["pdf"].as_str().unwrap();
        match std::process::Command::new("pdftotext").args(["-layout", pdf, "-"]).output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(text.contains("Observability") && text.contains("Log lines"), "{text}");
                assert!(text.contains("Active series"), "{text}");
            }
            Err(e) if nines_store::testing::require_all() => panic!("NINES_TEST_REQUIRE_ALL=1 but pdftotext: {e}"),
            Err(e) => eprintln!("SKIP the PDF's text: pdftotext ({e}); apt-get install poppler-utils"),
        }
        srv.stop().await;
    }
}

#[tokio::test]
async fn late_logs_are_absorbed_and_an_outage_is_a_gap_not_zeros() {
    let Some(mut vm) = victoria::victoria_metrics().await else { return };
    let Some(mut vl) = victoria::victoria_logs().await else { return };
    let now = test_now();
    let mut d = generate(now);
    ingest(&vm, &vl, &d).await;
    let db = nines_store::testing::sqlite().await;
    let clock = ManualClock::new(now);
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), fast_config("obs-gap")).await;
    organizations(&srv).await;
    configure(&srv, &vm.url, &vl.url).await;
    fill(&srv).await;
    let h0 = (now / HOUR) * HOUR;

    // a line that arrives late for two hours ago is counted by the next run
    let late = ("acme".to_string(), h0 - 2 * HOUR + 33 * 60_000, "late line".to_string());
    victoria::vl_ingest(&vl, &[json!({"_time": iso(late.1), "_msg": late.2, LOG_LABEL: "acme", "app": "web"})]).await;
    d.logs.push(late);
    refresh(&srv).await;
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    check_org(&d, &v, "acme", "acme", now);

    // both backends down for two hours and more
    vm.kill();
    vl.kill();
    let later = now + 130 * 60_000;
    clock.set(later);
    let r = refresh(&srv).await;
    assert!(r["logs"]["error"].as_str().unwrap().contains("VictoriaLogs"), "{r}");
    assert!(r["metrics"]["error"].as_str().unwrap().contains("VictoriaMetrics"), "{r}");
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    // the last closed hour has no data at all: no figure, not zero
    assert_eq!(v["logs"]["lines"]["1h"], Value::Null, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["avg1h"], Value::Null, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["current"], Value::Null, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["currentAt"], json!(iso((now / SLOT) * SLOT)), "{v}");
    assert_eq!(v["coverage"]["logs"]["1h"]["covered"], 0, "{v}");
    assert_eq!(v["coverage"]["logs"]["24h"]["covered"], 22, "{v}");
    // the slots sampled up to the outage, of the hours since
    let covered_24h = v["coverage"]["metrics"]["24h"]["covered"].as_i64().unwrap();
    assert_eq!(covered_24h, 288 - 24 + ((now / SLOT) * SLOT - (now / HOUR) * HOUR) / SLOT + 1, "{v}");
    // the 24h sums cover only the covered hours: exactly those
    let h1 = (later / HOUR) * HOUR;
    let (n, _) = d.lines("acme", h1 - 24 * HOUR, h1 - 2 * HOUR);
    assert_eq!(v["logs"]["lines"]["24h"], json!(n), "{v}");
    assert!(v["lastError"].as_str().unwrap().contains("Victoria"), "{v}");
    assert!(v["backends"]["logs"]["lastError"].as_str().is_some(), "{v}");
    assert_eq!(v["backends"]["logs"]["lastSuccess"], json!(iso(now)), "{v}");
    // /metrics shows no zero for the uncovered window either
    let m = srv.metrics().await;
    assert!(!m.contains("nines_org_log_lines{organization=\"acme\",window=\"1h\"}"), "{m}");

    // back: the gap is filled from what the backends hold
    vm.restart().await;
    vl.restart().await;
    let r = refresh(&srv).await;
    assert_eq!(r["logs"]["error"], Value::Null, "{r}");
    assert_eq!(r["metrics"]["error"], Value::Null, "{r}");
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    check_org(&d, &v, "acme", "acme", later);
    assert_eq!(v["lastError"], Value::Null, "{v}");
    assert_eq!(v["coverage"]["metrics"]["30d"]["ratio"], 1.0, "{v}");
    srv.stop().await;
}

/// One request the double saw: the tenant of its path, its form fields.
type Seen = (String, HashMap<String, String>);

/// A vmselect double: records each query, answers from a script.
#[derive(Clone, Default)]
struct Vmselect {
    seen: Arc<Mutex<Vec<Seen>>>,
    partial: Arc<Mutex<bool>>,
}

#[tokio::test]
async fn cluster_paths_and_partial_answers() {
    let double = Vmselect::default();
    let d2 = double.clone();
    let app = Router::new().route(
        "/select/{tenant}/prometheus/api/v1/query_range",
        post(move |Path(tenant): Path<String>, body: axum::body::Bytes| {
            let d = d2.clone();
            async move {
                let f: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
                d.seen.lock().unwrap().push((tenant, f.clone()));
                let start: i64 = f["start"].parse().unwrap();
                let end: i64 = f["end"].parse().unwrap();
                let values: Vec<Value> =
                    (0..).map(|i| start + i * 300).take_while(|t| *t <= end).map(|t| json!([t, "4"])).collect();
                let partial = *d.partial.lock().unwrap();
                axum::Json(json!({
                    "status": "success", "isPartial": partial,
                    "data": {"resultType": "matrix", "result": [{"metric": {"tenant_org": "acme"}, "values": values}]}
                }))
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let db = nines_store::testing::sqlite().await;
    let now = common::T0 + 7 * 60_000;
    let clock = ManualClock::new(now);
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), fast_config("obs-cluster")).await;
    organizations(&srv).await;
    for (k, v) in [
        ("VICTORIAMETRICS_URL", json!(format!("{url}/"))),
        ("VICTORIAMETRICS_TENANT", json!("12:3")),
        ("VICTORIAMETRICS_ORG_LABEL", json!("tenant_org")),
    ] {
        let (c, b) = srv.put(&format!("/api/v1/system-config/{k}"), &srv.admin, json!({"value": v})).await;
        assert_eq!(c, 200, "{k}: {b}");
    }
    // a partial answer records nothing and says so
    *double.partial.lock().unwrap() = true;
    let r = refresh(&srv).await;
    assert!(r["metrics"]["error"].as_str().unwrap().contains("partial"), "{r}");
    assert_eq!(r["metrics"]["intervals"], 0);
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    assert_eq!(v["metrics"]["activeSeries"]["avg30d"], Value::Null, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["current"], Value::Null, "{v}");
    assert_eq!(v["coverage"]["metrics"]["30d"]["covered"], 0, "{v}");
    // a full answer is taken
    *double.partial.lock().unwrap() = false;
    let r = refresh(&srv).await;
    assert_eq!(r["metrics"]["error"], Value::Null, "{r}");
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    assert_eq!(v["metrics"]["activeSeries"]["avg30d"], 4.0, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["current"], 4, "{v}");
    assert_eq!(v["metrics"]["activeSeries"]["currentAt"], json!(iso((now / SLOT) * SLOT)));
    let seen = double.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (tenant, f) in &seen {
        assert_eq!(tenant, "12:3");
        assert_eq!(f["query"], "count by (tenant_org) (last_over_time({tenant_org!=\"\"}[1h]) keep_metric_names)");
        assert_eq!(f["step"], "300s");
        let (s, e): (i64, i64) = (f["start"].parse().unwrap(), f["end"].parse().unwrap());
        assert!(e >= s && (e - s) / 300 < 288, "at most a day of slots per query: {f:?}");
        assert_eq!(s % 300, 0);
    }
    srv.stop().await;
}

#[tokio::test]
async fn bad_settings_and_overrides_are_refused_with_the_field() {
    let db = nines_store::testing::sqlite().await;
    let (srv, _clock) = start(&db).await;
    for (k, v, why) in [
        ("VICTORIAMETRICS_URL", json!("ftp://vm:8428"), "http"),
        ("VICTORIAMETRICS_URL", json!("http://user:secret@vm:8428"), "credentials"),
        ("VICTORIALOGS_URL", json!("http://vl:9428/?token=secret"), "query"),
        ("VICTORIALOGS_URL", json!("ftp://u:secret@vl"), "http"),
        ("VICTORIALOGS_URL", json!("http://u:secret@vl x"), "credentials"),
        ("OBSERVABILITY_BACKFILL_DAYS", json!(0), "days"),
        ("VICTORIAMETRICS_ORG_LABEL", json!("org-name"), "label name"),
        ("VICTORIAMETRICS_IS_CLUSTER", json!("yes"), "true or false"),
        ("VICTORIAMETRICS_TENANT", json!("a:b"), "accountID"),
        ("VICTORIALOGS_ORG_LABEL", json!(""), "field name"),
    ] {
        let (c, b) = srv.put(&format!("/api/v1/system-config/{k}"), &srv.admin, json!({"value": v})).await;
        assert_eq!(c, 422, "{k}={v}: {b}");
        let text = b.to_string();
        assert!(text.contains(k) && text.contains(why), "{k}: {b}");
        assert!(!text.contains("secret"), "the refused URL's password is not echoed: {b}");
    }
    let (c, b) = srv.get("/api/v1/system-config", &srv.admin).await;
    let b = b["items"].clone();
    assert_eq!(c, 200);
    let entry = |k: &str| b.as_array().unwrap().iter().find(|e| e["key"] == k).cloned().unwrap();
    assert_eq!(entry("VICTORIALOGS_ORG_LABEL")["value"], "organizations.polycrate.io/name", "{b}");
    assert_eq!(entry("VICTORIAMETRICS_ORG_LABEL")["value"], "customer");
    assert_eq!(entry("VICTORIAMETRICS_IS_CLUSTER")["value"], "true");
    assert_eq!(entry("VICTORIAMETRICS_TENANT")["value"], "0");
    assert_eq!(entry("VICTORIAMETRICS_URL")["value"], "");
    for body in [json!({"logs": ""}), json!({"metrics": "a\nb"}), json!({"logs": "x", "colour": 1})] {
        let (c, b) = srv.put("/api/v1/organizations/acme/observability/labels", &srv.admin, body.clone()).await;
        assert_eq!(c, 422, "{body}: {b}");
    }
    let reader = srv.key("acme", "read-only").await;
    let (c, _) = srv.put("/api/v1/organizations/acme/observability/labels", &reader, json!({"logs": "a"})).await;
    assert_eq!(c, 403);
    // an organization's own admin cannot point its figures at another's rows
    let acme_admin = srv.key("acme", "admin").await;
    let (c, b) =
        srv.put("/api/v1/organizations/acme/observability/labels", &acme_admin, json!({"logs": "globex"})).await;
    assert_eq!(c, 403, "{b}");
    // one value names one organization's rows
    let globex = srv.key("globex", "operator").await;
    let (c, b) = srv
        .post(
            "/api/v1/health/report",
            &globex,
            json!({"service": "web", "status": "OPERATIONAL", "nodeId": "globex/p/prod/c1"}),
        )
        .await;
    assert!(c == 200 || c == 201, "{b}");
    let (c, b) =
        srv.put("/api/v1/organizations/acme/observability/labels", &srv.admin, json!({"logs": "globex"})).await;
    assert_eq!((c, b["error"]["code"].as_str()), (409, Some("conflict")), "{b}");
    let (c, _) =
        srv.put("/api/v1/organizations/acme/observability/labels", &srv.admin, json!({"metrics": "acme-m"})).await;
    assert_eq!(c, 200);
    let (c, b) =
        srv.put("/api/v1/organizations/initech/observability/labels", &srv.admin, json!({"metrics": "acme-m"})).await;
    assert_eq!(c, 409, "{b}");
    let (c, _) = srv.get("/api/v1/organizations/nobody/observability", &srv.admin).await;
    assert_eq!(c, 404);
    srv.stop().await;
}

/// The organization page and the SLO overview's organization table, in
/// headless Chromium: the header's 30-day figures, 30 bars per chart, a gap
/// drawn as a gap.
#[tokio::test]
async fn dashboard_shows_the_accounting_in_chromium() {
    let Some(vm) = victoria::victoria_metrics().await else { return };
    let Some(mut vl) = victoria::victoria_logs().await else { return };
    let Some(b) = browser::Browser::start().await else { return };
    let now = test_now();
    let d = generate(now);
    ingest(&vm, &vl, &d).await;
    let db = nines_store::testing::sqlite().await;
    let clock = ManualClock::new(now);
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), fast_config("obs-ui")).await;
    organizations(&srv).await;
    configure(&srv, &vm.url, &vl.url).await;
    fill(&srv).await;
    // VictoriaLogs down for the next day: a day of the chart without data
    vl.kill();
    clock.set(now + 26 * HOUR);
    refresh(&srv).await;
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;

    let reader = srv.key("acme", "read-only").await;
    b.goto(&format!("{}/ui/login", srv.base)).await;
    let k = b.wait_for("input#key").await;
    b.type_into(&k, &reader).await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;
    b.wait_for("ul.tree").await;
    let link = b.wait_for("a.org-link").await;
    b.click(&link).await;
    b.wait_for("#chart-series svg").await;
    assert!(b.current_url().await.ends_with("/ui/organizations/acme"));
    let b = &b;
    let fig = async |name: &str| {
        let el = b.find(&format!("[data-figure={name}]")).await.unwrap();
        b.text(&el).await
    };
    // the 30-day log window lost its newest hours: the API's figure, shown
    assert_eq!(fig("logLines30d").await, v["logs"]["lines"]["30d"].as_i64().unwrap().to_string());
    assert_eq!(fig("avgSeries30d").await, format!("{:.1}", v["metrics"]["activeSeries"]["avg30d"].as_f64().unwrap()));
    let bars = async |id: &str| {
        b.exec(&format!("return [document.querySelectorAll('#{id} rect.bar').length, document.querySelectorAll('#{id} rect.gap').length];"), vec![])
            .await
    };
    let lines = bars("chart-log-lines").await;
    let series = bars("chart-series").await;
    // days whose hours were all missed are gaps, not zero bars
    let gaps = v["daily"].as_array().unwrap().iter().filter(|p| p["logLines"].is_null()).count();
    assert!(gaps >= 1, "{v}");
    assert_eq!(lines, json!([30 - gaps, gaps]), "{v}");
    assert_eq!(series, json!([30, 0]));
    let alert = b.wait_for("p[role=alert]").await;
    // an organization's key is told that accounting fails, not the backend's words
    let said = b.text(&alert).await;
    assert!(said.contains("accounting failing") && !said.contains("Connection refused"), "{said}");
    b.screenshot("observability-organization").await;

    // the SLO overview: the organizations with their 30-day values
    b.goto(&format!("{}/ui/slo", srv.base)).await;
    b.wait_for("#organizations").await;
    let rows = b
        .exec(
            "return Array.from(document.querySelectorAll('h2#organizations + table tbody tr')).map(r => r.innerText);",
            vec![],
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "an organization's key sees its own: {rows:?}");
    let row = rows[0].as_str().unwrap();
    assert!(row.starts_with("acme"), "{row}");
    assert!(row.contains(&v["logs"]["lines"]["30d"].as_i64().unwrap().to_string()), "{row}");
    assert!(row.contains(&format!("{:.1}", v["metrics"]["activeSeries"]["avg30d"].as_f64().unwrap())), "{row}");
    let errs = b.console_errors().await;
    assert!(errs.is_empty(), "{errs:#?}");
    b.screenshot("observability-slo").await;
    srv.stop().await;
}

/// `OBSERVABILITY_BACKFILL_DAYS` shorter than 30 days: hours beyond it are
/// never asked for and stay gaps (a backend that keeps 7 days would answer
/// them with nothing, which would read as zeros).
#[tokio::test]
async fn the_backfill_horizon_leaves_older_hours_as_gaps() {
    let Some(vm) = victoria::victoria_metrics().await else { return };
    let Some(vl) = victoria::victoria_logs().await else { return };
    let now = test_now();
    let d = generate(now);
    ingest(&vm, &vl, &d).await;
    let db = nines_store::testing::sqlite().await;
    let srv = start_with(db.store.clone(), Arc::new(ManualClock::new(now)), fast_config("obs-horizon")).await;
    organizations(&srv).await;
    configure(&srv, &vm.url, &vl.url).await;
    let (c, b) = srv.put("/api/v1/system-config/OBSERVABILITY_BACKFILL_DAYS", &srv.admin, json!({"value": 7})).await;
    assert_eq!(c, 200, "{b}");
    let runs = fill(&srv).await;
    assert_eq!(runs.len(), 2, "a week fits in one run: {runs:?}");
    let (_, v) = srv.get("/api/v1/organizations/acme/observability", &srv.admin).await;
    assert_eq!(v["coverage"]["logs"]["30d"]["covered"], 7 * 24, "{v}");
    assert_eq!(v["coverage"]["metrics"]["30d"]["covered"], 7 * 24 * 12, "{v}");
    let h0 = (now / HOUR) * HOUR;
    // the 30-day sum is the week's, and says it covers a week
    assert_eq!(v["logs"]["lines"]["30d"], json!(d.lines("acme", h0 - 7 * 24 * HOUR, h0).0), "{v}");
    let days = v["daily"].as_array().unwrap();
    let gaps = days.iter().filter(|p| p["logLines"].is_null()).count();
    assert!((22..=23).contains(&gaps), "older days are gaps, not zeros: {gaps}");
    srv.stop().await;
}
