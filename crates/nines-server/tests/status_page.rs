//! The public status page over HTTP, on both backends: the group and
//! public-flag API (contract, bad input naming the field, org scope), the
//! status-service JSON shapes, states following transitions, the 90-day bar
//! against the SLO engine's daily figures, and nothing private in any
//! public answer (HTML, JSON, badges, feed, day and group pages).

mod common;

use common::*;
use nines_core::clock::{ManualClock, rfc3339};
use nines_core::timeline::StaleRule;
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};
use std::sync::Arc;

const DAY: i64 = 86_400_000;
const MIN: i64 = 60_000;
const NODE: &str = "acme/platform-hidden/prod/cluster-hidden-7";

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

/// A server whose services never go stale and whose SLO worker stays out of
/// the way (the tests finalize days by hand).
async fn start_quiet(db: &TestDb) -> (Srv, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut cfg = fast_config("status-page-test");
    cfg.slo_every = std::time::Duration::from_secs(3600);
    cfg.stale = StaleRule { unknown_after_ms: 400 * DAY, down_after_ms: 500 * DAY };
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
    (srv, clock)
}

async fn send(srv: &Srv, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = srv.http.request(method, format!("{}{path}", srv.base));
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn put(srv: &Srv, path: &str, key: &str, body: Value) -> (u16, Value) {
    send(srv, reqwest::Method::PUT, path, Some(key), Some(body)).await
}

/// A public GET: status code, content type and body text.
async fn public(srv: &Srv, path: &str) -> (u16, String, String) {
    let resp = srv.http.get(format!("{}{path}", srv.base)).send().await.unwrap();
    let code = resp.status().as_u16();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (code, ctype, resp.text().await.unwrap())
}

async fn push(srv: &Srv, key: &str, name: &str, status: &str, message: &str) -> i64 {
    let (code, v) = srv
        .post(
            "/api/v1/health/report",
            key,
            json!({"service": name, "status": status, "nodeId": NODE, "message": message}),
        )
        .await;
    assert!(code == 200 || code == 201, "{v}");
    v["id"].as_i64().unwrap()
}

fn main_group() -> Value {
    json!({
        "displayName": "Main group",
        "description": "Main group description",
        "services": [{"nodeId": NODE, "service": "api-internal-name", "displayName": "API k8s", "description": "Kubernetes API"}]
    })
}

/// Poll the public current state until it is `want`.
async fn state_becomes(srv: &Srv, want: &str) {
    eventually(&format!("currentState {want}"), async || {
        let (_, _, t) = public(srv, "/status/currentState").await;
        (t == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn group_api_keeps_the_operator_contract_and_names_bad_fields() {
    each(async |db| {
        let (srv, _clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "api-internal-name", "OPERATIONAL", "fine").await;

        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        assert_eq!(code, 201, "{v}");
        assert_eq!(v["name"], "main");
        assert_eq!(v["displayName"], "Main group");
        assert_eq!(v["services"][0]["serviceId"], id);
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        assert_eq!(code, 200, "replacing is idempotent: {v}");
        // a member may name a service not seen yet
        let mut g = main_group();
        g["services"].as_array_mut().unwrap().push(json!({"nodeId": NODE, "service": "later", "displayName": "Later"}));
        g["position"] = json!(3);
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, g).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["services"][1]["serviceId"], Value::Null);
        assert_eq!(v["position"], 3);

        let bad = |body: Value, field: &str| (body, field.to_string());
        let cases = [
            bad(json!({"services": []}), "displayName"),
            bad(json!({"displayName": "  "}), "displayName"),
            bad(json!({"displayName": "G", "services": [{"service": "a", "displayName": "A"}]}), "services[0].nodeId"),
            bad(json!({"displayName": "G", "services": [{"nodeId": "acme/x", "service": "a", "displayName": "A"}]}), "services[0].nodeId"),
            bad(
                json!({"displayName": "G", "services": [{"nodeId": "other/p/e/c", "service": "a", "displayName": "A"}]}),
                "services[0].nodeId",
            ),
            bad(json!({"displayName": "G", "services": [{"nodeId": NODE, "displayName": "A"}]}), "services[0].service"),
            bad(
                json!({"displayName": "G", "services": [{"nodeId": NODE, "service": "a", "displayName": "A"}, {"nodeId": NODE, "service": "b"}]}),
                "services[1].displayName",
            ),
            bad(
                json!({"displayName": "G", "services": [{"nodeId": NODE, "service": "a", "displayName": "A"}, {"nodeId": NODE, "service": "a", "displayName": "B"}]}),
                "services[1]",
            ),
            bad(json!({"displayName": "G", "position": "first"}), "position"),
        ];
        for (body, field) in cases {
            let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, body.clone()).await;
            assert_eq!(code, 422, "{body} -> {v}");
            assert_eq!(v["error"]["field"], field, "{body} -> {v}");
        }
        let (code, v) = put(&srv, "/api/v1/status-page/groups/bad%20name", &key, main_group()).await;
        assert_eq!((code, v["error"]["field"].clone()), (422, json!("name")), "{v}");
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, json!({"displayName": "G", "colour": "red"})).await;
        assert!((400..500).contains(&code) && v["error"]["message"].as_str().unwrap().contains("colour"), "{v}");
        // nothing half-written: the group is as the last good PUT left it
        let (_, list) = srv.get("/api/v1/status-page/groups", &key).await;
        let list = list["items"].clone();
        let main = list.as_array().unwrap().iter().find(|g| g["name"] == "main").unwrap().clone();
        assert_eq!(main["displayName"], "Main group");
        assert_eq!(main["services"].as_array().unwrap().len(), 2);

        // roles and organizations
        let reader = srv.key("acme", "read-only").await;
        let (code, _) = put(&srv, "/api/v1/status-page/groups/main", &reader, main_group()).await;
        assert_eq!(code, 403);
        let other = srv.key("other", "admin").await;
        let (_, list) = srv.get("/api/v1/status-page/groups", &other).await;
        let list = list["items"].clone();
        assert_eq!(list, json!([]), "another organization sees none of acme's groups");
        let (code, _) = send(&srv, reqwest::Method::DELETE, "/api/v1/status-page/groups/main", Some(&other), None).await;
        assert_eq!(code, 404);
        let (code, v) = put(&srv, &format!("/api/v1/services/{id}/public"), &other, json!({"public": true, "displayName": "X"})).await;
        assert_eq!(code, 404, "another organization's service answers as a missing one: {v}");

        // the public flag
        let (code, v) = put(&srv, &format!("/api/v1/services/{id}/public"), &key, json!({"displayName": "X"})).await;
        assert_eq!((code, v["error"]["field"].clone()), (422, json!("public")), "{v}");
        let (code, v) = put(&srv, &format!("/api/v1/services/{id}/public"), &key, json!({"public": true})).await;
        assert_eq!((code, v["error"]["field"].clone()), (422, json!("displayName")), "no display name configured: {v}");
        let (code, v) = put(&srv, "/api/v1/services/999999/public", &key, json!({"public": true, "displayName": "X"})).await;
        assert_eq!(code, 404, "{v}");
        let (code, v) = put(
            &srv,
            &format!("/api/v1/services/{id}/public"),
            &key,
            json!({"public": true, "displayName": "Public API", "description": "The API"}),
        )
        .await;
        assert_eq!(code, 200, "{v}");
        let (_, list) = srv.get("/api/v1/status-page/groups", &key).await;
        let list = list["items"].clone();
        let def = list.as_array().unwrap().iter().find(|g| g["name"] == "Default").unwrap().clone();
        assert_eq!(def["publicServices"][0]["displayName"], "Public API");
        eventually("the Default block", async || {
            let (_, _, t) = public(&srv, "/status").await;
            let v: Value = serde_json::from_str(&t).ok()?;
            v["blocks"].as_array()?.iter().any(|b| b["name"] == "Default" && b["items"][0]["name"] == "Public API").then_some(())
        })
        .await;

        let (code, _) = send(&srv, reqwest::Method::DELETE, "/api/v1/status-page/groups/main", Some(&key), None).await;
        assert_eq!(code, 204);
        let (code, _) = send(&srv, reqwest::Method::DELETE, "/api/v1/status-page/groups/main", Some(&key), None).await;
        assert_eq!(code, 404);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn json_shapes_follow_the_seed_and_states_follow_transitions() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "api-internal-name", "OPERATIONAL", "fine").await;
        let private = push(&srv, &key, "private-db", "DOWN", "down").await;
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        assert_eq!(code, 201, "{v}");
        // the private service is down, yet the public state is ok
        clock.advance(MIN);
        state_becomes(&srv, "ok").await;
        let (code, ctype, _) = public(&srv, "/status/currentState").await;
        assert_eq!(code, 200);
        assert!(ctype.starts_with("text/plain"), "{ctype}");

        let today = T0 - T0.rem_euclid(DAY);
        let (code, ctype, t) = public(&srv, "/status").await;
        assert_eq!(code, 200);
        assert!(ctype.starts_with("application/json"));
        let v: Value = serde_json::from_str(&t).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&v), ["blocks", "columnsName"]);
        let cols = v["columnsName"].as_array().unwrap();
        assert_eq!(cols.len(), 91);
        assert_eq!(cols[0], "current");
        assert_eq!(cols[1], today, "then the days in ms, newest first");
        assert_eq!(cols[90], today - 89 * DAY);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 1, "{v}");
        assert_eq!(keys(&blocks[0]), ["items", "name"]);
        assert_eq!(blocks[0]["name"], "Main group");
        let item = &blocks[0]["items"][0];
        assert_eq!(keys(item), ["columns", "description", "name"]);
        assert_eq!(item["name"], "API k8s");
        assert_eq!(item["description"], "Kubernetes API");
        let columns = item["columns"].as_array().unwrap();
        assert_eq!(columns.len(), 91);
        assert_eq!(columns[0], json!({"state": "ok", "id": format!("current.{id}")}));
        assert_eq!(columns[1], json!({"state": "ok", "id": format!("{today}.{id}")}));
        assert_eq!(columns[2]["state"], "warning", "a day before the service existed has no data: warning");

        clock.advance(9 * MIN);
        push(&srv, &key, "api-internal-name", "DEGRADED", "slow").await;
        state_becomes(&srv, "warning").await;
        clock.advance(5 * MIN);
        push(&srv, &key, "api-internal-name", "DOWN", "refused").await;
        state_becomes(&srv, "error").await;
        clock.advance(15 * MIN);
        // today has had down time now (the page catches up with the clock)
        eventually("today's column in error", async || {
            let (_, _, t) = public(&srv, "/status").await;
            let v: Value = serde_json::from_str(&t).ok()?;
            let c = &v["blocks"][0]["items"][0]["columns"];
            (c[0]["state"] == "error" && c[1]["state"] == "error").then_some(())
        })
        .await;
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "fine").await;
        state_becomes(&srv, "ok").await;
        clock.advance(5 * MIN);
        let want = json!([
            {"startTime": (T0 + 10 * MIN) / 1000, "stopTime": (T0 + 15 * MIN) / 1000, "state": "warning"},
            {"startTime": (T0 + 15 * MIN) / 1000, "stopTime": (T0 + 30 * MIN) / 1000, "state": "error"},
        ]);
        for col in [format!("current.{id}"), format!("{today}.{id}")] {
            let (code, _, t) = public(&srv, &format!("/status/{col}")).await;
            assert_eq!(code, 200, "{t}");
            assert_eq!(serde_json::from_str::<Value>(&t).unwrap(), want, "{col}");
        }
        let (code, _, t) = public(&srv, &format!("/status/{}.{id}", today - DAY)).await;
        assert_eq!((code, t.as_str()), (200, "[]"), "no incidents the day before");
        for bad in [format!("current.{private}"), format!("{}.{id}", today - 200 * DAY), "nonsense".into()] {
            let (code, _, t) = public(&srv, &format!("/status/{bad}")).await;
            assert_eq!(code, 404, "{bad}: {t}");
        }
        // the day page shows them as one incident (degraded, then down: one
        // span, at its worst), by the public name
        let day_page = format!("/status-page/day/{}", &rfc3339(today)[..10]);
        let html = eventually("the incident ended on the day page", async || {
            let (code, _, html) = public(&srv, &day_page).await;
            (code == 200 && html.contains(&rfc3339(T0 + 30 * MIN)[..16])).then_some(html)
        })
        .await;
        let body = html.split("<tbody>").nth(1).and_then(|b| b.split("</tbody>").next()).unwrap_or_default();
        assert_eq!(body.matches("<tr>").count(), 1, "{body}");
        assert!(body.contains("API k8s (down)") && body.contains("> Down</span>"), "{body}");
        assert!(body.contains(&rfc3339(T0 + 10 * MIN)[..16]) && body.contains(&rfc3339(T0 + 30 * MIN)[..16]), "{body}");
        let (code, _, _) = public(&srv, "/status-page/day/2001-01-01").await;
        assert_eq!(code, 404);
        srv.stop().await;
    })
    .await;
}

/// `(codes, extra)` of the bar following the service's name on a page.
fn bar_of(html: &str, name: &str) -> (String, String) {
    let at = html.find(&format!(r#"<span class="name">{name}</span>"#)).expect("service on the page");
    let rest = &html[at..];
    let attr = |a: &str| {
        let s = rest.find(&format!(r#"{a}=""#)).unwrap() + a.len() + 2;
        rest[s..s + rest[s..].find('"').unwrap()].to_string()
    };
    (attr("data-d"), attr("data-x"))
}

#[tokio::test]
async fn the_bar_matches_the_slo_engine_daily_figures() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "api-internal-name", "OPERATIONAL", "").await;
        put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        let day0 = T0 - T0.rem_euclid(DAY);
        clock.set(day0 + DAY + 2 * 3_600_000);
        push(&srv, &key, "api-internal-name", "DOWN", "").await;
        clock.advance(61 * MIN);
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "").await;
        clock.set(day0 + 2 * DAY + 5 * 3_600_000);
        push(&srv, &key, "api-internal-name", "DEGRADED", "").await;
        clock.advance(2 * 3_600_000);
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "").await;
        clock.set(day0 + 3 * DAY + 30 * MIN);
        // the first three days become final day results
        assert!(db.store.aggregate(day0 + 3 * DAY + 30 * MIN, 15 * MIN, 100).await.unwrap() >= 3);
        clock.set(day0 + 3 * DAY + 3 * 3_600_000);
        push(&srv, &key, "api-internal-name", "DOWN", "").await;
        clock.advance(30 * MIN);
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "").await;
        clock.advance(MIN);

        let (code, daily) = srv.get(&format!("/api/v1/services/{id}/slo/daily?days=90"), &key).await;
        assert_eq!(code, 200, "{daily}");
        let days = daily["days"].as_array().unwrap();
        assert_eq!(days.len(), 90);
        let code_of = |s: &str| match s {
            "OPERATIONAL" => 'o',
            "DEGRADED" => 'w',
            "DOWN" => 'e',
            _ => 'n',
        };
        let want: String = days.iter().map(|d| code_of(d["status"].as_str().unwrap())).collect();
        assert!(want.ends_with("noewe"), "the fixture: no data, created, down, degraded, down today: {want}");
        let pct = |v: f64| if v >= 100.0 { "100 %".to_string() } else { format!("{:.2} %", (v * 100.0).floor() / 100.0) };
        let want_x: Vec<String> = days
            .iter()
            .enumerate()
            .filter(|(_, d)| d["status"] == "DOWN")
            .map(|(k, d)| format!("{k}={} uptime", pct(d["availability"].as_f64().unwrap())))
            .collect();
        let (good, bad) = days.iter().fold((0.0, 0.0), |(g, b), d| {
            (g + d["goodSeconds"].as_f64().unwrap(), b + d["badSeconds"].as_f64().unwrap())
        });
        let html = eventually("the page after the last push", async || {
            let (_, _, html) = public(&srv, "/").await;
            (bar_of(&html, "API k8s").0 == want).then_some(html)
        })
        .await;
        let (codes, extra) = bar_of(&html, "API k8s");
        assert_eq!(codes, want);
        assert_eq!(extra, want_x.join(";"));
        let up = format!(r#"<span class="up">{} since "#, pct(good * 100.0 / (good + bad)));
        assert!(html.contains(&up), "90-day uptime {up}");
        // the JSON columns say the same, newest first
        let (_, _, t) = public(&srv, "/status").await;
        let v: Value = serde_json::from_str(&t).unwrap();
        let states: Vec<String> = v["blocks"][0]["items"][0]["columns"].as_array().unwrap()[1..]
            .iter()
            .rev()
            .map(|c| c["state"].as_str().unwrap().to_string())
            .collect();
        let want_states: Vec<&str> = want
            .chars()
            .map(|c| match c {
                'o' => "ok",
                'e' => "error",
                _ => "warning",
            })
            .collect();
        assert_eq!(states, want_states);
        // and a final day's incidents come from the same timeline
        let (_, _, t) = public(&srv, &format!("/status/{}.{id}", day0 + DAY)).await;
        assert_eq!(
            serde_json::from_str::<Value>(&t).unwrap(),
            json!([{"startTime": (day0 + DAY + 2 * 3_600_000) / 1000, "stopTime": (day0 + DAY + 2 * 3_600_000 + 61 * MIN) / 1000, "state": "error"}])
        );
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn nothing_private_leaks_into_any_public_answer() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        let id = push(&srv, &key, "api-internal-name", "OPERATIONAL", "fine").await;
        let private = push(&srv, &key, "secret-billing-db", "OPERATIONAL", "fine").await;
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        assert_eq!(code, 201, "{v}");
        // both go down together (one downtime with a private member), with messages
        clock.advance(10 * MIN);
        push(&srv, &key, "api-internal-name", "DOWN", "report-message-7f3a connection refused").await;
        push(&srv, &key, "secret-billing-db", "DOWN", "report-message-9c1e disk full").await;
        // a maintenance window over the private service and one over the node
        let (code, v) = srv
            .post(
                "/api/v1/maintenance",
                &key,
                json!({"title": "maint-title-secret", "description": "maint-desc-secret", "serviceIds": [private],
                       "startsAt": rfc3339(T0 + DAY), "endsAt": rfc3339(T0 + DAY + 3_600_000)}),
            )
            .await;
        assert_eq!(code, 201, "{v}");
        let (code, v) = srv
            .post(
                "/api/v1/maintenance",
                &key,
                json!({"title": "node-maint-secret", "nodeIds": [NODE], "startsAt": rfc3339(T0 + 2 * DAY), "endsAt": rfc3339(T0 + 2 * DAY + 3_600_000)}),
            )
            .await;
        assert_eq!(code, 201, "{v}");
        let feed = eventually("the downtime in the feed", async || {
            let (_, _, t) = public(&srv, "/feed.atom").await;
            t.contains("Ongoing: API k8s").then_some(t)
        })
        .await;
        assert!(feed.starts_with("<?xml") && feed.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"), "{feed}");
        // every link of the feed is absolute: readers do not resolve relative ones
        let hrefs: Vec<&str> = feed.split("href=\"").skip(1).map(|h| h.split('"').next().unwrap()).collect();
        assert!(!hrefs.is_empty() && hrefs.iter().all(|h| h.starts_with("http://") || h.starts_with("https://")), "{hrefs:?}");
        assert!(hrefs.iter().any(|h| h.contains("/status-page/day/")), "{hrefs:?}");
        clock.advance(20 * MIN);
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "report-message-ok-55").await;
        let html = eventually("the page with the past incident", async || {
            let (_, _, t) = public(&srv, "/").await;
            (t.contains("Past incidents") && t.contains("Resolved") && t.contains("Planned maintenance")).then_some(t)
        })
        .await;
        assert!(html.contains("API k8s") && html.contains("Main group") && html.contains("Kubernetes API"));
        let today = &rfc3339(T0)[..10];
        let mut answers = vec![("/".to_string(), html)];
        for path in [
            "/status-page".to_string(),
            "/status".into(),
            "/status/currentState".into(),
            format!("/status/current.{id}"),
            format!("/status-page/day/{today}"),
            format!("/badge/service/{id}.svg"),
            "/feed.atom".into(),
        ] {
            let (code, _, t) = public(&srv, &path).await;
            assert_eq!(code, 200, "{path}: {t}");
            answers.push((path, t));
        }
        let (_, groups) = srv.get("/api/v1/status-page/groups", &key).await;
        let groups = groups["items"].clone();
        let gid = groups[0]["publicId"].as_i64().unwrap();
        for path in [format!("/badge/group/{gid}.svg"), format!("/status-page/group/{gid}"), format!("/status-page/group/{gid}?fragment=1")] {
            let (code, _, t) = public(&srv, &path).await;
            assert_eq!(code, 200, "{path}: {t}");
            answers.push((path, t));
        }
        let secrets = [
            "secret-billing-db",
            "api-internal-name",
            NODE,
            "platform-hidden",
            "cluster-hidden-7",
            "report-message",
            "connection refused",
            "disk full",
            "maint-title-secret",
            "maint-desc-secret",
            "node-maint-secret",
        ];
        for (path, body) in &answers {
            for s in secrets {
                assert!(!body.contains(s), "{path} shows {s:?}:\n{body}");
            }
        }
        let (_, _, badge) = public(&srv, &format!("/badge/service/{id}.svg")).await;
        assert!(badge.starts_with("<svg") && badge.contains("uptime"), "{badge}");
        // a private service has no badge and no column, as if it did not exist
        for path in [format!("/badge/service/{private}.svg"), format!("/status/current.{private}")] {
            let (code, _, _) = public(&srv, &path).await;
            assert_eq!(code, 404, "{path}");
        }
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_page_is_accessible_markup_with_its_assets_compiled_in() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        push(&srv, &key, "api-internal-name", "DOWN", "").await;
        put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        clock.advance(MIN);
        let resp = eventually("the page", async || {
            let r = srv.http.get(format!("{}/", srv.base)).send().await.unwrap();
            // only nines' own script and styles run on the public page
            let csp = r.headers().get("content-security-policy").unwrap().to_str().unwrap().to_string();
            assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
            let etag = r.headers().get("etag").unwrap().to_str().unwrap().to_string();
            let t = r.text().await.unwrap();
            // settled: the downtime engine may still be opening the incident
            let again = srv.http.get(format!("{}/", srv.base)).header("If-None-Match", &etag).send().await.unwrap();
            (t.contains("API k8s") && t.contains("Down: ") && again.status().as_u16() == 304).then_some((etag, t))
        })
        .await;
        let (etag, html) = resp;
        assert!(html.starts_with("<!doctype html><html lang=\"en\">"));
        // state by icon and word, not colour alone; bars focusable with text for screen readers
        assert!(html.contains(r#"<span class="label err"><span aria-hidden="true">✕</span> Down</span>"#), "{html}");
        assert!(html.contains(r#"class="bar" tabindex="0""#));
        assert!(html.contains(r#"<p class="sr">Down: "#), "{html}");
        assert!(html.contains("/status-page/assets/status.js") && html.contains("/status-page/assets/status.css"));
        assert!(!html.contains("http://") || !html.contains("<script src=\"http"), "no CDN");
        let r = srv.http.get(format!("{}/", srv.base)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 304, "unchanged page, same ETag");
        for (path, ctype) in
            [("/status-page/assets/status.css", "text/css"), ("/status-page/assets/status.js", "text/javascript")]
        {
            let (code, c, t) = public(&srv, path).await;
            assert_eq!(code, 200);
            assert!(c.starts_with(ctype), "{c}");
            assert!(t.len() > 500);
        }
        let (_, _, css) = public(&srv, "/status-page/assets/status.css").await;
        assert!(css.contains(".label") && css.contains("border-radius: 0"), "square labels");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn the_first_visitor_after_a_quiet_spell_sees_the_change() {
    each(async |db| {
        let (srv, clock) = start_quiet(db).await;
        let key = srv.key("acme", "admin").await;
        push(&srv, &key, "api-internal-name", "OPERATIONAL", "fine").await;
        let (code, v) = put(&srv, "/api/v1/status-page/groups/main", &key, main_group()).await;
        assert_eq!(code, 201, "{v}");
        state_becomes(&srv, "ok").await;
        // a service younger than the bar says over how long its figure was measured
        clock.advance(MIN);
        let since = format!("100 % since {}", nines_server::web::public::render::short_date(T0));
        eventually("the figure with its start", async || public(&srv, "/").await.2.contains(&since).then_some(()))
            .await;
        // one more look after the page's own pause, so no refresh is under way
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        assert_eq!(public(&srv, "/status/currentState").await.2, "ok");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // the change lands while nobody looks (straight into the store: no
        // API write of the status page that would invalidate its cache)
        let svc = db.store.list_services(&Default::default()).await.unwrap();
        let node = &svc.iter().find(|s| s.view.service == "api-internal-name").unwrap().view.node_id;
        let op = nines_store::HealthOp {
            service: nines_store::NewService {
                organization: "acme".into(),
                node_id: node.clone(),
                name: "api-internal-name".into(),
                kind: "external".into(),
                criticality: nines_core::Criticality::Medium,
                sla_group: None,
                tags: vec![],
                source: nines_core::Source::Push,
                backup_expected: false,
            },
            status: nines_core::Status::Down,
            message: Some("down".into()),
            at: T0 + 1,
            received_at: T0 + 1,
            cause: nines_core::timeline::Cause::Report,
        };
        db.store.ingest_health(&[op], &StaleRule::default(), 0).await.unwrap();
        // a quiet spell longer than the page may serve what it has without looking
        tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
        let (_, _, t) = public(&srv, "/status/currentState").await;
        assert_eq!(t, "error", "the very first request after the quiet spell");
        srv.stop().await;
    })
    .await;
}
