//! The role matrix, as a table over every operation of the served OpenAPI
//! document and every route of the dashboard, on both backends: each
//! operation is called without a key and with a key of each role; a role
//! the matrix refuses gets 403 naming the key before anything runs, one it
//! allows gets past (whatever the handler then answers), no key gets 401.
//! Then the existence oracle: another organization's ids answer exactly as
//! missing ones.

mod common;

use common::*;
use nines_server::access::{Access, TABLE, access};
use nines_store::testing::all;
use reqwest::Method;
use serde_json::{Value, json};

const ROLES: [&str; 4] = ["read-only", "agent", "operator", "admin"];

fn role(r: &str) -> nines_core::Role {
    serde_json::from_value(json!(r)).unwrap()
}

/// The router's template of an OpenAPI path (`{*id}` is a catch-all there).
fn route_of(openapi_path: &str) -> String {
    let wild = TABLE.iter().find(|(_, r, _)| r.replace("{*", "{") == openapi_path && r.contains("{*"));
    wild.map(|(_, r, _)| r.to_string()).unwrap_or_else(|| openapi_path.to_string())
}

/// A concrete path for a template: ids that exist nowhere, names of acme.
fn concrete(template: &str) -> String {
    template
        .replace("{*id}", "1/x")
        .replace("{id}", "999999")
        .replace("{org}", "acme")
        .replace("{name}", "g1")
        .replace("{key}", "SLO_MIN_HISTORY_MINUTES")
        .replace("{file}", "2026-01-01.json")
        .replace("{day}", "2026-01-01")
}

/// Status, and whether the answer is the role check's refusal.
async fn call(srv: &Srv, method: &Method, path: &str, key: Option<&str>) -> (u16, bool, Value) {
    // the dashboard's redirect to its login page is an answer of its own
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut req = http.request(method.clone(), format!("{}{path}", srv.base));
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    if *method != Method::GET && *method != Method::DELETE {
        req = req.header("Content-Type", "application/json").body("{}");
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    // an event stream that was let through never ends: its status says enough
    let text = match tokio::time::timeout(std::time::Duration::from_secs(2), resp.text()).await {
        Ok(t) => t.unwrap(),
        Err(_) => String::new(),
    };
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    let refused = code == 403 && (v["error"]["field"] == "X-API-Key" || text.contains("key cannot do this"));
    (code, refused, v)
}

#[tokio::test]
async fn every_operation_enforces_the_role_matrix() {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, _clock) = start(&db).await;
        let mut keys = Vec::new();
        for r in ROLES {
            keys.push((r, srv.key("acme", r).await));
        }
        let (c, _, doc) = call(&srv, &Method::GET, "/api/openapi.json", None).await;
        assert_eq!(c, 200);
        let mut ops: Vec<(Method, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for m in ["get", "put", "post", "delete", "patch"] {
                if item.get(m).is_some() {
                    ops.push((m.to_uppercase().parse().unwrap(), path.clone()));
                }
            }
        }
        assert!(ops.len() > 60, "the document lists {} operations", ops.len());
        // a method no route takes: 405 whatever the key, in the error format
        for key in [None, Some(keys[0].1.as_str()), Some(srv.admin.as_str())] {
            let (c, _, v) = call(&srv, &Method::PATCH, "/api/v1/services", key).await;
            assert_eq!((c, v["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{v}");
        }
        // the dashboard's routes are not in the document; take them from the table
        for (m, r, _) in TABLE.iter().filter(|(_, r, _)| r.starts_with("/ui")) {
            ops.push((m.parse().unwrap(), r.to_string()));
        }
        let mut checked = 0;
        for (method, path) in &ops {
            let route = route_of(path);
            // every documented operation is named in the table, none falls to the default
            assert!(
                TABLE.iter().any(|(m, r, _)| *m == method.as_str() && *r == route),
                "{method} {route} is not in the access table"
            );
            let need = access(method, &route);
            let url = concrete(&route);
            let (code, refused, v) = call(&srv, method, &url, None).await;
            if need == Access::Public {
                assert!(code != 401 && !refused, "{method} {url} without a key: {code} {v}");
            } else if route.starts_with("/ui") && route != "/ui/events" {
                assert_eq!(code, 303, "{method} {url} without a key goes to the login page: {v}");
            } else {
                assert_eq!(code, 401, "{method} {url} without a key: {v}");
            }
            for (r, key) in &keys {
                let (code, refused, v) = call(&srv, method, &url, Some(key)).await;
                if need.allows(role(r)) {
                    assert!(code != 401 && !refused, "{method} {url} with a {r} key must pass: {code} {v}");
                } else {
                    assert!(refused, "{method} {url} with a {r} key must be refused: {code} {v}");
                }
                checked += 1;
            }
        }
        eprintln!("{checked} (operation, role) pairs checked");
        srv.stop().await;
    }
}

/// The matrix in words, independently of the table: an agent key pushes
/// and serves its own checks and reads nothing else; a read-only key writes
/// nothing; an operator writes only what the operator writes.
#[test]
fn the_table_says_what_the_matrix_says() {
    use nines_core::Role::*;
    for (m, r, a) in TABLE {
        let agent = a.allows(Agent);
        let pushes = ["/api/v1/health/report", "/api/v1/backup/report", "/api/v1/storage/report"];
        let agent_route = r.starts_with("/api/v1/agent/") || pushes.contains(r);
        if *a != Access::Public && *a != Access::AnyKey {
            assert_eq!(agent, agent_route, "{m} {r}: agent keys push and serve their checks only");
        }
        if *m != "GET" && *a != Access::Public {
            assert!(!a.allows(ReadOnly), "{m} {r}: a read-only key writes nothing");
        }
        if *m != "GET" && a.allows(Operator) && !a.allows(Agent) {
            let operator_writes =
                ["/services", "/openslo", "/certificates", "/clusters", "/inventory", "/status-page", "/activities"];
            assert!(
                operator_writes.iter().any(|p| r.starts_with(&format!("/api/v1{p}"))) && !r.ends_with("/slo"),
                "{m} {r}: not something the operator writes"
            );
        }
        if *m == "GET"
            && !r.starts_with("/api/v1/agent/")
            && *a != Access::Public
            && *a != Access::AnyKey
            // keys, the audit log, subscribers' addresses and the pages that
            // manage them are admin matters
            && ![
                "/api/v1/apikeys",
                "/api/v1/audit",
                "/api/v1/status-pages/{slug}/subscribers",
                "/ui/admin",
                "/ui/notifications",
                "/ui/services/new",
                "/ui/groups",
            ]
            .contains(r)
        {
            assert!(a.allows(ReadOnly), "{m} {r}: reads are open to read-only keys");
        }
    }
}

/// A service, downtime, note, key, organization of another organization
/// answers 404 with the words a missing one gets.
#[tokio::test]
async fn other_organizations_ids_answer_as_missing_ones() {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, _clock) = start(&db).await;
        let acme = srv.key("acme", "admin").await;
        let globex = srv.key("globex", "admin").await;
        let (c, v) = srv
            .post(
                "/api/v1/health/report",
                &globex,
                json!({"service": "ledger", "status": "DOWN", "nodeId": "globex/p/prod/c1", "slaGroup": "ledger-g"}),
            )
            .await;
        assert!(c == 200 || c == 201, "{v}");
        let (c, v) = srv
            .post(
                "/api/v1/health/report",
                &acme,
                json!({"service": "web", "status": "OPERATIONAL", "nodeId": "acme/p/prod/c1"}),
            )
            .await;
        assert!(c == 200 || c == 201, "{v}");
        let (c, v) = srv.get("/api/v1/services", &globex).await;
        assert_eq!(c, 200, "{v}");
        let service = v["items"][0]["id"].as_i64().unwrap_or_else(|| panic!("{v}"));
        let (c, v) =
            srv.post("/api/v1/downtimes", &globex, json!({"title": "ledger down", "serviceIds": [service]})).await;
        assert_eq!(c, 201, "{v}");
        let downtime = v["id"].as_i64().unwrap();
        let (c, v) = srv.post(&format!("/api/v1/downtimes/{downtime}/postmortem"), &globex, json!({})).await;
        assert!(c == 200 || c == 201, "{v}");
        let note = v["id"].as_i64().unwrap();
        let missing = 987_654_321_i64;
        let pairs = [
            (format!("/api/v1/services/{service}"), format!("/api/v1/services/{missing}")),
            (format!("/api/v1/services/{service}/slo"), format!("/api/v1/services/{missing}/slo")),
            (format!("/api/v1/downtimes/{downtime}"), format!("/api/v1/downtimes/{missing}")),
            (format!("/api/v1/notes/{note}"), format!("/api/v1/notes/{missing}")),
            ("/api/v1/organizations/globex/slo".to_string(), "/api/v1/organizations/initech/slo".to_string()),
        ];
        for (theirs, nobodys) in &pairs {
            let (c1, v1) = srv.get(theirs, &acme).await;
            let (c2, v2) = srv.get(nobodys, &acme).await;
            assert_eq!((c1, c2), (404, 404), "{theirs}: {v1} / {nobodys}: {v2}");
            let norm = |v: &Value| {
                let t = v.to_string().replace(&missing.to_string(), "N").replace("globex", "O").replace("initech", "O");
                t.replace(&format!("id {service}\""), "id N\"")
                    .replace(&format!("downtime {downtime}\""), "downtime N\"")
                    .replace(&format!("note {note}\""), "note N\"")
            };
            assert_eq!(norm(&v1), norm(&v2), "{theirs} and {nobodys} must answer alike");
            // the owner still sees it
            assert_eq!(srv.get(theirs, &globex).await.0, 200, "{theirs}");
        }
        // a maintenance window cannot name another organization's services, groups or nodes
        let window = |scope: Value| {
            let mut b =
                json!({"title": "patching", "startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-01T01:00:00Z"});
            b.as_object_mut().unwrap().extend(scope.as_object().unwrap().clone());
            b
        };
        for (scope, field) in [
            (json!({"serviceIds": [service]}), "serviceIds[0]"),
            (json!({"slaGroups": ["ledger-g"]}), "slaGroups[0]"),
            (json!({"nodeIds": ["globex/p/prod"]}), "nodeIds[0]"),
        ] {
            let (c, v) = srv.post("/api/v1/maintenance", &acme, window(scope.clone())).await;
            assert_eq!((c, v["error"]["field"].as_str()), (422, Some(field)), "{scope}: {v}");
        }
        let (c, v) = srv.post("/api/v1/maintenance", &acme, window(json!({"serviceIds": [missing]}))).await;
        let (c2, v2) = srv.post("/api/v1/maintenance", &acme, window(json!({"serviceIds": [service]}))).await;
        assert_eq!((c, c2), (422, 422));
        assert_eq!(
            v["error"]["message"].as_str().unwrap().replace(&missing.to_string(), "N"),
            v2["error"]["message"].as_str().unwrap().replace(&service.to_string(), "N"),
            "another organization's service answers as a missing one"
        );
        let (c, v) = srv
            .post(
                "/api/v1/maintenance",
                &globex,
                window(json!({"slaGroups": ["ledger-g"], "nodeIds": ["globex/p/prod"]})),
            )
            .await;
        assert_eq!(c, 201, "its own organization's group and node are fine: {v}");
        // writes too: acknowledging or editing another organization's downtime or note
        let (c, v) = srv.post(&format!("/api/v1/downtimes/{downtime}/acknowledge"), &acme, json!({})).await;
        assert_eq!(c, 404, "{v}");
        let resp = srv
            .http
            .put(format!("{}/api/v1/notes/{note}", srv.base))
            .header("X-API-Key", &acme)
            .body(r#"{"body":"rewritten"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        assert_ne!(srv.get(&format!("/api/v1/notes/{note}"), &globex).await.1["body"], "rewritten");
        srv.stop().await;
    }
}
