//! The dashboard over plain HTTP, on both backends: signing in turns a key
//! into a session cookie that holds no key and is stored only hashed;
//! signing out and revoking the key end it; pages are scoped like the API
//! and escape what they show; live updates arrive as server-sent events;
//! the post-mortem button and the note editor write through the API.

mod common;

use common::*;
use nines_store::testing::{TestDb, all};
use serde_json::json;
use sha2::{Digest, Sha256};

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn push(srv: &Srv, key: &str, name: &str, node: Option<&str>, status: &str, message: Option<&str>) -> i64 {
    let mut body = json!({"service": name, "status": status});
    if let Some(n) = node {
        body["nodeId"] = json!(n);
    }
    if let Some(m) = message {
        body["message"] = json!(m);
    }
    let (code, v) = srv.post("/api/v1/health/report", key, body).await;
    assert!(code / 100 == 2, "{v}");
    let q = node.map(|n| format!("?nodeId={n}")).unwrap_or_else(|| "?nodeId=unknown".into());
    let (_, list) = srv.get(&format!("/api/v1/services{q}"), key).await;
    list["items"].as_array().unwrap().iter().find(|s| s["service"] == name).unwrap()["id"].as_i64().unwrap()
}

async fn login(srv: &Srv, key: &str) -> reqwest::Response {
    no_redirects()
        .post(format!("{}/ui/login", srv.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("key={key}&next=%2Fui%2Fslo"))
        .send()
        .await
        .unwrap()
}

async fn page(srv: &Srv, path: &str, cookie: Option<&str>, key: Option<&str>) -> (u16, String) {
    let mut req = no_redirects().get(format!("{}{path}", srv.base));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn signing_in_gives_a_session_cookie_without_the_key() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("acme", "read-only").await;
        push(&srv, &srv.key("acme", "admin").await, "api", Some("acme/p/prod/c1"), "OPERATIONAL", None).await;

        // no credentials: to the login page, remembering where to
        let (code, _) = page(&srv, "/ui/slo", None, None).await;
        assert_eq!(code, 303);
        let r = no_redirects().get(format!("{}/ui/slo?sort=name", srv.base)).send().await.unwrap();
        assert_eq!(r.headers()["location"], "/ui/login?next=/ui/slo%3Fsort%3Dname");

        // a wrong key: 401 and the form again, the key not echoed
        let bad = "nines_0123456789abcdef_0000000000000000000000000000000000000000000000000000000000000000";
        let r = login(&srv, bad).await;
        assert_eq!(r.status().as_u16(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        let text = r.text().await.unwrap();
        assert!(text.contains("not valid") && !text.contains(bad));

        let r = login(&srv, &key).await;
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"], "/ui/slo");
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/;"), "{set}");
        assert!(!set.contains(&key) && !set.contains(key.split('_').nth(2).unwrap()), "the cookie holds no key");
        let token = set.split(';').next().unwrap().strip_prefix("nines_session=").unwrap().to_string();
        assert_eq!(token.len(), 64);
        let stored = srv.store.ui_session_hashes().await.unwrap();
        let hash: String = Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(stored, vec![hash], "only the token's SHA-256 is stored");
        let cookie = format!("nines_session={token}");

        let (code, html) = page(&srv, "/ui", Some(&cookie), None).await;
        assert_eq!(code, 200);
        assert!(html.contains(">api</a>") && html.contains("Sign out"), "{html}");

        // signing out deletes the session
        let r = no_redirects().post(format!("{}/ui/logout", srv.base)).header("Cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(page(&srv, "/ui", Some(&cookie), None).await.0, 303);
        assert_eq!(page(&srv, "/ui/events", Some(&cookie), None).await.0, 401, "the event stream is refused");
        assert!(srv.store.ui_session_hashes().await.unwrap().is_empty());

        // revoking the key ends its sessions
        let r = login(&srv, &key).await;
        let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
        let cookie = set.split(';').next().unwrap().to_string();
        assert_eq!(page(&srv, "/ui", Some(&cookie), None).await.0, 200);
        let id = nines_store::parse_key_id(&key).unwrap();
        let r = srv
            .http
            .delete(format!("{}/api/v1/apikeys/{id}", srv.base))
            .header("X-API-Key", &srv.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(page(&srv, "/ui", Some(&cookie), None).await.0, 303, "a revoked key's session is over");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn pages_are_scoped_escaped_and_complete() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let acme = srv.key("acme", "admin").await;
        let globex = srv.key("globex", "admin").await;
        let api = push(&srv, &acme, "api", Some("acme/p/prod/c1"), "DOWN", Some("<img src=x onerror=alert(1)>")).await;
        push(&srv, &acme, "orphan", None, "OPERATIONAL", None).await;
        let secret = push(&srv, &globex, "globex-ledger", Some("globex/p/prod/c9"), "OPERATIONAL", None).await;

        let (code, tree) = page(&srv, "/ui", None, Some(&acme)).await;
        assert_eq!(code, 200);
        assert!(tree.contains("missing nodeId") && tree.contains("lbl-unknown"), "the red unknown node");
        assert!(tree.contains("1 down") && tree.contains("DOWN"), "counts and status words");
        assert!(!tree.contains("globex"), "another organization stays hidden");
        assert!(tree.contains(r#"<details data-path="acme/p/prod/c1" open>"#), "a node holding a DOWN service is open");

        let (code, svc) = page(&srv, &format!("/ui/services/{api}"), None, Some(&acme)).await;
        assert_eq!(code, 200);
        assert!(svc.contains("&lt;img src=x onerror=alert(1)&gt;") && !svc.contains("<img src=x"), "escaped");
        assert!(svc.contains("SLO / SLA") && svc.contains("Daily availability") && svc.contains("<svg"));
        assert!(svc.contains("Error budget") && svc.contains("SLA target"));

        let (code, _) = page(&srv, &format!("/ui/services/{secret}"), None, Some(&acme)).await;
        assert_eq!(code, 404, "another organization's service answers as a missing one, as in the API");
        let (code, _) = page(&srv, "/ui/services/999999", None, Some(&acme)).await;
        assert_eq!(code, 404);

        for p in
            ["/ui/backups", "/ui/storage", "/ui/slo", "/ui/slo?sort=availability", "/ui/downtimes", "/ui/maintenance"]
        {
            let (code, html) = page(&srv, p, None, Some(&acme)).await;
            assert_eq!(code, 200, "{p}: {html}");
            assert!(html.contains("Skip to content") && !html.contains("globex"), "{p}");
        }
        let (code, html) = page(&srv, "/ui/slo?sort=colour", None, Some(&acme)).await;
        assert_eq!(code, 422, "{html}");
        assert!(html.contains("unknown sort"));
        let (code, html) = page(&srv, "/ui/slo?sort=budget", None, Some(&acme)).await;
        assert_eq!(code, 200);
        assert!(html.contains(r#"aria-sort="ascending"><a href="/ui/slo?sort=budget""#), "sorted by remaining budget");
        let r = no_redirects().get(format!("{}/ui", srv.base)).header("X-API-Key", &acme).send().await.unwrap();
        assert!(r.headers().contains_key("server-timing"));
        assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn storage_and_backup_tabs_follow_the_seed() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("acme", "admin").await;
        for (name, used) in [("pg-main", 50u64), ("redis", 80), ("minio", 95)] {
            let (c, v) = srv
                .post(
                    "/api/v1/storage/report",
                    &key,
                    json!({"service": name, "nodeId": "acme/p/prod/c1", "allocatedBytes": 100, "usedBytes": used}),
                )
                .await;
            assert!(c / 100 == 2, "{v}");
        }
        let (c, v) = srv
            .post(
                "/api/v1/backup/report",
                &key,
                json!({"service": "pg-main", "nodeId": "acme/p/prod/c1", "status": "success"}),
            )
            .await;
        assert!(c / 100 == 2, "{v}");
        // linked services (metadata.usedBy) link to their pages when known
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\nservice:\n  name: pg-main\n  tags: [database, storage]\nmetadata:\n  usedBy:\n    - {name: payment-api, displayName: Payment API}\n    - {name: not-registered, displayName: Ghost <svc>}\noperations:\n  backup: {expected: true, maxAgeDays: 1}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), doc, None).await;
        assert_eq!(c, 200, "{v}");
        let pay = push(&srv, &key, "payment-api", Some("acme/p/prod/c2"), "OPERATIONAL", None).await;
        let (_, html) = page(&srv, "/ui/storage", None, Some(&key)).await;
        assert!(html.contains(&format!(r#"<a href="/ui/services/{pay}">Payment API</a>"#)), "{html}");
        assert!(html.contains("Ghost &lt;svc&gt;"));
        // fullest first, each with its level in words: < 10 % Critical, 10–30 % Warning, > 30 % Healthy
        let (m, r, p) = (html.find(">minio<").unwrap(), html.find(">redis<").unwrap(), html.find(">pg-main<").unwrap());
        assert!(m < r && r < p);
        let row = |at: usize| &html[at..at + html[at..].find("</tr>").unwrap()];
        assert!(row(m).contains("Critical") && row(m).contains("lbl-bad"));
        assert!(row(r).contains("Warning") && row(r).contains("lbl-warn"));
        assert!(row(p).contains("Healthy") && row(p).contains("lbl-ok"));
        let (_, html) = page(&srv, "/ui/backups", None, Some(&key)).await;
        assert!(html.contains(">pg-main<") && html.contains("Current"), "{html}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn postmortem_button_creates_the_note_and_the_editor_saves_it() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("acme", "admin").await;
        let ro = srv.key("acme", "read-only").await;
        let id = push(&srv, &key, "api", Some("acme/p/prod/c1"), "OPERATIONAL", None).await;
        let (c, v) = srv.post("/api/v1/downtimes", &key, json!({"title": "Checkout <down>", "serviceIds": [id]})).await;
        assert_eq!(c, 201, "{v}");
        let dt = v["id"].as_i64().unwrap();
        let (code, html) = page(&srv, &format!("/ui/downtimes/{dt}"), None, Some(&key)).await;
        assert_eq!(code, 200);
        assert!(html.contains("Create Post-Mortem Note") && html.contains("Checkout &lt;down&gt;"));

        let post = |k: &str, origin: Option<&str>| {
            let mut r =
                no_redirects().post(format!("{}/ui/downtimes/{dt}/postmortem", srv.base)).header("X-API-Key", k);
            if let Some(o) = origin {
                r = r.header("Origin", o);
            }
            r.send()
        };
        assert_eq!(post(&key, Some("http://evil.example")).await.unwrap().status().as_u16(), 403);
        assert_eq!(post(&ro, None).await.unwrap().status().as_u16(), 403, "a read-only key cannot write notes");
        let r = post(&key, None).await.unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let to = r.headers()["location"].to_str().unwrap().to_string();
        let note: i64 = to.strip_prefix("/ui/notes/").unwrap().parse().unwrap();
        let (code, html) = page(&srv, &to, None, Some(&key)).await;
        assert_eq!(code, 200);
        assert!(html.contains("# Post-mortem: Checkout &lt;down&gt;") && html.contains("<textarea"));

        let r = no_redirects()
            .post(format!("{}{to}", srv.base))
            .header("X-API-Key", &key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("body=%23+Done%0D%0ARoot+cause%3A+disk")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303);
        let (_, n) = srv.get(&format!("/api/v1/notes/{note}"), &key).await;
        assert_eq!(n["body"], "# Done\nRoot cause: disk");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn live_updates_arrive_as_server_sent_events() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("acme", "admin").await;
        let other = srv.key("globex", "admin").await;
        let id = push(&srv, &key, "api", Some("acme/p/prod/c1"), "OPERATIONAL", None).await;
        let mut r = srv.http.get(format!("{}/ui/events", srv.base)).header("X-API-Key", &key).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        // the first event says where the stream starts
        let mut seen = String::new();
        while !seen.contains("\n\n") {
            seen.push_str(&String::from_utf8_lossy(&r.chunk().await.unwrap().unwrap()));
        }
        push(&srv, &other, "globex-api", Some("globex/p/prod/c1"), "DOWN", None).await;
        push(&srv, &key, "api", Some("acme/p/prod/c1"), "DOWN", None).await;
        let mut all = String::new();
        let got = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            loop {
                let chunk = r.chunk().await.unwrap().expect("stream stays open");
                all.push_str(&String::from_utf8_lossy(&chunk));
                if all.contains(&format!("svc:{id}")) {
                    return all.clone();
                }
            }
        })
        .await
        .expect("an update within 20 s");
        assert!(got.contains("event: update") && got.contains("DOWN") && got.contains("api is now DOWN"), "{got}");
        assert!(got.contains("node:acme/p/prod/c1") && got.contains("1 down"), "{got}");
        assert!(!got.contains("globex"), "another organization's changes stay out: {got}");
        drop(r);
        srv.stop().await;
    })
    .await;
}
