//! Dashboard sign-in through a real Keycloak, in headless Chromium, on both
//! backends: people sign in at Keycloak's own login page, get the roles
//! their groups give (both group forms: a Keycloak full path
//! `/acme/acme-admins` and a plain `acme-viewers`), sign their actions with
//! their name, switch between their organizations, and sign out at nines
//! and at Keycloak. A forged or foreign state, a person without a mapped
//! group and an expired session are refused.
//!
//! Keycloak is reached as `localhost`, nines as `127.0.0.1`: two sites, as
//! in production, so the cookies' SameSite rules are exercised for real.
//! Skips (with the reason) without Keycloak or Chromium, unless
//! `NINES_TEST_REQUIRE_ALL=1`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::{Browser, reloaded, submit};
use common::*;
use nines_core::clock::ManualClock;
use nines_server::oidc::{OidcConfig, SignInConfig};
use nines_testing::keycloak::Keycloak;
use serde_json::{Value, json};
use std::sync::Arc;

const CLIENT: &str = "nines-dashboard";
const PASSWORD: &str = "correct horse battery staple";
const TTL_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Keycloak's base URL under the name `localhost`.
fn kc_base(kc: &Keycloak) -> String {
    kc.base.replace("127.0.0.1", "localhost")
}

/// A realm as a platform team would set it up for nines: a confidential
/// client with the standard flow and PKCE S256, nines' callback as its
/// redirect URI and its login page as post-logout redirect, a group mapper
/// with full paths, groups and people. Returns the client secret.
async fn realm(kc: &Keycloak, realm: &str, base: &str) -> String {
    kc.create_empty_realm(realm).await;
    // ID tokens that expire at once: sign-out sends an expired one back as
    // id_token_hint, as it would hours into a session, and Keycloak must take it
    kc.admin_ok("PUT", &format!("/{realm}"), Some(json!({"accessTokenLifespan": 1}))).await;
    let client = json!({
        "clientId": CLIENT,
        "enabled": true,
        "publicClient": false,
        "standardFlowEnabled": true,
        "directAccessGrantsEnabled": false,
        "serviceAccountsEnabled": false,
        "redirectUris": [format!("{base}/ui/login/oidc/callback")],
        "attributes": {
            "pkce.code.challenge.method": "S256",
            "post.logout.redirect.uris": format!("{base}/ui/login"),
        },
        "protocolMappers": [{
            "name": "groups",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-group-membership-mapper",
            "config": {
                "full.path": "true",
                "id.token.claim": "true",
                "access.token.claim": "true",
                "userinfo.token.claim": "true",
                "claim.name": "groups",
            },
        }],
    });
    let (_, loc) = kc.admin_ok("POST", &format!("/{realm}/clients"), Some(client)).await;
    let id = loc.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("client Location");
    let (secret, _) = kc.admin_ok("GET", &format!("/{realm}/clients/{id}/client-secret"), None).await;

    let group = |path: String, name: &str| {
        let body = json!({"name": name});
        async move {
            let (_, loc) = kc.admin_ok("POST", &path, Some(body)).await;
            loc.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("group Location")
        }
    };
    let acme = group(format!("/{realm}/groups"), "acme").await;
    let acme_admins = group(format!("/{realm}/groups/{acme}/children"), "acme-admins").await;
    let acme_viewers = group(format!("/{realm}/groups"), "acme-viewers").await;
    let globex_devs = group(format!("/{realm}/groups"), "globex-developers").await;
    let staff = group(format!("/{realm}/groups"), "staff").await;
    let platform = group(format!("/{realm}/groups"), "platform").await;
    let platform_admins = group(format!("/{realm}/groups/{platform}/children"), "nines-platform").await;
    for (user, groups) in [
        ("alice", vec![&acme_admins, &globex_devs]),
        ("victor", vec![&acme_viewers]),
        ("nobody", vec![&staff]),
        ("pat", vec![&platform_admins]),
    ] {
        let rep = json!({
            "username": user, "email": format!("{user}@example.com"), "emailVerified": true,
            "firstName": user, "lastName": "Tester", "enabled": true,
            "credentials": [{"type": "password", "value": PASSWORD, "temporary": false}],
        });
        let (_, loc) = kc.admin_ok("POST", &format!("/{realm}/users"), Some(rep)).await;
        let uid = loc.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("user Location");
        for g in groups {
            kc.admin_ok("PUT", &format!("/{realm}/users/{uid}/groups/{g}"), None).await;
        }
    }
    secret["value"].as_str().expect("client secret").to_string()
}

/// Fill in Keycloak's login form (the browser is on it).
async fn keycloak_login(b: &Browser, user: &str) {
    let u = b.wait_for("input#username").await;
    b.type_into(&u, user).await;
    let p = b.wait_for("input#password").await;
    b.type_into(&p, PASSWORD).await;
    b.click(&b.wait_for("#kc-login").await).await;
}

/// Wait until the browser is on a URL starting with `prefix`.
async fn at(b: &Browser, prefix: &str) -> String {
    for _ in 0..200 {
        let u = b.current_url().await;
        if u.starts_with(prefix) {
            return u;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the browser is at {}, not {prefix}…: {}", b.current_url().await, b.source().await);
}

async fn text_of(b: &Browser, css: &str) -> String {
    let el = b.wait_for(css).await;
    b.text(&el).await
}

/// Forget every cookie of nines and of Keycloak (`issuer`: WebDriver
/// deletes the cookies the page sees, and Keycloak's are under the realm's path).
async fn forget(b: &Browser, base: &str, issuer: &str) {
    for page in [format!("{base}/healthz"), format!("{issuer}/.well-known/openid-configuration")] {
        b.goto(&page).await;
        b.clear_cookies().await;
    }
}

#[tokio::test]
async fn people_sign_in_through_keycloak_in_chromium() {
    let Some(kc) = Keycloak::shared().await else { return };
    let Some(b) = Browser::start().await else { return };
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        // the provider's tokens carry the real time: the server's clock starts there
        let clock = ManualClock::new(now_ms());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let realm_name = format!("nines-{}", db.label);
        let secret = realm(kc, &realm_name, &base).await;
        let kc_url = kc_base(kc);
        let mut oidc = OidcConfig::new(&format!("{kc_url}/realms/{realm_name}"), CLIENT, Some(secret));
        oidc.provider_name = "Keycloak".into();
        oidc.roles.platform_admin_group = Some("nines-platform".into());
        let config = nines_server::ServerConfig {
            sign_in: SignInConfig { session_ttl_ms: TTL_MS, key_login: false, oidc: Some(oidc) },
            ..fast_config("oidc")
        };
        let srv = start_on(db.store.clone(), Arc::new(clock.clone()), config, listener).await;
        let issuer = format!("{kc_url}/realms/{realm_name}");
        walk(&b, &srv, &issuer, &clock).await;
        forget(&b, &base, &issuer).await;
        srv.stop().await;
        kc.delete_realm(&realm_name).await;
    }
    b.quit().await;
}

/// `kc`: the realm's issuer URL.
async fn walk(b: &Browser, srv: &Srv, kc: &str, clock: &ManualClock) {
    let base = srv.base.clone();
    let admin = srv.admin.clone();
    // a downtime in acme to act on
    let (c, v) = srv
        .post("/api/v1/health/report", &admin, json!({"service": "web", "status": "DOWN", "nodeId": "acme/p/prod/c1"}))
        .await;
    assert!(c == 200 || c == 201, "{v}");
    let sid = v["id"].as_i64().unwrap();
    let (c, d) = srv.post("/api/v1/downtimes", &admin, json!({"title": "web down", "serviceIds": [sid]})).await;
    assert_eq!(c, 201, "{d}");
    let did = d["id"].as_i64().unwrap();

    // the login page offers Keycloak and no key form (key login is off)
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    let sso = b.wait_for("a#sso").await;
    assert_eq!(b.text(&sso).await, "Sign in with Keycloak");
    assert!(b.find("input#key").await.is_none(), "no API key form");

    // alice: admin of acme (a full group path), operator of globex
    b.click(&sso).await;
    at(b, kc).await;
    keycloak_login(b, "alice").await;
    // back where she was going, signed in
    at(b, &format!("{base}/ui/downtimes/{did}")).await;
    assert!(text_of(b, "#who-name").await.contains("alice"));
    let orgs = b
        .exec("return Array.from(document.querySelectorAll('#org-switch option')).map(o => o.value + (o.selected ? '*' : ''));", vec![])
        .await;
    assert_eq!(orgs, json!(["acme*", "globex"]), "two organizations, acme first");
    b.screenshot("oidc-signed-in-two-organizations").await;
    let cookie = b.exec("return document.cookie;", vec![]).await;
    assert!(!cookie.as_str().unwrap().contains("nines_session"), "the session cookie is HttpOnly");
    // she acknowledges the downtime: signed with her name
    submit(b, "ack", None).await;
    reloaded(b).await;
    let (_, v) = srv.get(&format!("/api/v1/downtimes/{did}"), &admin).await;
    assert_eq!(v["acknowledgedBy"], "alice", "{v}");
    let (_, log) = srv.get("/api/v1/audit", &admin).await;
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["route"] == "/api/v1/downtimes/{id}/acknowledge")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (&entry["actor"], &entry["keyId"], &entry["organization"], &entry["role"], &entry["status"]),
        (&json!("alice"), &json!("user:alice"), &json!("acme"), &json!("admin"), &json!(200)),
        "{log}"
    );
    // an admin of acme opens the admin page
    b.goto(&format!("{base}/ui/admin")).await;
    assert!(!text_of(b, "main h1").await.starts_with("403"), "alice is an admin of acme");

    // she switches to globex: an operator there, who sees nothing of acme
    b.exec("document.getElementById('org-switch').value = 'globex';", vec![]).await;
    b.click(&b.wait_for(".org-switch button").await).await;
    at(b, &format!("{base}/ui")).await;
    b.wait_for("#org-switch").await;
    let selected = b.exec("return document.getElementById('org-switch').value;", vec![]).await;
    assert_eq!(selected, json!("globex"));
    b.goto(&format!("{base}/ui/admin")).await;
    assert!(text_of(b, "main h1").await.starts_with("403"), "an operator of globex is no admin");
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    assert!(text_of(b, "main h1").await.starts_with("404"), "acme's downtime is not globex's");
    b.goto(&format!("{base}/ui/groups")).await;
    assert!(!text_of(b, "main h1").await.starts_with("403"), "an operator opens the groups page");

    // sign out: the session ends at nines and at Keycloak (the ID token
    // sent back as id_token_hint has expired by now)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let sessions = srv.store.ui_session_hashes().await.unwrap().len();
    b.click(&b.wait_for("form[action='/ui/logout'] button").await).await;
    at(b, &format!("{base}/ui/login")).await;
    assert_eq!(srv.store.ui_session_hashes().await.unwrap().len(), sessions - 1, "the session row is gone");
    b.goto(&format!("{base}/ui")).await;
    at(b, &format!("{base}/ui/login")).await;
    b.goto(&format!("{base}/ui/login/oidc")).await;
    at(b, kc).await;
    b.wait_for("input#password").await;

    // nobody: known to Keycloak, in no group nines maps: 403, no session
    keycloak_login(b, "nobody").await;
    let said = text_of(b, "#no-access").await;
    assert!(said.contains("Signed in as nobody, but none of your groups gives access to nines"), "{said}");
    assert!(said.contains("/staff"), "{said}");
    b.screenshot("oidc-no-access").await;
    assert_eq!(srv.store.ui_session_hashes().await.unwrap().len(), sessions - 1, "no session for nobody");
    b.goto(&format!("{base}/ui")).await;
    at(b, &format!("{base}/ui/login")).await;
    forget(b, &base, kc).await;

    // a state this browser did not start, and a made-up one: refused
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http.get(format!("{base}/ui/login/oidc")).send().await.unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let foreign = to.split(['?', '&']).find_map(|kv| kv.strip_prefix("state=")).unwrap().to_string();
    b.goto(&format!("{base}/ui/login/oidc")).await;
    at(b, kc).await;
    for state in [foreign.as_str(), "forged"] {
        b.goto(&format!("{base}/ui/login/oidc/callback?code=stolen&state={state}")).await;
        let said = text_of(b, "main .error").await;
        assert!(text_of(b, "main h1").await.starts_with("400"), "{said}");
        assert!(said.contains("its state does not match"), "{said}");
    }
    assert_eq!(srv.store.ui_session_hashes().await.unwrap().len(), sessions - 1);

    // pat: a platform admin, of every organization
    b.goto(&format!("{base}/ui/login")).await;
    b.click(&b.wait_for("a#sso").await).await;
    keycloak_login(b, "pat").await;
    at(b, &format!("{base}/ui")).await;
    let who = text_of(b, "#who-name").await;
    assert!(who.contains("pat") && who.contains("every organization") && who.contains("admin"), "{who}");
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    b.wait_for("form#resolve").await; // acme's downtime, and an admin's action on it
    b.click(&b.wait_for("form[action='/ui/logout'] button").await).await;
    at(b, &format!("{base}/ui/login")).await;

    // victor: a viewer of acme (a plain group name); sees, does not act
    b.goto(&format!("{base}/ui/login")).await;
    b.click(&b.wait_for("a#sso").await).await;
    keycloak_login(b, "victor").await;
    at(b, &format!("{base}/ui")).await;
    let who = text_of(b, "#who-name").await;
    assert!(who.contains("victor") && who.contains("acme") && who.contains("read-only"), "{who}");
    assert!(b.find("#org-switch").await.is_none(), "one organization: no switch");
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    b.wait_for("main h1").await;
    assert!(b.find("#ack").await.is_none() && b.find("form.api").await.is_none(), "a viewer gets no action");
    b.goto(&format!("{base}/ui/admin")).await;
    assert!(text_of(b, "main h1").await.starts_with("403"), "a viewer is no admin");
    let said = text_of(b, "main .error").await;
    assert_eq!(said, "victor is read-only in acme and cannot do this: GET /ui/admin needs an admin");
    // a session ends after its time: back to sign-in
    clock.advance(TTL_MS + 1000);
    b.goto(&format!("{base}/ui/downtimes/{did}")).await;
    at(b, &format!("{base}/ui/login?next=")).await;
    b.wait_for("a#sso").await;
}

/// Without Keycloak: the key form can be switched off (the API keeps
/// taking keys), and a callback without a started sign-in is refused.
#[tokio::test]
async fn key_login_can_be_switched_off() {
    for db in nines_store::testing::all().await {
        let clock = ManualClock::new(T0);
        let oidc = OidcConfig::new("http://127.0.0.1:9/realms/none", CLIENT, None);
        let config = nines_server::ServerConfig {
            sign_in: SignInConfig { key_login: false, oidc: Some(oidc), ..SignInConfig::default() },
            ..fast_config("oidc")
        };
        let srv = start_with(db.store.clone(), Arc::new(clock), config).await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = http.get(format!("{}/ui/login", srv.base)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("Sign in with single sign-on") && !page.contains(r#"id="key""#), "{page}");
        let r = http
            .post(format!("{}/ui/login", srv.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("key={}&next=/ui", srv.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("set-cookie").is_none(), "no session");
        let said = r.text().await.unwrap();
        assert!(said.contains("Signing in with an API key is switched off on this server"), "{said}");
        // machines keep their keys
        let (c, _) = srv.get("/api/v1/services", &srv.admin).await;
        assert_eq!(c, 200);
        // a callback nobody started
        let r = http.get(format!("{}/ui/login/oidc/callback?code=x&state=y", srv.base)).send().await.unwrap();
        assert_eq!(r.status(), 400);
        // the provider does not answer: a clear 502, no redirect
        let r = http.get(format!("{}/ui/login/oidc", srv.base)).send().await.unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.text().await.unwrap().contains("cannot reach the sign-in provider"));
        srv.stop().await;
    }
}
