//! Notification channels and routes run from the dashboard, in headless
//! Chromium: a webhook channel pointing at a loopback receiver started
//! here is created, tested (the receiver's answer shown in the page),
//! edited without retyping its secrets (the receiver still sees the token
//! and a valid signature), disabled, routed to, and deleted; refused
//! settings are shown at their field; a read-only key gets no such page.
//! Screenshots at 1400 and 390 px, light and dark, land in the artefacts
//! directory for a reviewer.

#[path = "common/browser.rs"]
mod browser;
mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use browser::{Browser, field_error, reloaded, set_value, sign_in, submit};
use common::*;
use nines_server::SystemClock;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "Bearer s3cret-token-7f3a";
const HMAC_KEY: &str = "hmac-k3y-0c9e";

/// What the receiver saw: one entry per request.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

/// A webhook receiver on a loopback port: 202 with the right token, 401
/// without.
async fn receiver() -> (String, Seen) {
    async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
        let ok = headers.get("authorization").is_some_and(|v| v.as_bytes() == TOKEN.as_bytes());
        seen.0.lock().unwrap().push((headers, body));
        if ok { (StatusCode::ACCEPTED, "queued") } else { (StatusCode::UNAUTHORIZED, "who are you") }
    }
    let seen = Seen::default();
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// The last request carries the token and a signature made with the key.
fn last_is_signed(seen: &Seen) {
    let all = seen.0.lock().unwrap();
    let (h, body) = all.last().expect("the receiver got a request");
    assert_eq!(h.get("authorization").unwrap().to_str().unwrap(), TOKEN);
    let ts = h.get("x-nines-timestamp").expect("timestamp").to_str().unwrap();
    let sig = h.get("x-nines-signature").expect("signature").to_str().unwrap();
    let mut msg = format!("{ts}.").into_bytes();
    msg.extend_from_slice(body);
    assert_eq!(sig, format!("sha256={}", hmac_sha256_hex(HMAC_KEY.as_bytes(), &msg)), "signed with the stored key");
}

async fn open_details(b: &Browser, inside: &str) {
    b.exec(&format!("document.querySelector('#{inside}').closest('details').open = true;"), vec![]).await;
}

/// Screenshots with `at` scrolled to the top of the viewport.
async fn shots(b: &Browser, name: &str, at: &str) {
    for (w, h) in [(1400, 900), (390, 844)] {
        b.set_size(w, h).await;
        for dark in [false, true] {
            b.dark(dark).await;
            b.exec("document.querySelector(arguments[0]).scrollIntoView();", vec![json!(at)]).await;
            b.screenshot(&format!("manage-{name}-{w}-{}", if dark { "dark" } else { "light" })).await;
        }
    }
    // at 390 px no table widens the page
    b.set_size(390, 844).await;
    let wide = b.exec("return document.documentElement.scrollWidth;", vec![]).await.as_i64().unwrap_or(0);
    assert!(wide <= 400, "{name}: the page is {wide} px wide at 390 px");
    b.set_size(1400, 900).await;
    b.dark(false).await;
}

#[tokio::test]
async fn notifications_from_the_dashboard_in_chromium() {
    let Some(b) = Browser::start().await else { return };
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_with(db.store.clone(), Arc::new(SystemClock), fast_config("notify-ui")).await;
        walk(&b, &srv).await;
        srv.stop().await;
    }
    b.quit().await;
}

async fn walk(b: &Browser, srv: &Srv) {
    let base = srv.base.clone();
    let admin = srv.key("acme", "admin").await;
    let reader = srv.key("acme", "read-only").await;
    let (hook, seen) = receiver().await;

    // a read-only key: no nav entry, and the page answers 403
    let r = srv.http.get(format!("{base}/ui/notifications")).header("X-API-Key", &reader).send().await.unwrap();
    assert_eq!(r.status(), 403);
    sign_in(b, &base, &reader).await;
    let nav = b.exec("return document.querySelector('header nav').innerText;", vec![]).await;
    assert!(!nav.as_str().unwrap().contains("Notifications"), "{nav}");
    b.goto(&format!("{base}/ui/notifications")).await;
    let h1 = b.wait_for("h1").await;
    assert!(b.text(&h1).await.contains("403"), "refused to a read-only key");
    assert!(b.find("form.api").await.is_none());
    let errs = b.console_errors().await;
    assert!(errs.iter().all(|e| e.contains("403")), "{errs:#?}");

    sign_in(b, &base, &admin).await;
    let link = b.wait_for("header nav a[href='/ui/notifications']").await;
    b.click(&link).await;
    b.wait_for("#new-channel-form").await;
    assert!(b.find("#channels + .empty").await.is_some(), "no channels yet");

    // the kind chooser starts the settings from that kind's
    b.exec("document.getElementById('new-kind').value = 'slack';", vec![]).await;
    b.click(&b.find("form.kind-choice button").await.unwrap()).await;
    b.wait_for("#new-kind option[value=slack][selected]").await;
    let cfg = b.exec("return document.getElementById('new-channel-form-config').value;", vec![]).await;
    assert!(cfg.as_str().unwrap().contains("\"slack\""), "{cfg}");

    // refused settings: the API's error at the settings field
    set_value(b, "new-channel-form-name", "ops-hook").await;
    set_value(b, "new-channel-form-config", r#"{"type": "webhook", "url": "not a url"}"#).await;
    submit(b, "new-channel-form", None).await;
    let said = field_error(b, "new-channel-form-config").await;
    assert!(said.contains("config.url"), "{said}");
    // JSON that does not parse is caught before sending
    set_value(b, "new-channel-form-config", r#"{"type": "webhook", "#).await;
    submit(b, "new-channel-form", None).await;
    let said = field_error(b, "new-channel-form-config").await;
    assert!(said.contains("JSON"), "{said}");

    // create a webhook with a token header and a signing key
    let config = json!({"type": "webhook", "url": hook, "secret": HMAC_KEY, "headers": {"Authorization": TOKEN}});
    set_value(b, "new-channel-form-config", &config.to_string()).await;
    submit(b, "new-channel-form", None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/notifications/channels", &admin).await;
    let list = list["items"].clone();
    let ch = &list[0];
    assert_eq!(
        (ch["name"].as_str(), ch["type"].as_str(), ch["enabled"].as_bool()),
        (Some("ops-hook"), Some("webhook"), Some(true)),
        "{list}"
    );
    assert_eq!(ch["config"]["headers"]["Authorization"], "<redacted>");
    let id = ch["id"].as_i64().unwrap();
    let page = b.source().await;
    assert!(!page.contains("s3cret") && !page.contains(HMAC_KEY), "no secret is shown back");
    assert!(page.contains("&lt;redacted&gt;"), "the placeholder is");

    // a test message: the receiver's answer in the page
    submit(b, &format!("ch-test-{id}"), None).await;
    let pre = b.wait_for(&format!("#ch-test-{id}-result:not([hidden])")).await;
    let answer = b.text(&pre).await;
    assert!(answer.contains("\"delivered\": true") && answer.contains("202"), "{answer}");
    assert_eq!(seen.0.lock().unwrap().len(), 1);
    last_is_signed(&seen);

    // edit without retyping a secret: rename, shorter timeout
    open_details(b, &format!("ch-{id}")).await;
    let pw = b.exec(&format!("return document.getElementById('ch-{id}-config').value;"), vec![]).await;
    assert!(!pw.as_str().unwrap().contains("s3cret"), "{pw}");
    set_value(b, &format!("ch-{id}-name"), "ops-hook-2").await;
    b.exec(
        &format!(
            "var e = document.getElementById('ch-{id}-config'); var c = JSON.parse(e.value); c.timeoutSeconds = 5; e.value = JSON.stringify(c, null, 2);"
        ),
        vec![],
    )
    .await;
    submit(b, &format!("ch-{id}"), None).await;
    reloaded(b).await;
    let (_, ch) = srv.get(&format!("/api/v1/notifications/channels/{id}"), &admin).await;
    assert_eq!((ch["name"].as_str(), ch["config"]["timeoutSeconds"].as_i64()), (Some("ops-hook-2"), Some(5)), "{ch}");
    let (c, t) = srv.post(&format!("/api/v1/notifications/channels/{id}/test"), &admin, json!({})).await;
    assert_eq!((c, t["delivered"].as_bool(), t["statusCode"].as_i64()), (200, Some(true), Some(202)), "{t}");
    last_is_signed(&seen);
    // a bad edit is refused at the field and changes nothing
    open_details(b, &format!("ch-{id}")).await;
    b.exec(
        &format!(
            "var e = document.getElementById('ch-{id}-config'); var c = JSON.parse(e.value); c.timeoutSeconds = 0; e.value = JSON.stringify(c);"
        ),
        vec![],
    )
    .await;
    submit(b, &format!("ch-{id}"), None).await;
    let said = field_error(b, &format!("ch-{id}-config")).await;
    assert!(said.contains("config.timeoutSeconds"), "{said}");

    // disable, keeping the secrets
    b.goto(&format!("{base}/ui/notifications")).await;
    submit(b, &format!("ch-toggle-{id}"), None).await;
    reloaded(b).await;
    let (_, ch) = srv.get(&format!("/api/v1/notifications/channels/{id}"), &admin).await;
    assert_eq!((ch["enabled"].as_bool(), ch["name"].as_str()), (Some(false), Some("ops-hook-2")), "{ch}");
    let btn = b.wait_for(&format!("#ch-toggle-{id} button")).await;
    assert_eq!(b.text(&btn).await, "Enable");
    let (_, t) = srv.post(&format!("/api/v1/notifications/channels/{id}/test"), &admin, json!({})).await;
    assert_eq!(t["statusCode"], 202, "{t}");
    last_is_signed(&seen);

    // a route to it: an unknown channel is refused at its field first
    set_value(b, "new-route-form-channels", "99999").await;
    submit(b, "new-route-form", None).await;
    let said = field_error(b, "new-route-form-channels").await;
    assert!(said.contains("channels[0]"), "{said}");
    set_value(b, "new-route-form-channels", &id.to_string()).await;
    b.exec("document.getElementById('new-route-form-minCriticality').value = 'high';", vec![]).await;
    set_value(b, "new-route-form-tags", "db").await;
    set_value(b, "new-route-form-events", "downtime_opened, downtime_resolved").await;
    submit(b, "new-route-form", None).await;
    reloaded(b).await;
    let (_, routes) = srv.get("/api/v1/notifications/routes", &admin).await;
    let routes = routes["items"].clone();
    let r = &routes[0];
    assert_eq!(r["channels"], json!([id]), "{routes}");
    assert_eq!((r["minCriticality"].as_str(), r["stop"].as_bool()), (Some("high"), Some(false)), "{routes}");
    assert_eq!(r["events"], json!(["downtime_opened", "downtime_resolved"]));
    let rid = r["id"].as_i64().unwrap();
    let table = b.wait_for("table.routes").await;
    assert!(b.text(&table).await.contains("ops-hook-2"), "the route names its channel");

    // edit the route: all of two tags, any criticality, stop
    open_details(b, &format!("route-{rid}")).await;
    set_value(b, &format!("route-{rid}-tags"), "db, eu").await;
    b.exec(&format!("document.getElementById('route-{rid}-tagMatch').value = 'all';"), vec![]).await;
    b.exec(&format!("document.getElementById('route-{rid}-minCriticality').value = '';"), vec![]).await;
    b.exec(&format!("document.getElementById('route-{rid}-stop').checked = true;"), vec![]).await;
    submit(b, &format!("route-{rid}"), None).await;
    reloaded(b).await;
    let (_, r) = srv.get(&format!("/api/v1/notifications/routes/{rid}"), &admin).await;
    assert_eq!(r["tags"], json!(["db", "eu"]), "{r}");
    assert_eq!((r["tagMatch"].as_str(), r["stop"].as_bool()), (Some("all"), Some(true)), "{r}");
    assert!(r["minCriticality"].is_null(), "{r}");
    let dup = b
        .exec(
            "var seen = {}, dup = []; document.querySelectorAll('[id]').forEach(function (e) { if (seen[e.id]) { dup.push(e.id); } seen[e.id] = 1; }); return dup;",
            vec![],
        )
        .await;
    assert_eq!(dup, json!([]), "every id on the page is unique");
    // the receiver's answer stays in the page for the screenshots
    submit(b, &format!("ch-test-{id}"), None).await;
    b.wait_for(&format!("#ch-test-{id}-result:not([hidden])")).await;
    shots(b, "notifications", "#main").await;
    shots(b, "notifications-routes", "#routes").await;

    // delete the route, then the channel
    submit(b, &format!("route-del-{rid}"), None).await;
    reloaded(b).await;
    let (_, routes) = srv.get("/api/v1/notifications/routes", &admin).await;
    let routes = routes["items"].clone();
    assert_eq!(routes.as_array().unwrap().len(), 0, "{routes}");
    submit(b, &format!("ch-del-{id}"), None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/notifications/channels", &admin).await;
    let list = list["items"].clone();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    assert!(b.find("#channels + .empty").await.is_some());

    // each action in the audit log, made through the dashboard
    let (_, log) = srv.get("/api/v1/audit", &admin).await;
    let items = log["items"].as_array().unwrap();
    let seen_in_log = |method: &str, route: &str, status: i64| {
        items
            .iter()
            .any(|e| e["method"] == method && e["route"] == route && e["status"] == status && e["via"] == "dashboard")
    };
    assert!(seen_in_log("POST", "/api/v1/notifications/channels", 422), "{log}");
    assert!(seen_in_log("POST", "/api/v1/notifications/channels", 201), "{log}");
    assert!(seen_in_log("POST", "/api/v1/notifications/channels/{id}/test", 200), "{log}");
    assert!(seen_in_log("PUT", "/api/v1/notifications/channels/{id}", 200), "{log}");
    assert!(seen_in_log("DELETE", "/api/v1/notifications/channels/{id}", 204), "{log}");
    assert!(seen_in_log("POST", "/api/v1/notifications/routes", 201), "{log}");
    assert!(seen_in_log("PUT", "/api/v1/notifications/routes/{id}", 200), "{log}");
    assert!(seen_in_log("DELETE", "/api/v1/notifications/routes/{id}", 204), "{log}");
    let errs = b.console_errors().await;
    // the refused submits answer 422, which the browser logs; nothing else
    assert!(errs.iter().all(|e| e.contains("422")), "{errs:#?}");
}
