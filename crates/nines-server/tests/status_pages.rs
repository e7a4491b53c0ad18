//! Status pages per organization, public incident updates and subscribers.
//!
//! On both backends, over HTTP: the page API (bad input named at its field,
//! organizations kept apart, custom domains unique), what each page shows
//! (its organization's public services only, by slug and by `Host`), the
//! status-service JSON per page, badges, updates in the page and its feed,
//! and a webhook subscriber getting each update signed.
//!
//! In headless Chromium with a real SMTP receiver (Mailpit): two
//! organizations' pages, a custom domain mapped to loopback, an email
//! subscription confirmed from the mail's link, an incident with three
//! updates reaching the subscriber and the feed, unsubscribing from the
//! mail's link, and private services never shown.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/victoria.rs"]
mod victoria;

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use browser::{Browser, field_error, reloaded, set_value, submit};
use common::*;
use nines_core::clock::ManualClock;
use nines_core::timeline::StaleRule;
use nines_store::testing::{TestDb, all, sqlite};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DAY: i64 = 86_400_000;
const ACME: &str = "acme/platform/prod/eu-1";
const GLOBEX: &str = "globex/platform/prod/us-1";
/// Names that must never reach a public answer.
const PRIVATE: [&str; 4] = ["ledger-private", "vault-secret", "platform", "eu-1"];

async fn start_pages(db: &TestDb) -> (Srv, ManualClock) {
    let clock = ManualClock::new(T0);
    let mut cfg = fast_config("pages-test");
    cfg.slo_every = Duration::from_secs(3600);
    cfg.stale = StaleRule { unknown_after_ms: 400 * DAY, down_after_ms: 500 * DAY };
    cfg.notify.every = Duration::from_millis(20);
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), cfg).await;
    (srv, clock)
}

async fn send(srv: &Srv, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = srv.http.request(method, format!("{}{path}", srv.base)).header("X-API-Key", key);
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A public GET, optionally with another `Host`: status and body.
async fn public(srv: &Srv, path: &str, host: Option<&str>) -> (u16, String) {
    let mut req = srv.http.get(format!("{}{path}", srv.base));
    if let Some(h) = host {
        req = req.header("Host", h);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn push(srv: &Srv, key: &str, node: &str, name: &str, status: &str) -> i64 {
    let (code, v) = srv
        .post("/api/v1/health/report", key, json!({"service": name, "status": status, "nodeId": node, "message": "m"}))
        .await;
    assert!(code == 200 || code == 201, "{v}");
    v["id"].as_i64().unwrap()
}

struct World {
    acme_admin: String,
    globex_admin: String,
    web: i64,
    api: i64,
    ledger: i64,
    vault: i64,
}

/// acme: `web-frontend` public in its group "shop", `ledger-private` not;
/// globex: `api-gateway` public one by one (its group "Default"),
/// `vault-secret` not.
async fn world(srv: &Srv) -> World {
    let acme_admin = srv.key("acme", "admin").await;
    let globex_admin = srv.key("globex", "admin").await;
    let web = push(srv, &acme_admin, ACME, "web-frontend", "OPERATIONAL").await;
    let ledger = push(srv, &acme_admin, ACME, "ledger-private", "OPERATIONAL").await;
    let api = push(srv, &globex_admin, GLOBEX, "api-gateway", "OPERATIONAL").await;
    let vault = push(srv, &globex_admin, GLOBEX, "vault-secret", "OPERATIONAL").await;
    let (c, v) = srv
        .put(
            "/api/v1/status-page/groups/shop",
            &acme_admin,
            json!({"displayName": "Shop", "services": [{"nodeId": ACME, "service": "web-frontend", "displayName": "Web shop"}]}),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    let (c, v) = srv
        .put(
            &format!("/api/v1/services/{api}/public"),
            &globex_admin,
            json!({"public": true, "displayName": "Public API"}),
        )
        .await;
    assert!(c == 200 || c == 201, "{v}");
    World { acme_admin, globex_admin, web, api, ledger, vault }
}

fn no_private(what: &str, body: &str) {
    for p in PRIVATE {
        assert!(!body.contains(p), "{what} shows {p:?}: {body}");
    }
}

#[tokio::test]
async fn pages_keep_organizations_apart_and_carry_updates_to_feed_and_webhooks() {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, clock) = start_pages(&db).await;
        let w = world(&srv).await;

        // ---- the API: bad input named at its field, nothing written ----
        let put = |key: &str, slug: &str, body: Value| {
            let (srv, key, slug) = (&srv, key.to_string(), slug.to_string());
            async move { send(srv, reqwest::Method::PUT, &format!("/api/v1/status-pages/{slug}"), &key, Some(body)).await }
        };
        for (slug, body, field) in [
            ("Acme", json!({"title": "x"}), "slug"),
            ("acme-status", json!({}), "title"),
            ("acme-status", json!({"title": "x", "logoUrl": "javascript:alert(1)"}), "logoUrl"),
            ("acme-status", json!({"title": "x", "links": [{"title": "Docs", "url": "ftp://x"}]}), "links[0].url"),
            ("acme-status", json!({"title": "x", "customDomain": "localhost"}), "customDomain"),
            (
                "acme-status",
                json!({"title": "x", "groups": [{"organization": "globex", "group": "Default"}]}),
                "groups[0].organization",
            ),
            ("acme-status", json!({"title": "x", "emailChannelId": 999}), "emailChannelId"),
            ("acme-status", json!({"title": "x", "colour": "red"}), "colour"),
        ] {
            let (c, v) = put(&w.acme_admin, slug, body.clone()).await;
            assert!(c == 422 || c == 400, "{body}: {c} {v}");
            assert_eq!(v["error"]["field"], field, "{body}: {v}");
        }
        // an organization's key cannot set the default page or name another organization
        let (c, v) = put(&w.acme_admin, "acme-status", json!({"title": "x", "default": true})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (403, Some("default")), "{v}");
        let (c, v) = put(&w.acme_admin, "acme-status", json!({"title": "x", "organization": "globex"})).await;
        assert_eq!(c, 403, "{v}");
        let (c, v) = send(&srv, reqwest::Method::GET, "/api/v1/status-pages", &w.acme_admin, None).await;
        let v = v["items"].clone();
        assert_eq!(c, 200);
        // only the page nines made for acme; nothing half-written
        let slugs: Vec<&str> = v.as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
        assert_eq!(slugs, ["acme"], "{v}");
        assert_eq!(v[0]["implicit"], true);

        let (c, v) = put(
            &w.acme_admin,
            "acme-status",
            json!({"title": "Acme Status", "description": "Shop and checkout", "customDomain": "Status.Acme.Example",
                   "links": [{"title": "Support", "url": "https://support.acme.example/"}], "footer": "© Acme"}),
        )
        .await;
        assert_eq!(c, 201, "{v}");
        assert_eq!(v["customDomain"], "status.acme.example");
        // the domain is taken: globex gets 409 and is not told whose it is
        let (c, v) =
            put(&w.globex_admin, "globex-status", json!({"title": "G", "customDomain": "status.acme.example"})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (409, Some("customDomain")), "{v}");
        assert!(!v.to_string().contains("acme-status"), "{v}");
        // and cannot take over acme's slug
        let (c, _) = put(&w.globex_admin, "acme-status", json!({"title": "mine"})).await;
        assert_eq!(c, 409);

        // ---- what each page shows ----
        let (c, acme) = public(&srv, "/p/acme-status", None).await;
        assert_eq!(c, 200);
        assert!(
            acme.contains("<h1>Acme Status</h1>") && acme.contains("Web shop") && acme.contains("© Acme"),
            "{acme}"
        );
        assert!(acme.contains(r#"href="https://support.acme.example/""#));
        assert!(!acme.contains("Public API"), "globex's service on acme's page");
        no_private("acme page", &acme);
        // acme has a page now: the one nines made by its name is gone
        assert_eq!(public(&srv, "/p/acme", None).await.0, 404);
        let (c, globex) = public(&srv, "/p/globex", None).await;
        assert_eq!(c, 200);
        assert!(globex.contains("globex status") && globex.contains("Public API") && !globex.contains("Web shop"));
        no_private("globex page", &globex);
        // by Host: the custom domain's root is acme's page, links at the root
        let (c, by_host) = public(&srv, "/", Some("status.acme.example:8443")).await;
        assert_eq!(c, 200);
        assert!(by_host.contains("<h1>Acme Status</h1>") && !by_host.contains("Public API"));
        assert!(by_host.contains(r#"href="/feed.atom""#) && acme.contains(r#"href="/p/acme-status/feed.atom""#));
        // `/` without a default: every public group, each organization's
        // "Default" called by its organization
        let (_, root) = public(&srv, "/", None).await;
        assert!(root.contains("Web shop") && root.contains("Public API") && root.contains(">globex<"), "{root}");
        no_private("root page", &root);
        // the default page takes `/` (a key of every organization)
        let (c, v) = put(&srv.admin, "platform-all", json!({"title": "Everything", "default": true})).await;
        assert_eq!(c, 201, "{v}");
        let (_, root) = public(&srv, "/", None).await;
        assert!(root.contains("<h1>Everything</h1>"));

        // the status-service JSON per page: same shape, the page's services only
        let (_, j) = public(&srv, "/p/acme-status/status", None).await;
        let j: Value = serde_json::from_str(&j).unwrap();
        assert_eq!(j["columnsName"][0], "current");
        assert_eq!(j["blocks"].as_array().unwrap().len(), 1, "{j}");
        assert_eq!(j["blocks"][0]["name"], "Shop");
        assert_eq!(j["blocks"][0]["items"][0]["columns"][0]["id"], format!("current.{}", w.web));
        let (_, j) = public(&srv, "/p/globex/status", None).await;
        assert!(j.contains("Public API") && !j.contains("Web shop"));
        assert_eq!(public(&srv, "/p/acme-status/status/currentState", None).await.1, "ok");
        assert_eq!(public(&srv, &format!("/p/acme-status/status/current.{}", w.api), None).await.0, 404);

        // badges: per service (public only) and per page
        clock.advance(3_600_000);
        let (c, b) = public(&srv, &format!("/badge/service/{}/uptime-24h.svg", w.web), None).await;
        assert_eq!(c, 200);
        assert!(b.contains("uptime 24h: 100 %"), "{b}");
        let (_, b) = public(&srv, &format!("/badge/service/{}/status.svg", w.web), None).await;
        assert!(b.contains("status: operational"), "{b}");
        let (_, b) = public(&srv, &format!("/badge/service/{}/response.svg", w.web), None).await;
        assert!(b.contains("response: no data"), "{b}");
        for id in [w.ledger, w.vault] {
            assert_eq!(public(&srv, &format!("/badge/service/{id}/status.svg"), None).await.0, 404);
        }
        assert_eq!(public(&srv, &format!("/badge/service/{}/uptime-1y.svg", w.web), None).await.0, 404);

        // ---- a webhook subscriber of acme's page ----
        let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let log = got.clone();
        let app = Router::new().route(
            "/hook",
            post(async move |h: HeaderMap, b: Bytes| {
                log.lock().unwrap().push((h, b));
                "ok"
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hook = format!("http://{}/hook", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        let subs = "/api/v1/status-pages/acme-status/subscribers";
        let (c, v) = send(
            &srv,
            reqwest::Method::POST,
            subs,
            &w.acme_admin,
            Some(json!({"type": "webhook", "url": "file:///etc"})),
        )
        .await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("url")), "{v}");
        let (c, v) = send(
            &srv,
            reqwest::Method::POST,
            subs,
            &w.acme_admin,
            Some(json!({"type": "email", "address": "a@acme.example"})),
        )
        .await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("type")), "no email channel on the page: {v}");
        let (c, v) =
            send(&srv, reqwest::Method::POST, subs, &w.acme_admin, Some(json!({"type": "webhook", "url": hook}))).await;
        assert_eq!(c, 201, "{v}");
        let secret = v["secret"].as_str().unwrap().to_string();
        // globex cannot see acme's subscribers
        assert_eq!(send(&srv, reqwest::Method::GET, subs, &w.globex_admin, None).await.0, 404);

        // ---- an incident with updates ----
        push(&srv, &w.acme_admin, ACME, "web-frontend", "DOWN").await;
        push(&srv, &w.acme_admin, ACME, "ledger-private", "DOWN").await;
        let (c, d) = srv
            .post(
                "/api/v1/downtimes",
                &w.acme_admin,
                json!({"title": "internal: LB pool drained", "serviceIds": [w.web, w.ledger]}),
            )
            .await;
        assert_eq!(c, 201, "{d}");
        let did = d["id"].as_i64().unwrap();
        let upd = format!("/api/v1/downtimes/{did}/updates");
        for (body, field) in [
            (json!({"message": "x"}), "status"),
            (json!({"status": "fixed", "message": "x"}), "status"),
            (json!({"status": "identified"}), "message"),
            (json!({"status": "identified", "message": "x", "publicTitle": "a".repeat(201)}), "publicTitle"),
        ] {
            let (c, v) = send(&srv, reqwest::Method::POST, &upd, &w.acme_admin, Some(body)).await;
            assert_eq!((c, v["error"]["field"].as_str()), (422, Some(field)), "{v}");
        }
        // another organization's downtime is not there
        assert_eq!(
            send(
                &srv,
                reqwest::Method::POST,
                &upd,
                &w.globex_admin,
                Some(json!({"status": "identified", "message": "x"}))
            )
            .await
            .0,
            404
        );
        let says = [
            ("investigating", "Checkout fails for some customers."),
            ("identified", "A load balancer pool was drained by mistake."),
            ("monitoring", "The pool is back; we are watching."),
        ];
        for (i, (st, msg)) in says.iter().enumerate() {
            clock.advance(60_000);
            let title = (i == 0).then_some("Checkout errors");
            let (c, v) = send(
                &srv,
                reqwest::Method::POST,
                &upd,
                &w.acme_admin,
                Some(json!({"status": st, "message": msg, "publicTitle": title})),
            )
            .await;
            assert_eq!(c, 201, "{v}");
            assert!(!v["author"].as_str().unwrap().is_empty(), "{v}");
        }
        let (_, list) = send(&srv, reqwest::Method::GET, &upd, &w.acme_admin, None).await;
        let list = list["items"].clone();
        assert_eq!(list.as_array().unwrap().len(), 3);

        // the page: the public title and the updates, never the internal title or the private member
        let page = eventually("updates on the page", async || {
            let (_, p) = public(&srv, "/p/acme-status", None).await;
            p.contains("The pool is back").then_some(p)
        })
        .await;
        assert!(page.contains("Checkout errors") && page.contains("Identified") && page.contains("Checkout fails"));
        assert!(!page.contains("LB pool drained"));
        no_private("acme page during the incident", &page);
        // not on globex's page, in its feed or status
        let (_, g) = public(&srv, "/p/globex", None).await;
        assert!(!g.contains("Checkout errors"));
        let (_, gf) = public(&srv, "/p/globex/feed.atom", None).await;
        assert!(!gf.contains("Checkout"));
        // acme's feed: an entry per update, and the incident's
        let (_, feed) = public(&srv, "/p/acme-status/feed.atom", None).await;
        assert_eq!(feed.matches(":update:").count(), 3, "{feed}");
        assert!(feed.contains("<title>Acme Status: incidents</title>") && feed.contains("Monitoring: Checkout errors"));
        no_private("acme feed", &feed);

        // the webhook got each update, signed with the secret it was given
        let hooks = eventually("three webhook posts", async || {
            let g = got.lock().unwrap().clone();
            (g.len() >= 3).then_some(g)
        })
        .await;
        for (i, (h, body)) in hooks.iter().enumerate() {
            let ts: i64 = h["x-nines-timestamp"].to_str().unwrap().parse().unwrap();
            let sig = nines_notify::channel::webhook::sign(secret.as_bytes(), ts, body);
            assert_eq!(h["x-nines-signature"].to_str().unwrap(), sig);
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(v["status"], says[i].0);
            assert_eq!(v["message"], says[i].1);
            assert_eq!(v["title"], "Checkout errors");
            assert_eq!(v["services"], json!(["Web shop"]), "only the page's public names: {v}");
        }
        let (_, v) = send(&srv, reqwest::Method::GET, subs, &w.acme_admin, None).await;
        assert_eq!((v["sent"].as_i64(), v["failed"].as_i64()), (Some(3), Some(0)), "{v}");
        let sid = v["items"][0]["id"].as_i64().unwrap();
        assert_eq!(send(&srv, reqwest::Method::DELETE, &format!("{subs}/{sid}"), &w.acme_admin, None).await.0, 204);
        srv.stop().await;
    }
}

/// The mail's link to `what` (`subscribe/confirm` or `unsubscribe`).
fn link_in(text: &str, what: &str) -> String {
    let at = text.find(&format!("/{what}?")).unwrap_or_else(|| panic!("no {what} link in {text}"));
    let start = text[..at].rfind("http").unwrap();
    text[start..].split_whitespace().next().unwrap().to_string()
}

#[tokio::test]
async fn an_incident_reaches_an_email_subscriber_and_the_feed_in_chromium() {
    let Some(mail) = victoria::mailpit().await else { return };
    let domain = "status.acme.test";
    let Some(b) = Browser::start_with(&[format!("--host-resolver-rules=MAP {domain} 127.0.0.1")]).await else {
        return;
    };
    let db = sqlite().await;
    let (srv, clock) = start_pages(&db).await;
    let w = world(&srv).await;
    let (c, ch) = srv
        .post(
            "/api/v1/notifications/channels",
            &w.acme_admin,
            json!({"name": "status-mail", "config": {"type": "email", "smtpHost": "127.0.0.1", "smtpPort": mail.port2,
                   "tls": "none", "from": "status@acme.example", "to": ["ops@acme.example"]}}),
        )
        .await;
    assert_eq!(c, 201, "{ch}");
    // the page is made in the dashboard, by acme's admin; a bad domain is
    // answered at its field first
    browser::sign_in(&b, &srv.base, &w.acme_admin).await;
    b.goto(&format!("{}/ui/groups", srv.base)).await;
    b.wait_for("#page-new").await;
    set_value(&b, "page-new-slug", "acme-status").await;
    set_value(&b, "page-new-title", "Acme Status").await;
    set_value(&b, "page-new-customDomain", "localhost").await;
    set_value(&b, "page-new-emailChannelId", &ch["id"].to_string()).await;
    set_value(&b, "page-new-footer", "Acme Inc.").await;
    submit(&b, "page-new", None).await;
    assert!(field_error(&b, "page-new-customDomain").await.contains("dot"));
    set_value(&b, "page-new-customDomain", domain).await;
    submit(&b, "page-new", None).await;
    reloaded(&b).await;
    let (c, v) = send(&srv, reqwest::Method::GET, "/api/v1/status-pages/acme-status", &w.acme_admin, None).await;
    assert_eq!(c, 200, "{v}");
    assert_eq!(
        (&v["title"], &v["customDomain"], &v["emailChannelId"], &v["footer"], &v["organization"]),
        (&json!("Acme Status"), &json!(domain), &ch["id"], &json!("Acme Inc."), &json!("acme")),
        "{v}"
    );
    b.screenshot("status-pages-dashboard").await;
    let port = srv.base.rsplit(':').next().unwrap().to_string();
    let by_domain = format!("http://{domain}:{port}");

    // the custom domain, in the browser: acme's page, not globex's
    b.goto(&format!("{by_domain}/")).await;
    b.wait_for("main h1").await;
    assert_eq!(b.text(&b.find("main h1").await.unwrap()).await, "Acme Status");
    let html = b.source().await;
    assert!(html.contains("Web shop") && !html.contains("Public API"));
    no_private("acme page in Chromium", &html);
    b.goto(&format!("{}/p/globex", srv.base)).await;
    let html = b.source().await;
    assert!(html.contains("Public API") && !html.contains("Web shop") && !html.contains("Get incident updates"));
    no_private("globex page in Chromium", &html);

    // subscribe on the page; the mail's link confirms, after a button press
    let reader = "reader@example.org";
    b.goto(&format!("{by_domain}/")).await;
    let field = b.wait_for("#sub-email").await;
    b.type_into(&field, reader).await;
    b.click(&b.find("form.subscribe button").await.unwrap()).await;
    assert_eq!(b.wait_for_text("main h1", "Check your inbox").await, "Check your inbox");
    let confirm = eventually("the confirmation mail", async || {
        let m = victoria::mails_to(&mail, reader).await;
        m.first().cloned()
    })
    .await;
    assert_eq!(confirm.0, "Confirm your subscription to Acme Status");
    let link = link_in(&confirm.1, "subscribe/confirm");
    assert!(link.starts_with(&srv.base), "{link}");
    // a forged token is refused
    b.goto(&format!("{}x", link.trim_end_matches(|c: char| c.is_ascii_hexdigit()))).await;
    assert!(b.source().await.contains("This link is not valid"));
    b.goto(&link).await;
    b.click(&b.wait_for("main form button").await).await;
    assert_eq!(b.wait_for_text("main h1", "You are subscribed").await, "You are subscribed");
    b.screenshot("status-page-subscribed").await;

    // an incident with three updates
    push(&srv, &w.acme_admin, ACME, "web-frontend", "DOWN").await;
    let (c, d) =
        srv.post("/api/v1/downtimes", &w.acme_admin, json!({"title": "internal", "serviceIds": [w.web]})).await;
    assert_eq!(c, 201, "{d}");
    let upd = format!("/api/v1/downtimes/{}/updates", d["id"]);
    let says = [
        ("investigating", "Checkout fails for some customers.", Some("Checkout errors")),
        ("identified", "A load balancer pool was drained.", None),
        ("resolved", "All checkouts work again.", None),
    ];
    for (st, msg, title) in says {
        clock.advance(60_000);
        let (c, v) = send(
            &srv,
            reqwest::Method::POST,
            &upd,
            &w.acme_admin,
            Some(json!({"status": st, "message": msg, "publicTitle": title})),
        )
        .await;
        assert_eq!(c, 201, "{v}");
    }
    let mails = eventually("three update mails", async || {
        let m = victoria::mails_to(&mail, reader).await;
        (m.len() >= 4).then_some(m)
    })
    .await;
    for (i, (st, msg, _)) in says.iter().enumerate() {
        let (subject, text, headers) = &mails[i + 1];
        let word = format!("{}{}", st[..1].to_uppercase(), &st[1..]);
        assert_eq!(subject, &format!("[Acme Status] {word}: Checkout errors"));
        assert!(text.contains(msg) && text.contains("Affected: Web shop"), "{text}");
        no_private("update mail", text);
        let unsub = headers["List-Unsubscribe"][0].as_str().unwrap_or("");
        assert!(unsub.contains("/unsubscribe?s="), "{headers}");
    }
    // the channel's own recipients get its notifications, not the page's updates
    let ops = victoria::mails_to(&mail, "ops@acme.example").await;
    assert!(ops.iter().all(|m| !m.0.contains("[Acme Status]")), "{ops:?}");

    // the page and the feed in the browser
    b.goto(&format!("{by_domain}/")).await;
    let page = eventually("the updates on the page", async || {
        b.goto(&format!("{by_domain}/")).await;
        let s = b.source().await;
        s.contains("All checkouts work again").then_some(s)
    })
    .await;
    assert!(page.contains("Checkout errors") && page.contains("Investigating") && page.contains("Identified"));
    no_private("acme page with updates", &page);
    b.screenshot("status-page-incident").await;
    let (_, feed) = public(&srv, "/feed.atom", Some(domain)).await;
    assert_eq!(feed.matches(":update:").count(), 3, "{feed}");
    assert!(feed.contains("Resolved: Checkout errors"));

    // unsubscribe from the mail's link: the next update does not reach them
    let unsub = link_in(&mails[3].1, "unsubscribe");
    b.goto(&unsub).await;
    b.click(&b.wait_for("main form button").await).await;
    assert_eq!(b.wait_for_text("main h1", "You are unsubscribed").await, "You are unsubscribed");
    let (c, _) = send(
        &srv,
        reqwest::Method::POST,
        &upd,
        &w.acme_admin,
        Some(json!({"status": "resolved", "message": "Postscript."})),
    )
    .await;
    assert_eq!(c, 201);
    srv.settle().await;
    srv.settle().await;
    assert_eq!(victoria::mails_to(&mail, reader).await.len(), 4, "a mail after unsubscribing");
    // the forged link's 404 and the bad domain's 422 were the point
    let errors: Vec<String> = b
        .console_errors()
        .await
        .into_iter()
        .filter(|e| {
            !e.contains("&t=x ")
                && !e.contains(
                    "status-pages/acme-status - Failed to load resource: the server responded with a status of 422",
                )
        })
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    b.quit().await;
    srv.stop().await;
}
