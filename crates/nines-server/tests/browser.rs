//! The dashboard in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), on both backends: signing in with a key, every page
//! rendering without console errors (screenshots saved as artefacts), the
//! tree opened with the keyboard alone, a service going DOWN appearing
//! without a reload, the post-mortem button opening the note editor,
//! signing out; and the public pages showing nothing private.

#[path = "common/browser.rs"]
mod browser;
mod common;

use axum::Router;
use axum::routing::get;
use browser::{Browser, keys};
use common::*;
use nines_server::SystemClock;
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A local HTTP target for a check, so the service page has runs to chart.
async fn target() -> String {
    let app = Router::new().route("/health", get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}/health")
}

struct Seeded {
    key: String,
    api: i64,
    db: i64,
    downtime: i64,
}

async fn push(srv: &Srv, key: &str, body: Value) {
    let (code, v) = srv.post("/api/v1/health/report", key, body).await;
    assert!(code / 100 == 2, "{v}");
}

async fn seed(srv: &Srv) -> Seeded {
    let key = srv.key("acme", "admin").await;
    let other = srv.key("globex", "admin").await;
    let url = target().await;
    let doc = format!(
        "version: \"1\"\nhierarchy: {{organization: acme, platform: shop, environment: prod, cluster: c1}}\nservice: {{name: web-api, criticality: high}}\nchecks:\n  - type: http\n    name: health\n    url: {url}\n    intervalSeconds: 1\n    timeoutSeconds: 0.5\n"
    );
    let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), &doc, None).await;
    assert_eq!(c, 200, "{v}");
    let api = v["items"][0]["id"].as_i64().unwrap();
    push(
        srv,
        &key,
        json!({"service": "orders-db", "status": "OPERATIONAL", "nodeId": "acme/shop/prod/c1", "criticality": "critical", "tags": ["database"]}),
    )
    .await;
    push(srv, &key, json!({"service": "edge-proxy", "status": "DEGRADED", "message": "<b>slow</b> upstream"})).await;
    push(srv, &other, json!({"service": "globex-secret", "status": "OPERATIONAL", "nodeId": "globex/p/prod/c9"})).await;
    let (c, v) = srv
        .post(
            "/api/v1/storage/report",
            &key,
            json!({"service": "orders-db", "nodeId": "acme/shop/prod/c1", "allocatedBytes": 100_000_000_000u64, "usedBytes": 95_000_000_000u64, "storageType": "pvc"}),
        )
        .await;
    assert!(c / 100 == 2, "{v}");
    let (c, v) = srv
        .post(
            "/api/v1/backup/report",
            &key,
            json!({"service": "orders-db", "nodeId": "acme/shop/prod/c1", "status": "success", "sizeBytes": 5_242_880}),
        )
        .await;
    assert!(c / 100 == 2, "{v}");
    let (c, v) = srv
        .post(
            "/api/v1/maintenance",
            &key,
            json!({"title": "Nightly DB upgrade", "cron": "0 2 * * *", "durationMinutes": 30, "nodeIds": ["acme/shop/staging"]}),
        )
        .await;
    assert_eq!(c, 201, "{v}");
    let (_, list) = srv.get("/api/v1/services?nodeId=acme/shop/prod/c1", &key).await;
    let db =
        list["items"].as_array().unwrap().iter().find(|s| s["service"] == "orders-db").unwrap()["id"].as_i64().unwrap();
    let (c, v) = srv.post("/api/v1/downtimes", &key, json!({"title": "Checkout outage", "serviceIds": [db]})).await;
    assert_eq!(c, 201, "{v}");
    let downtime = v["id"].as_i64().unwrap();
    // the check has run a few times
    eventually("check runs", async || {
        let (_, d) = srv.get(&format!("/api/v1/checks/{api}/health"), &key).await;
        (d["recent"].as_array().map(|a| a.len()).unwrap_or(0) >= 2).then_some(())
    })
    .await;
    Seeded { key, api, db, downtime }
}

async fn no_console_errors(b: &Browser, page: &str) {
    let errs = b.console_errors().await;
    assert!(errs.is_empty(), "console errors on {page}: {errs:#?}");
}

/// Tab until the focused element's description contains `want` (at most 60 presses).
async fn tab_to(b: &Browser, want: &str) -> String {
    for _ in 0..60 {
        b.press(&[keys::TAB]).await;
        let f = b.focused().await;
        if f.contains(want) {
            return f;
        }
    }
    panic!("Tab never reached {want:?}");
}

async fn walk(b: &Browser, db: &TestDb) {
    let srv = start_with(db.store.clone(), Arc::new(SystemClock), fast_config("browser")).await;
    let seeded = seed(&srv).await;
    let shot = |name: &str| format!("{}-{name}", db.label);

    // signing in
    b.goto(&format!("{}/ui", srv.base)).await;
    let key_input = b.wait_for("input#key").await;
    assert!(b.current_url().await.contains("/ui/login"), "redirected to the login page");
    no_console_errors(b, "login").await;
    b.screenshot(&shot("login")).await;
    b.type_into(&key_input, "nines_0000000000000000_bad").await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;
    let err = b.wait_for("#login-error").await;
    assert!(b.text(&err).await.contains("not valid"));
    // the refused sign-in answers 401, which the browser logs; nothing else may be there
    let errs = b.console_errors().await;
    assert!(errs.iter().all(|e| e.contains("/ui/login") && e.contains("401")), "{errs:#?}");
    let key_input = b.wait_for("input#key").await;
    b.type_into(&key_input, &seeded.key).await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;
    b.wait_for("ul.tree").await;
    assert!(b.current_url().await.ends_with("/ui"));
    let cookies = b.exec("return document.cookie;", vec![]).await;
    assert!(!cookies.as_str().unwrap_or_default().contains("nines_session"), "the session cookie is HttpOnly");
    no_console_errors(b, "tree").await;

    // the tree: the skip link comes first, then everything by keyboard
    let src = b.source().await;
    assert!(src.contains("missing nodeId"), "the unknown node carries its badge in words");
    assert!(!src.contains("globex"), "another organization's services stay hidden");
    b.exec("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);", vec![]).await;
    b.press(&[keys::TAB]).await;
    assert!(b.focused().await.contains("Skip to content"), "first Tab stop is the skip link: {}", b.focused().await);
    for level in ["shop", "prod", "c1"] {
        let f = tab_to(b, &format!("summary||{}", level_prefix(level))).await;
        assert!(f.starts_with("summary"), "{f}");
        b.press(&[keys::ENTER]).await;
    }
    let open = b.exec("return document.querySelector('details[data-path=\"acme/shop/prod/c1\"]').open;", vec![]).await;
    assert_eq!(open, Value::Bool(true), "Enter opened the cluster");
    let f = tab_to(b, "a||web-api").await;
    assert!(f.starts_with("a|"), "the service link is reachable by Tab: {f}");
    b.screenshot(&shot("tree")).await;

    // a service going DOWN shows up without a reload
    b.exec("window.__sameDocument = 'yes';", vec![]).await;
    b.wait_for("#live-state.st-ok").await;
    let (c, v) = srv
        .post(
            "/api/v1/health/report",
            &seeded.key,
            json!({"service": "orders-db", "status": "DOWN", "nodeId": "acme/shop/prod/c1"}),
        )
        .await;
    assert!(c / 100 == 2, "{v}");
    let sel = format!("[data-live=\"svc:{}\"]", seeded.db);
    eventually("orders-db shown DOWN", async || {
        let el = b.find(&sel).await?;
        b.text(&el).await.contains("DOWN").then_some(())
    })
    .await;
    let counts = b.text(&b.find("[data-live=\"node:acme/shop/prod/c1\"]").await.unwrap()).await;
    assert!(counts.contains("1 down"), "the cluster's counts follow: {counts}");
    assert_eq!(b.exec("return window.__sameDocument;", vec![]).await, json!("yes"), "no reload happened");
    let said = b.text(&b.find("#live").await.unwrap()).await;
    assert!(said.is_empty() || said.contains("orders-db"), "{said}");
    no_console_errors(b, "tree after live update").await;
    b.screenshot(&shot("tree-live-down")).await;

    // every page renders without console errors
    let pages = [
        (format!("/ui/services/{}", seeded.api), "service", "Response time"),
        (format!("/ui/services/{}", seeded.db), "service-storage", "Critical"),
        ("/ui/backups".to_string(), "backups", "orders-db"),
        ("/ui/storage".to_string(), "storage", "Critical"),
        ("/ui/slo".to_string(), "slo", "tracked"),
        ("/ui/slo?sort=name".to_string(), "slo-by-name", "tracked"),
        ("/ui/downtimes".to_string(), "downtimes", "Checkout outage"),
        (format!("/ui/downtimes/{}", seeded.downtime), "downtime", "Create Post-Mortem Note"),
        ("/ui/maintenance".to_string(), "maintenance", "Nightly DB upgrade"),
    ];
    for (path, name, expect) in &pages {
        b.goto(&format!("{}{path}", srv.base)).await;
        b.wait_for("main#main").await;
        let src = b.source().await;
        assert!(src.contains(expect), "{path} shows {expect:?}");
        assert!(!src.contains("<b>slow</b>"), "outside text is escaped on {path}");
        no_console_errors(b, path).await;
        b.screenshot(&shot(name)).await;
    }

    // Create Post-Mortem Note: the note exists at once and its editor opens
    b.goto(&format!("{}/ui/downtimes/{}", srv.base, seeded.downtime)).await;
    let btn = b.wait_for("form.actions button").await;
    b.click(&btn).await;
    let area = b.wait_for("textarea#note-body").await;
    assert!(b.current_url().await.contains("/ui/notes/"));
    let body = b.exec("return document.getElementById('note-body').value;", vec![]).await;
    assert!(body.as_str().unwrap().starts_with("# Post-mortem: Checkout outage"), "{body}");
    b.type_into(&area, "\nRoot cause: a full disk.").await;
    b.click(&b.find("form.editor button").await.unwrap()).await;
    b.wait_for("p.ok").await;
    let body = b.exec("return document.getElementById('note-body').value;", vec![]).await;
    assert!(body.as_str().unwrap().contains("Root cause: a full disk."), "{body}");
    no_console_errors(b, "note").await;
    b.screenshot(&shot("note")).await;

    // signing out ends the session
    b.click(&b.find("header form button").await.unwrap()).await;
    b.wait_for("input#key").await;
    b.goto(&format!("{}/ui/slo", srv.base)).await;
    b.wait_for("input#key").await;
    assert!(b.current_url().await.contains("/ui/login"));
    srv.stop().await;
}

/// Summary text starts with the level word; match on the node's name.
fn level_prefix(name: &str) -> String {
    let level = match name {
        "shop" => "platform",
        "prod" => "environment",
        _ => "cluster",
    };
    format!("{level} {name}")
}

#[tokio::test]
async fn dashboard_end_to_end_in_headless_chromium() {
    let Some(b) = Browser::start().await else { return };
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        walk(&b, &db).await;
    }
    eprintln!("screenshots in {}", b.artefacts.display());
    b.quit().await;
}

/// The public pages (`/`, `/status`) answer 200 and show no private service
/// or node name, in the browser and over plain HTTP.
#[tokio::test]
async fn public_pages_show_nothing_private() {
    let Some(b) = Browser::start().await else { return };
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        public_pages_on(&b, &db).await;
    }
    b.quit().await;
}

async fn public_pages_on(b: &Browser, db: &TestDb) {
    let srv = start_with(db.store.clone(), Arc::new(SystemClock), fast_config("public")).await;
    let key = srv.key("acme", "admin").await;
    push(
        &srv,
        &key,
        json!({"service": "private-ledger", "status": "DOWN", "message": "disk secret-volume-7 failed", "nodeId": "acme/internal-plat/prod/hidden-cluster"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for path in ["/", "/status"] {
        b.goto(&format!("{}{path}", srv.base)).await;
        let src = b.source().await;
        assert!(src.contains("<html") || src.contains("<body"), "{path} loaded in the browser");
        for private in ["private-ledger", "secret-volume-7", "internal-plat", "hidden-cluster"] {
            assert!(!src.contains(private), "{path} leaks {private:?}");
        }
        // and over plain HTTP, whatever the content type
        let r = srv.http.get(format!("{}{path}", srv.base)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path} answers a page, not an error");
        let text = r.text().await.unwrap();
        for private in ["private-ledger", "secret-volume-7", "internal-plat", "hidden-cluster"] {
            assert!(!text.contains(private), "{path} leaks {private:?}");
        }
        b.screenshot(&format!("public-{}", if path == "/" { "root" } else { "status" })).await;
    }
    srv.stop().await;
}
