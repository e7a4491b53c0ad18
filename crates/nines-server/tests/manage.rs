//! Running nines from the dashboard, in headless Chromium: each action done
//! through its form and checked through the API; errors shown at the field
//! the API names; buttons only for roles that may use them; every action in
//! the audit log. Screenshots at 1400 and 390 px, light and dark, land in
//! the artefacts directory for a reviewer.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{Browser, field_error, reloaded, set_value, sign_in, submit};
use common::*;
use nines_server::SystemClock;
use serde_json::json;
use std::sync::Arc;

/// Every control of every form on the page has a label, none is taken out
/// of the tab order, and every API form has a submit button (Enter in a
/// field submits it): usable with the keyboard alone.
async fn keyboard_ready(b: &Browser, name: &str) {
    let bad = b
        .exec(
            "var out = []; document.querySelectorAll('form input, form select, form textarea').forEach(function (e) { if (e.type === 'hidden') return; var l = e.id && document.querySelector('label[for=\"' + e.id + '\"]'); if (!l && !e.closest('label') && !e.getAttribute('aria-label')) out.push('unlabelled ' + (e.id || e.name)); if (e.tabIndex < 0) out.push('not tabbable ' + e.id); }); document.querySelectorAll('form.api').forEach(function (f) { if (!f.querySelector('button[type=submit]')) out.push('no submit in ' + f.id); }); var ids = {}; document.querySelectorAll('[id]').forEach(function (e) { if (ids[e.id]) out.push('duplicate id ' + e.id); ids[e.id] = 1; }); return out;",
            vec![],
        )
        .await;
    assert_eq!(bad, json!([]), "{name}");
}

async fn shots(b: &Browser, name: &str) {
    keyboard_ready(b, name).await;
    for (w, h) in [(1400, 900), (390, 844)] {
        b.set_size(w, h).await;
        for dark in [false, true] {
            b.dark(dark).await;
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
async fn actions_from_the_dashboard_in_chromium() {
    let Some(b) = Browser::start().await else { return };
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        let srv = start_with(db.store.clone(), Arc::new(SystemClock), fast_config("manage")).await;
        walk(&b, &srv).await;
        srv.stop().await;
    }
    b.quit().await;
}

async fn walk(b: &Browser, srv: &Srv) {
    let base = srv.base.clone();
    let admin = srv.key("acme", "admin").await;
    let reader = srv.key("acme", "read-only").await;
    let (c, v) = srv
        .post("/api/v1/health/report", &admin, json!({"service": "web", "status": "DOWN", "nodeId": "acme/p/prod/c1"}))
        .await;
    assert!(c == 200 || c == 201, "{v}");
    let sid = v["id"].as_i64().unwrap();
    let (c, d) = srv.post("/api/v1/downtimes", &admin, json!({"title": "web down", "serviceIds": [sid]})).await;
    assert_eq!(c, 201, "{d}");
    let did = d["id"].as_i64().unwrap();

    // a read-only key sees the downtime, and no button to act on it
    sign_in(b, &base, &reader).await;
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    b.wait_for("h1").await;
    assert!(b.find("form.api").await.is_none(), "no action for a read-only key");
    let nav = b.exec("return document.querySelector('header nav').innerText;", vec![]).await;
    assert!(!nav.as_str().unwrap().contains("Admin"), "{nav}");

    sign_in(b, &base, &admin).await;
    finding(b, srv, &base, &admin).await;
    services(b, srv, &base, &admin).await;
    groups(b, srv, &base, &admin).await;
    every_page(b, &base, sid).await;
    // SLO settings and the public flag from the service page
    b.goto(&format!("{base}/ui/services/{sid}")).await;
    b.wait_for("#slo-settings").await;
    set_value(b, "slo-settings-sloTarget", "100.5").await;
    submit(b, "slo-settings", None).await;
    let said = field_error(b, "slo-settings-sloTarget").await;
    assert!(said.contains("sloTarget"), "{said}");
    set_value(b, "slo-settings-sloTarget", "99.95").await;
    set_value(b, "slo-settings-slaTarget", "99.5").await;
    submit(b, "slo-settings", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/services/{sid}/slo"), &admin).await;
    assert_eq!((v["sloTarget"].as_f64(), v["slaTarget"].as_f64()), (Some(99.95), Some(99.5)), "{v}");
    b.exec("document.getElementById('public-public').checked = true;", vec![]).await;
    set_value(b, "public-displayName", "Web shop").await;
    submit(b, "public", None).await;
    reloaded(b).await;
    let (_, v) = srv.get("/api/v1/status-page/groups", &admin).await;
    let v = v["items"].clone();
    assert!(v.to_string().contains("Web shop"), "{v}");
    // the service page links its open downtime
    b.goto(&format!("{base}/ui/services/{sid}")).await;
    let link = b.wait_for(&format!("a[href='/ui/downtimes/{did}']")).await;
    b.click(&link).await;
    b.wait_for("#ack").await;

    // acknowledge
    submit(b, "ack", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/downtimes/{did}"), &admin).await;
    assert_eq!(v["acknowledgedBy"], "admin-key", "{v}");
    assert!(b.find("#ack").await.is_none(), "acknowledged: the button is gone");

    // out of the SLA without a reason: the API's error, at the field
    b.exec("document.getElementById('classify-countsTowardsSla').checked = false;", vec![]).await;
    submit(b, "classify", None).await;
    let said = field_error(b, "classify-excludedReason").await;
    assert!(said.contains("excludedReason"), "{said}");
    // with a reason, and a severity and classification
    set_value(b, "classify-excludedReason", "provider outage, covered by contract").await;
    b.exec("document.getElementById('classify-severity').value = 'minor';", vec![]).await;
    set_value(b, "classify-classification", "provider").await;
    submit(b, "classify", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/downtimes/{did}"), &admin).await;
    let dt = &v;
    assert_eq!((dt["severity"].as_str(), dt["classification"].as_str()), (Some("minor"), Some("provider")), "{v}");
    assert_eq!(dt["countsTowardsSla"], false);
    assert_eq!(dt["excludedReason"], "provider outage, covered by contract");
    shots(b, "downtime").await;

    // resolve by hand
    submit(b, "resolve", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/downtimes/{did}"), &admin).await;
    assert!(v["resolvedAt"].is_string(), "{v}");

    // maintenance: a bad schedule is refused at its field; a preview; create
    b.goto(&format!("{base}/ui/maintenance")).await;
    b.wait_for("#mw-new-form").await;
    set_value(b, "mw-new-form-title", "Sunday patching").await;
    set_value(b, "mw-new-form-serviceIds", &sid.to_string()).await;
    set_value(b, "mw-new-form-cron", "0 25 * * 0").await;
    set_value(b, "mw-new-form-durationMinutes", "60").await;
    set_value(b, "mw-new-form-timeZone", "Europe/Berlin").await;
    submit(b, "mw-new-form", None).await;
    let said = field_error(b, "mw-new-form-cron").await;
    assert!(said.contains("cron"), "{said}");
    set_value(b, "mw-new-form-cron", "0 2 * * 0").await;
    submit(b, "mw-new-form", Some("#mw-new-form button[data-path]")).await;
    let pre = b.wait_for("#mw-new-form-also:not([hidden])").await;
    let preview = b.text(&pre).await;
    // the next 30 days' Sundays at 02:00 in Berlin, each an hour long
    let upcoming: Vec<(String, String)> = serde_json::from_str(&preview).expect("the occurrences as JSON");
    assert!((4..=5).contains(&upcoming.len()), "{preview}");
    for (from, to) in &upcoming {
        let a: jiff::Timestamp = from.parse().unwrap();
        let z: jiff::Timestamp = to.parse().unwrap();
        let local = a.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!((local.weekday(), local.hour(), local.minute()), (jiff::civil::Weekday::Sunday, 2, 0), "{preview}");
        assert_eq!(z.as_millisecond() - a.as_millisecond(), 3_600_000, "{preview}");
    }
    let (_, list) = srv.get("/api/v1/maintenance", &admin).await;
    let list = list["items"].clone();
    assert_eq!(list.as_array().unwrap().len(), 0, "a preview saves nothing");
    submit(b, "mw-new-form", None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/maintenance", &admin).await;
    let list = list["items"].clone();
    let w = &list[0];
    assert_eq!((w["title"].as_str(), w["cron"].as_str()), (Some("Sunday patching"), Some("0 2 * * 0")), "{list}");
    assert_eq!(w["timeZone"], "Europe/Berlin");
    let wid = w["id"].as_i64().unwrap();
    // edit it into a one-off window happening now, then end it early
    let now = nines_core::clock::Clock::now_ms(&SystemClock);
    b.exec(&format!("document.querySelector('#mw-{wid}').closest('details').open = true;"), vec![]).await;
    set_value(b, &format!("mw-{wid}-cron"), "").await;
    set_value(b, &format!("mw-{wid}-durationMinutes"), "").await;
    set_value(b, &format!("mw-{wid}-timeZone"), "").await;
    set_value(b, &format!("mw-{wid}-startsAt"), &nines_core::clock::rfc3339(now - 60_000)).await;
    set_value(b, &format!("mw-{wid}-endsAt"), &nines_core::clock::rfc3339(now + 3_600_000)).await;
    submit(b, &format!("mw-{wid}"), None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/maintenance", &admin).await;
    let list = list["items"].clone();
    assert_eq!(list[0]["active"], true, "{list}");
    b.exec(&format!("document.querySelector('#mw-end-{wid}').closest('details').open = true;"), vec![]).await;
    submit(b, &format!("mw-end-{wid}"), None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/maintenance", &admin).await;
    let list = list["items"].clone();
    assert_eq!(list[0]["active"], false, "ended early: {list}");
    shots(b, "maintenance").await;
    b.exec(&format!("document.querySelector('#mw-del-{wid}').closest('details').open = true;"), vec![]).await;
    submit(b, &format!("mw-del-{wid}"), None).await;
    reloaded(b).await;
    let (_, list) = srv.get("/api/v1/maintenance", &admin).await;
    let list = list["items"].clone();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");

    // API keys: create (the secret shown once, and it works), revoke
    b.goto(&format!("{base}/ui/admin")).await;
    b.wait_for("#new-key").await;
    set_value(b, "new-key-name", "backup-cron").await;
    b.exec("document.getElementById('new-key-role').value = 'agent';", vec![]).await;
    submit(b, "new-key", None).await;
    let pre = b.wait_for("#new-key-result:not([hidden])").await;
    let secret = b.text(&pre).await;
    assert!(secret.starts_with("nines_"), "{secret}");
    let (c, _) = srv
        .post(
            "/api/v1/health/report",
            &secret,
            json!({"service": "cron", "status": "OPERATIONAL", "nodeId": "acme/p/prod/c1"}),
        )
        .await;
    assert!(c == 200 || c == 201, "the new key pushes");
    b.goto(&format!("{base}/ui/admin")).await;
    let (_, keys) = srv.get("/api/v1/apikeys", &admin).await;
    let keys = keys["items"].clone();
    let kid = keys.as_array().unwrap().iter().find(|k| k["name"] == "backup-cron").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    submit(b, &format!("revoke-{kid}"), None).await;
    reloaded(b).await;
    let (c, _) = srv
        .post(
            "/api/v1/health/report",
            &secret,
            json!({"service": "cron", "status": "OPERATIONAL", "nodeId": "acme/p/prod/c1"}),
        )
        .await;
    assert_eq!(c, 401, "revoked");
    // an organization's admin sees no global settings
    assert!(b.find("#settings").await.is_none());
    shots(b, "admin").await;

    // a read-only key's attempt is refused by the role table, and logged
    let (c, _) = srv.post(&format!("/api/v1/downtimes/{did}/acknowledge"), &reader, json!({})).await;
    assert_eq!(c, 403);
    // the audit log: each of these actions, by whom, through the dashboard
    let (_, log) = srv.get("/api/v1/audit", &admin).await;
    let items = log["items"].as_array().unwrap();
    let seen = |method: &str, route: &str, status: i64| {
        items.iter().any(|e| {
            e["method"] == method
                && e["route"] == route
                && e["status"] == status
                && e["via"] == "dashboard"
                && e["actor"] == "admin-key"
        })
    };
    assert!(seen("POST", "/api/v1/downtimes/{id}/acknowledge", 200), "{log}");
    assert!(seen("PATCH", "/api/v1/downtimes/{id}", 422), "a refused action is logged too: {log}");
    assert!(seen("PATCH", "/api/v1/downtimes/{id}", 200), "{log}");
    assert!(seen("POST", "/api/v1/maintenance", 201), "{log}");
    assert!(seen("PUT", "/api/v1/maintenance/{id}", 200), "{log}");
    assert!(seen("POST", "/api/v1/maintenance/{id}/end", 200), "{log}");
    assert!(seen("DELETE", "/api/v1/maintenance/{id}", 204), "{log}");
    assert!(seen("POST", "/api/v1/apikeys", 201), "{log}");
    assert!(seen("DELETE", "/api/v1/apikeys/{id}", 204), "{log}");
    assert!(
        items.iter().any(|e| e["route"] == "/api/v1/downtimes/{id}/acknowledge"
            && e["status"] == 403
            && e["role"] == "read-only"),
        "a refusal by role: {log}"
    );
    // the path keeps its query: which service a delete named
    assert!(
        items.iter().any(|e| e["method"] == "DELETE" && e["path"].as_str().unwrap().contains("service=made-here")),
        "{log}"
    );
    // pushes are telemetry, not actions
    assert!(!items.iter().any(|e| e["route"] == "/api/v1/health/report"), "{log}");
    // the API call made with a key header says so
    assert!(items.iter().any(|e| e["route"] == "/api/v1/downtimes" && e["via"] == "api"), "{log}");
    b.goto(&format!("{base}/ui/admin")).await;
    let audit = b.wait_for("#audit + .table-wrap table").await;
    assert!(b.text(&audit).await.contains("/api/v1/maintenance/"), "the audit log on the page");

    // a cross-site page cannot act: the browser sends no cookie from it
    // (SameSite=Strict); were one sent, another site's Origin is refused,
    // and without the session header the cookie opens nothing on the API
    let cookie = format!("nines_session={}", b.cookie("nines_session").await.expect("signed in"));
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/downtimes/{did}/acknowledge"))
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .header("X-Nines-Session", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a foreign Origin");
    let r = http.get(format!("{base}/api/v1/audit")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 401, "the cookie alone");
    let r = http
        .get(format!("{base}/api/v1/audit"))
        .header("Cookie", &cookie)
        .header("X-Nines-Session", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the cookie with the header, same site (no Origin: not a browser's cross-site call)");
    let errs = b.console_errors().await;
    // the refused submits answer 422 and 409, which the browser logs; nothing else
    assert!(errs.iter().all(|e| e.contains("422") || e.contains("409")), "{errs:#?}");
}

/// Search, "problems only", the tree opened down to trouble, the 24-hour
/// bar; the search form used with the keyboard alone.
async fn finding(b: &Browser, srv: &Srv, base: &str, key: &str) {
    for (name, status, node) in [
        ("db-primary", "DEGRADED", "acme/p/prod/c2"),
        ("db-replica", "OPERATIONAL", "acme/p/prod/c2"),
        ("queue", "OPERATIONAL", "acme/p/stage/c9"),
    ] {
        let (c, v) = srv
            .post(
                "/api/v1/health/report",
                key,
                json!({"service": name, "status": status, "nodeId": node, "message": format!("{name} says hello")}),
            )
            .await;
        assert!(c == 200 || c == 201, "{v}");
    }
    b.goto(&format!("{base}/ui")).await;
    b.wait_for("ul.tree").await;
    // levels holding trouble are open, the healthy stage environment is not
    let open = b
        .exec("return Array.from(document.querySelectorAll('ul.tree details[open]')).map(d => d.dataset.path);", vec![])
        .await;
    let open: Vec<&str> = open.as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(open.contains(&"acme/p/prod/c2") && open.contains(&"acme/p/prod/c1"), "{open:?}");
    assert!(!open.contains(&"acme/p/stage"), "{open:?}");
    // keyboard only: focus the search field, type, Enter
    b.exec("document.getElementById('q').focus();", vec![]).await;
    b.press(&["d", "b", "\u{E007}"]).await;
    b.wait_for("table.sortable").await;
    let rows = b.exec("return Array.from(document.querySelectorAll('table.sortable tbody tr')).map(r => r.cells[0].innerText + '|' + r.cells[3].innerText + '|' + (r.querySelector('svg.daybar') ? r.querySelector('svg.daybar').getAttribute('aria-label') : ''));", vec![]).await;
    let rows: Vec<&str> = rows.as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].starts_with("db-primary|db-primary says hello|Last 24 hours: DEGRADED"), "{rows:?}");
    assert!(!rows[0].contains("UNKNOWN") && rows[0].contains("not yet created"), "{rows:?}");
    // problems only, worst first
    b.goto(&format!("{base}/ui?problems=1&sort=status")).await;
    b.wait_for("table.sortable").await;
    let names = b
        .exec(
            "return Array.from(document.querySelectorAll('table.sortable tbody tr')).map(r => r.cells[0].innerText);",
            vec![],
        )
        .await;
    assert_eq!(names, json!(["web", "db-primary"]), "DOWN before DEGRADED, nothing OPERATIONAL");
}

/// A service declared in the dashboard: an it-ops document with source
/// `ui`, created, edited as YAML and deleted; one from files stays theirs.
async fn services(b: &Browser, srv: &Srv, base: &str, key: &str) {
    let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: files}\nservice: {name: from-files}\n";
    let (c, v) = srv.post_raw("/api/v1/services/apply", Some(key), doc, Some("application/yaml")).await;
    assert_eq!(c, 200, "{v}");
    b.goto(&format!("{base}/ui/services/new")).await;
    b.wait_for("#new-service-document").await;
    // a mistake: the API's own words, nothing created
    set_value(b, "new-service-document", "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: ui}\nservice: {name: \"\"}\n").await;
    submit(b, "new-service", None).await;
    let err = b.wait_for("#new-service .form-error:not([hidden])").await;
    assert!(b.text(&err).await.contains("service.name"), "{}", b.text(&err).await);
    let yaml = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: ui}\nservice: {name: made-here, displayName: Made here, criticality: high}\n";
    set_value(b, "new-service-document", yaml).await;
    submit(b, "new-service", None).await;
    b.wait_for("#edit-service").await;
    let (_, list) = srv.get("/api/v1/services?nodeId=acme/p/prod/ui", key).await;
    let made = &list["items"][0];
    assert_eq!((made["service"].as_str(), made["source"].as_str()), (Some("made-here"), Some("ui")), "{list}");
    let id = made["id"].as_i64().unwrap();
    assert!(b.current_url().await.ends_with(&format!("/ui/services/{id}")));
    // edited as YAML: the text written is the text shown
    let shown = b.exec("return document.getElementById('edit-service-document').value;", vec![]).await;
    assert_eq!(shown, json!(yaml));
    set_value(b, "edit-service-document", &yaml.replace("Made here", "Made here (edited)")).await;
    submit(b, "edit-service", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/services/{id}"), key).await;
    assert_eq!(v["displayName"], "Made here (edited)", "{v}");
    // and in a form: a tag and a check
    b.wait_for("#service-fields").await;
    set_value(b, "service-fields-service-tags", "shop, eu").await;
    set_value(
        b,
        "service-fields-checks",
        "[{\"type\": \"tcp\", \"name\": \"port\", \"host\": \"127.0.0.1\", \"port\": 9}]",
    )
    .await;
    submit(b, "service-fields", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/services/{id}"), key).await;
    assert_eq!(v["tags"], json!(["shop", "eu"]), "{v}");
    assert_eq!(v["displayName"], "Made here (edited)", "{v}");
    let (_, checks) = srv.get(&format!("/api/v1/checks?serviceId={id}"), key).await;
    let checks = checks["items"].clone();
    assert!(checks.to_string().contains("\"port\""), "{checks}");
    shots(b, "service").await;
    // the service from files is shown read-only, and the dashboard cannot take it over
    let (_, list) = srv.get("/api/v1/services?nodeId=acme/p/prod/files", key).await;
    let fid = list["items"][0]["id"].as_i64().unwrap();
    b.goto(&format!("{base}/ui/services/{fid}")).await;
    b.wait_for("#manage-h").await;
    assert!(b.find("#edit-service").await.is_none());
    assert!(b.source().await.contains("Declared in it-ops documents"));
    b.goto(&format!("{base}/ui/services/new")).await;
    b.wait_for("#new-service-document").await;
    set_value(b, "new-service-document", &doc.replace("from-files}", "from-files, displayName: mine}")).await;
    submit(b, "new-service", None).await;
    let err = b.wait_for("#new-service .form-error:not([hidden])").await;
    assert!(b.text(&err).await.contains("declared in it-ops documents"), "{}", b.text(&err).await);
    // deleted from its page
    b.goto(&format!("{base}/ui/services/{id}")).await;
    submit(b, "delete-service", None).await;
    b.wait_for("ul.tree").await;
    let (c, _) = srv.get(&format!("/api/v1/services/{id}"), key).await;
    assert_eq!(c, 404);
}

/// SLA group modes and status page groups from the groups page.
async fn groups(b: &Browser, srv: &Srv, base: &str, key: &str) {
    let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: g1}\nservice: {name: db-a, slaGroup: shop-db}\n---\nversion: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: g2}\nservice: {name: db-b, slaGroup: shop-db}\n";
    let (c, v) = srv.post_raw("/api/v1/services/apply", Some(key), doc, Some("application/yaml")).await;
    assert_eq!(c, 200, "{v}");
    b.goto(&format!("{base}/ui/groups")).await;
    b.wait_for("#sla-shop-db").await;
    b.exec("document.getElementById('sla-shop-db-mode').value = 'quorum';", vec![]).await;
    set_value(b, "sla-shop-db-quorum", "1").await;
    submit(b, "sla-shop-db", None).await;
    reloaded(b).await;
    let (_, v) = srv.get("/api/v1/sla-groups", key).await;
    let g = v["items"].as_array().unwrap().iter().find(|g| g["name"] == "shop-db").cloned().unwrap();
    assert!(g["mode"].as_str().unwrap().starts_with("quorum"), "{g}");
    let k = b.exec("return document.getElementById('sla-shop-db-quorum').value;", vec![]).await;
    assert_eq!(k, json!("1"), "the form shows the group's K");
    // the group's own targets; an SLO below the SLA is refused at its field
    set_value(b, "sla-shop-db-targets-sloTarget", "98").await;
    set_value(b, "sla-shop-db-targets-slaTarget", "99").await;
    submit(b, "sla-shop-db-targets", None).await;
    let said = field_error(b, "sla-shop-db-targets-sloTarget").await;
    assert!(said.contains("below"), "{said}");
    // by keyboard alone: focus the field, replace its text, Enter submits
    b.exec(
        "window.__before = performance.timeOrigin; document.getElementById('sla-shop-db-targets-sloTarget').focus();",
        vec![],
    )
    .await;
    // End, then Backspace over what is there, then the new value and Enter
    b.press(&["\u{E010}", "\u{E003}", "\u{E003}", "\u{E003}", "\u{E003}", "9", "9", ".", "5", "\u{E007}"]).await;
    reloaded(b).await;
    let (_, r) = srv.get("/api/v1/sla-groups/shop-db/slo", key).await;
    assert_eq!((r["sloTarget"].as_f64(), r["slaTarget"].as_f64()), (Some(99.5), Some(99.0)), "{r}");
    // a new status page group, its name in the path; a member named wrong is refused
    set_value(b, "sp-new-name", "shop").await;
    set_value(b, "sp-new-displayName", "Shop").await;
    set_value(b, "sp-new-services", "[{\"nodeId\": \"acme/p/prod/g1\"}]").await;
    submit(b, "sp-new", None).await;
    let said = field_error(b, "sp-new-services").await;
    assert!(said.contains("services"), "{said}");
    set_value(
        b,
        "sp-new-services",
        "[{\"nodeId\": \"acme/p/prod/g1\", \"service\": \"db-a\", \"displayName\": \"Database\"}]",
    )
    .await;
    submit(b, "sp-new", None).await;
    reloaded(b).await;
    let (_, v) = srv.get("/api/v1/status-page/groups", key).await;
    let v = v["items"].clone();
    let shop = v.as_array().unwrap().iter().find(|g| g["name"] == "shop").cloned().unwrap();
    assert_eq!(shop["displayName"], "Shop", "{v}");
    assert_eq!(shop["services"][0]["displayName"], "Database", "{v}");
    let id = format!("sp-{}", shop["publicId"].as_i64().unwrap());
    shots(b, "groups").await;
    b.exec(&format!("document.getElementById('{id}').closest('details').open = true;"), vec![]).await;
    submit(b, &format!("{id}-del"), None).await;
    reloaded(b).await;
    let (_, v) = srv.get("/api/v1/status-page/groups", key).await;
    let v = v["items"].clone();
    assert!(!v.to_string().contains("\"shop\""), "{v}");
}

/// Every page of the dashboard at 1400 and 390 px, light and dark: no
/// console error, nothing wider than the screen, every form ready for the
/// keyboard. The screenshots are for a reviewer.
async fn every_page(b: &Browser, base: &str, sid: i64) {
    // the refused submits of the steps before are not these pages' errors
    let _ = b.console_errors().await;
    for (name, path) in [
        ("tree", "/ui".to_string()),
        ("search", "/ui?problems=1".to_string()),
        ("service-page", format!("/ui/services/{sid}")),
        ("slo", "/ui/slo".to_string()),
        ("backups", "/ui/backups".to_string()),
        ("storage", "/ui/storage".to_string()),
        ("downtimes", "/ui/downtimes".to_string()),
        ("maintenance-page", "/ui/maintenance".to_string()),
        ("agents", "/ui/agents".to_string()),
        ("certificates", "/ui/certificates".to_string()),
        ("organization", "/ui/organizations/acme".to_string()),
        ("new-service", "/ui/services/new".to_string()),
        ("groups-page", "/ui/groups".to_string()),
        ("notifications", "/ui/notifications".to_string()),
        ("admin-page", "/ui/admin".to_string()),
        ("api-docs", "/api/docs".to_string()),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.wait_for("h1").await;
        let h1 = b.text(&b.find("h1").await.unwrap()).await;
        assert!(!h1.starts_with("4") && !h1.starts_with("5"), "{path}: {h1}");
        shots(b, name).await;
        let errs = b.console_errors().await;
        assert!(errs.is_empty(), "{path}: {errs:#?}");
    }
}
