//! The HTTP API end to end: a real server on loopback over SQLite and
//! PostgreSQL, driven the way the SLA seed's curl commands drive it.

mod common;

use common::*;
use nines_store::testing::{TestDb, all};
use serde_json::{Value, json};

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

async fn service_count(srv: &Srv) -> usize {
    let (_, v) = srv.get("/api/v1/services", &srv.admin).await;
    v["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn health_push_as_the_seed_documents_it() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let body = json!({
            "service": "galera-node1",
            "status": "OPERATIONAL",
            "message": "wsrep_cluster_size=3, wsrep_ready=ON",
            "nodeId": "myorg/infra/prod/baremetal",
            "criticality": "critical",
            "slaGroup": "database-cluster",
            "serviceType": "database",
            "tags": ["database", "storage", "galera"]
        });
        let (code, ack) = srv.post_raw("/api/v1/health/report", Some(&key), &body.to_string(), Some("application/json")).await;
        assert_eq!(code, 201, "{ack}");
        assert_eq!(ack["created"], true);
        // later pushes (here as curl -d sends them, no JSON content type) update status only
        let (code, ack2) = srv
            .post("/api/v1/health/report", &key, json!({"service":"galera-node1","status":"DEGRADED","message":"cluster degraded: size=2","nodeId":"myorg/infra/prod/baremetal","criticality":"low"}))
            .await;
        assert_eq!(code, 200, "{ack2}");
        assert_eq!(ack2["id"], ack["id"]);
        let (code, svc) = srv.get(&format!("/api/v1/services/{}", ack["id"]), &key).await;
        assert_eq!(code, 200);
        assert_eq!(svc["status"], "DEGRADED");
        assert_eq!(svc["message"], "cluster degraded: size=2");
        assert_eq!(svc["criticality"], "critical");
        assert_eq!(svc["tier"], 1);
        assert_eq!(svc["slaGroup"], "database-cluster");
        assert_eq!(svc["kind"], "database");
        assert_eq!(svc["source"], "push");
        let tl = svc["timeline"].as_array().unwrap();
        assert_eq!(tl.len(), 2);
        assert_eq!((tl[1]["from"].as_str(), tl[1]["to"].as_str()), (Some("OPERATIONAL"), Some("DEGRADED")));
        // it is listed with the seed's fields and found by its filters
        let (_, list) = srv.get("/api/v1/services?status=degraded&tag=galera&nodeId=myorg/infra", &key).await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        for f in ["id", "service", "nodeId", "status", "criticality", "slaGroup", "tags", "source", "lastSeen"] {
            assert!(items[0].get(f).is_some(), "missing {f}");
        }
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_push_without_node_id_lands_under_the_flagged_unknown_node() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let (code, ack) =
            srv.post("/api/v1/health/report", &key, json!({"service":"orphan","status":"OPERATIONAL"})).await;
        assert_eq!(code, 201, "{ack}");
        assert_eq!(ack["nodeId"], "unknown");
        let (_, tree) = srv.get("/api/v1/hierarchy", &key).await;
        let org = &tree["organizations"][0];
        assert_eq!(org["name"], "myorg");
        let unknown = org["children"].as_array().unwrap().iter().find(|c| c["level"] == "unknown").unwrap();
        assert_eq!(unknown["flagged"], true);
        assert_eq!(unknown["counts"]["operational"], 1);
        assert_eq!(unknown["services"][0]["service"], "orphan");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let cases: Vec<(Value, u16, &str, &str)> = vec![
            (json!({"service":"a","status":"DOWN","colour":"red"}), 422, "unknown_field", "colour"),
            (json!({"status":"DOWN"}), 422, "missing_field", "service"),
            (json!({"service":"a","status":"UP"}), 422, "invalid_value", "status"),
            (json!({"service":"a b","status":"DOWN"}), 422, "invalid_value", "service"),
            (json!({"service":"a","status":"DOWN","nodeId":"myorg/prod"}), 422, "invalid_value", "nodeId"),
            (
                json!({"service":"a","status":"DOWN","timestamp":"2099-01-01T00:00:00Z"}),
                422,
                "invalid_value",
                "timestamp",
            ),
            (json!({"service":"a","status":"DOWN","timestamp":"yesterday"}), 422, "invalid_value", "timestamp"),
            (json!({"service":"a","status":"DOWN","criticality":"urgent"}), 422, "invalid_value", "criticality"),
            (json!({"service":"a","status":"DOWN","tags":["ok","not ok"]}), 422, "invalid_value", "tags[1]"),
            (json!({"service":"a","status":"DOWN","nodeId":"other/p/e/c"}), 403, "forbidden", "nodeId"),
        ];
        for (body, code, ecode, field) in cases {
            let (got, v) = srv.post("/api/v1/health/report", &key, body.clone()).await;
            assert_eq!(got, code, "{body} -> {v}");
            assert_eq!(v["error"]["code"], ecode, "{body} -> {v}");
            assert_eq!(v["error"]["field"], field, "{body} -> {v}");
            assert!(v["error"]["message"].as_str().unwrap().len() > 5);
        }
        let (code, v) = srv.post_raw("/api/v1/health/report", Some(&key), "{\"service\":", None).await;
        assert_eq!((code, v["error"]["code"].as_str()), (400, Some("invalid_json")));
        let (code, v) = srv.post_raw("/api/v1/health/report", Some(&key), "", None).await;
        assert_eq!((code, v["error"]["code"].as_str()), (400, Some("invalid_json")));
        let big = format!("{{\"service\":\"a\",\"status\":\"DOWN\",\"message\":\"{}\"}}", "x".repeat(2 << 20));
        let (code, v) = srv.post_raw("/api/v1/health/report", Some(&key), &big, None).await;
        assert_eq!((code, v["error"]["code"].as_str()), (413, Some("payload_too_large")));
        let (code, v) = srv.post_raw("/api/v1/health/report", None, "{}", None).await;
        assert_eq!((code, v["error"]["field"].as_str()), (401, Some("X-API-Key")));
        let (code, _) = srv.post_raw("/api/v1/health/report", Some("nines_0000000000000000_00"), "{}", None).await;
        assert_eq!(code, 401);
        let forged = format!("{}{}", &key[..key.len() - 1], if key.ends_with('0') { '1' } else { '0' });
        let (code, _) = srv.post("/api/v1/health/report", &forged, json!({"service":"a","status":"DOWN"})).await;
        assert_eq!(code, 401);
        let ro = srv.key("myorg", "read-only").await;
        let (code, _) = srv.post("/api/v1/health/report", &ro, json!({"service":"a","status":"DOWN"})).await;
        assert_eq!(code, 403);
        // storage and backup validation
        let (code, v) =
            srv.post("/api/v1/storage/report", &key, json!({"service":"d","allocatedBytes":100,"usedBytes":200})).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("usedBytes")));
        let (code, v) = srv.post("/api/v1/backup/report", &key, json!({"status":"success"})).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("service")));
        let (code, v) = srv.post("/api/v1/backup/report", &key, json!({"service":"a","status":"done"})).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("status")));
        let (code, v) = srv.get("/api/v1/services?colour=red", &key).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("colour")));
        assert_eq!(service_count(&srv).await, 0, "no rejected request wrote anything");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn organizations_are_walled_off() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let a = srv.key("org-a", "operator").await;
        let b = srv.key("org-b", "operator").await;
        let (_, ack) = srv.post("/api/v1/health/report", &a, json!({"service":"s","status":"OPERATIONAL","nodeId":"org-a/p/e/c","slaGroup":"g"})).await;
        let (code, v) = srv.get(&format!("/api/v1/services/{}", ack["id"]), &b).await;
        assert_eq!(code, 404, "another organization's service answers as a missing one: {v}");
        let (_, list) = srv.get("/api/v1/services", &b).await;
        assert!(list["items"].as_array().unwrap().is_empty());
        let (_, groups) = srv.get("/api/v1/sla-groups", &b).await;
        assert!(groups["items"].as_array().unwrap().is_empty());
        let (code, _) = srv.post("/api/v1/storage/report", &b, json!({"service":"s","nodeId":"org-a/p/e/c"})).await;
        assert_eq!(code, 403);
        let (code, _) = srv.post("/api/v1/backup/report", &b, json!({"service":"s","nodeId":"org-a/p/e/c","status":"success"})).await;
        assert_eq!(code, 403);
        let doc = "version: \"1\"\nhierarchy: {organization: org-a, platform: p, environment: e, cluster: c}\nservice: {name: x}\n";
        let (code, v) = srv.post_raw("/api/v1/services/apply", Some(&b), doc, None).await;
        assert_eq!((code, v["error"]["field"].as_str()), (403, Some("hierarchy.organization")));
        // the admin sees both organizations
        let (_, tree) = srv.get("/api/v1/hierarchy", &srv.admin).await;
        assert_eq!(tree["organizations"].as_array().unwrap().len(), 1);
        srv.stop().await;
    })
    .await;
}

const DOC: &str = r#"version: "1"
hierarchy:
  organization: "myorg"
  platform: "myplatform"
  environment: "prod"
  cluster: "cluster1"
  service: "postgresql"
service:
  name: "postgresql"
  criticality: "critical"
  slaGroup: "payment-system"
  workloadType: "statefulset"
  workloadName: "postgresql"
  type: "database"
  tags:
    - database
    - storage
metadata:
  serviceType: "PostgreSQL"
  allocatedStorage: "107374182400" # 100 GB in bytes
  usedStorage: "53687091200" # 50 GB in bytes
  freePercent: "50"
  version: "17.4"
  usedBy: # Linked services (shown in Storage tab)
    - name: "payment-api"
      displayName: "Payment API"
    - name: "user-service"
      displayName: "User Service"
operations:
  backup:
    expected: true
    maxAgeDays: 1
    schedule: "0 2 * * *"
    storageSize: "100Gi"
"#;

#[tokio::test]
async fn gitops_apply_then_pushes_fill_the_backup_and_storage_tabs() {
    each(async |db| {
        let (srv, clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let (code, v) = srv.post_raw("/api/v1/services/apply", Some(&key), DOC, Some("application/yaml")).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["items"][0]["action"], "created");
        let (_, v2) = srv.post_raw("/api/v1/services/apply", Some(&key), DOC, None).await;
        assert_eq!(v2["items"][0]["action"], "unchanged");
        // an agent key may push but not apply
        let agent = srv.key("myorg", "agent").await;
        let (code, _) = srv.post_raw("/api/v1/services/apply", Some(&agent), DOC, None).await;
        assert_eq!(code, 403);
        // storage tab from the declaration, then from a push
        let (_, st) = srv.get("/api/v1/storage", &key).await;
        assert_eq!(st["items"][0]["freePercent"], 50.0);
        assert_eq!(st["items"][0]["usedBy"][1]["displayName"], "User Service");
        let (code, ack) = srv
            .post("/api/v1/storage/report", &key, json!({"service":"postgresql","nodeId":"myorg/myplatform/prod/cluster1","allocatedBytes":107374182400u64,"usedBytes":102005473280u64,"storageType":"pvc","mountPath":"/var/lib/postgresql"}))
            .await;
        assert_eq!(code, 200, "{ack}");
        assert_eq!(ack["level"], "critical");
        let (_, st) = srv.get("/api/v1/storage?level=critical", &key).await;
        assert_eq!(st["items"].as_array().unwrap().len(), 1);
        assert_eq!(st["items"][0]["storageType"], "pvc");
        // backup tab: overdue after a day without a backup, current after a group report
        clock.advance(86_400_000 + 1000);
        let (_, b) = srv.get("/api/v1/backups?overdue=true", &key).await;
        assert_eq!(b["items"][0]["service"], "postgresql");
        let (code, r) = srv.post("/api/v1/backup/report", &key, json!({"slaGroup":"payment-system","status":"success"})).await;
        assert_eq!(code, 200, "{r}");
        assert_eq!(r["services"].as_array().unwrap().len(), 1);
        let (_, b) = srv.get("/api/v1/backups", &key).await;
        assert_eq!(b["items"][0]["overdue"], false);
        assert_eq!(b["items"][0]["lastStatus"], "success");
        assert_eq!(b["items"][0]["schedule"], "0 2 * * *");
        let (code, _) = srv.post("/api/v1/backup/report", &key, json!({"namespace":"production","status":"success"})).await;
        assert_eq!(code, 404, "no service declares that namespace");
        // a bad document lists every problem and applies nothing
        let bad = format!("{DOC}---\nversion: \"1\"\nhierarchy: {{organization: myorg, platform: p, environment: e, cluster: c}}\nservice: {{name: y, criticality: urgent, color: x}}\n---\nversion: \"3\"\nhierarchy: {{organization: myorg, platform: p, environment: e, cluster: c}}\nservice: {{name: z}}\n");
        let (code, v) = srv.post_raw("/api/v1/services/apply", Some(&key), &bad, None).await;
        assert_eq!(code, 422, "{v}");
        let fields: Vec<&str> = v["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["documents[1].service.color", "documents[2].version"]);
        assert_eq!(service_count(&srv).await, 1);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn stale_push_services_go_unknown_then_down_on_the_test_clock() {
    each(async |db| {
        let (srv, clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let (_, ack) = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service":"cron","status":"OPERATIONAL","nodeId":"myorg/p/e/c"}),
            )
            .await;
        let path = format!("/api/v1/services/{}", ack["id"]);
        clock.advance(121_000);
        let v = eventually("UNKNOWN", async || {
            let (_, v) = srv.get(&path, &key).await;
            (v["status"] == "UNKNOWN").then_some(v)
        })
        .await;
        let tl = v["timeline"].as_array().unwrap();
        assert_eq!(tl.last().unwrap()["cause"], "stale");
        assert_eq!(tl.last().unwrap()["at"], nines_core::clock::rfc3339(T0 + 120_000));
        clock.advance(200_000);
        eventually("DOWN", async || {
            let (_, v) = srv.get(&path, &key).await;
            (v["status"] == "DOWN").then_some(())
        })
        .await;
        srv.post(
            "/api/v1/health/report",
            &key,
            json!({"service":"cron","status":"OPERATIONAL","nodeId":"myorg/p/e/c"}),
        )
        .await;
        let (_, v) = srv.get(&path, &key).await;
        assert_eq!(v["status"], "OPERATIONAL");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_backup_is_recorded_whatever_its_age_while_status_keeps_the_lateness_limit() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let ts = |ms: i64| nines_core::clock::rfc3339(ms);
        for days in [9, 45] {
            let completed = T0 - days * 86_400_000;
            let (code, v) = srv
                .post(
                    "/api/v1/backup/report",
                    &key,
                    json!({"service":"pg","nodeId":"myorg/p/e/c","status":"success","timestamp":ts(completed)}),
                )
                .await;
            assert!(code == 200 || code == 201, "{days} days old: {v}");
            let (_, b) = srv.get("/api/v1/backups", &key).await;
            let pg = b["items"].as_array().unwrap().iter().find(|i| i["service"] == "pg").unwrap().clone();
            // the newest completion stays the last backup; an older one arriving later does not replace it
            assert_eq!(pg["lastSuccess"], ts(T0 - 9 * 86_400_000), "{pg}");
            // a status of the same age is refused, naming the field
            let (code, e) = srv
                .post(
                    "/api/v1/health/report",
                    &key,
                    json!({"service":"pg","nodeId":"myorg/p/e/c","status":"DOWN","timestamp":ts(completed)}),
                )
                .await;
            assert_eq!(code, 422, "{e}");
            assert_eq!(e["error"]["field"], "timestamp");
        }
        // the future stays refused for backups too
        let (code, e) = srv
            .post(
                "/api/v1/backup/report",
                &key,
                json!({"service":"pg","nodeId":"myorg/p/e/c","status":"success","timestamp":ts(T0 + 3_600_000)}),
            )
            .await;
        assert_eq!(code, 422, "{e}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_service_is_the_worst_of_its_live_sources_and_silent_pushes_do_not_take_it_down() {
    each(async |db| {
        let (srv, clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let push = |status: &str, source: Option<&str>, message: &str| {
            let mut body = json!({"service":"shop","status":status,"nodeId":"myorg/p/e/c","message":message});
            if let Some(src) = source {
                body["source"] = json!(src);
            }
            body
        };
        let (_, ack) =
            srv.post("/api/v1/health/report", &key, push("OPERATIONAL", Some("operator"), "2/2 ready")).await;
        let path = format!("/api/v1/services/{}", ack["id"]);
        srv.post("/api/v1/health/report", &key, push("OPERATIONAL", None, "cron ok")).await;
        // the cron job stops: its push source goes stale, the workload still speaks for the service
        clock.advance(400_000);
        let (code, _) =
            srv.post("/api/v1/health/report", &key, push("OPERATIONAL", Some("operator"), "2/2 ready")).await;
        assert!(code == 200, "{code}");
        let (_, v) = srv.get(&path, &key).await;
        assert_eq!(v["status"], "OPERATIONAL", "{v}");
        // the workload fails: a green push does not hide it, and the reason is on the timeline
        srv.post("/api/v1/health/report", &key, push("DOWN", Some("operator"), "0/2 ready")).await;
        srv.post("/api/v1/health/report", &key, push("OPERATIONAL", None, "cron ok")).await;
        let (_, v) = srv.get(&path, &key).await;
        assert_eq!(v["status"], "DOWN", "{v}");
        let last = v["timeline"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((last["to"].as_str(), last["reason"].as_str()), (Some("DOWN"), Some("0/2 ready")), "{v}");
        // an unknown source is refused, naming the field
        let (code, e) = srv.post("/api/v1/health/report", &key, push("DOWN", Some("kubelet"), "x")).await;
        assert_eq!(code, 422, "{e}");
        assert!(e["error"]["field"].as_str().unwrap_or_default().contains("source"), "{e}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn failed_backups_show_as_failed_and_storage_without_a_figure_is_unknown() {
    each(async |db| {
        let (srv, clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let backup = |status: &str| json!({"service":"pg","nodeId":"myorg/p/e/c","status":status});
        let (code, v) = srv.post("/api/v1/backup/report", &key, backup("failed")).await;
        assert!(code == 200 || code == 201, "{v}");
        let pg = |b: &Value| b["items"].as_array().unwrap().iter().find(|i| i["service"] == "pg").unwrap().clone();
        let (_, b) = srv.get("/api/v1/backups", &key).await;
        assert_eq!((pg(&b)["state"].as_str(), pg(&b)["overdue"].as_bool()), (Some("failed"), Some(false)), "{b}");
        // only failures, past the maximum age from registration: overdue
        let max_age_ms = (pg(&b)["maxAgeDays"].as_f64().unwrap() * 86_400_000.0) as i64;
        clock.advance(max_age_ms + 1000);
        srv.post("/api/v1/backup/report", &key, backup("failed")).await;
        let (_, b) = srv.get("/api/v1/backups", &key).await;
        assert_eq!((pg(&b)["state"].as_str(), pg(&b)["overdue"].as_bool()), (Some("overdue"), Some(true)), "{b}");
        // a success makes it current; a failure after it is failed again, not overdue
        srv.post("/api/v1/backup/report", &key, backup("success")).await;
        let (_, b) = srv.get("/api/v1/backups", &key).await;
        assert_eq!(pg(&b)["state"], "current", "{b}");
        clock.advance(60_000);
        srv.post("/api/v1/backup/report", &key, backup("failed")).await;
        let (_, b) = srv.get("/api/v1/backups", &key).await;
        assert_eq!((pg(&b)["state"].as_str(), pg(&b)["overdue"].as_bool()), (Some("failed"), Some(false)), "{b}");

        // a database that never reported storage: no data, not healthy
        srv.post(
            "/api/v1/health/report",
            &key,
            json!({"service":"orders-db","nodeId":"myorg/p/e/c","status":"OPERATIONAL","tags":["database"]}),
        )
        .await;
        let (_, st) = srv.get("/api/v1/storage?level=unknown", &key).await;
        let items = st["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{st}");
        assert_eq!((items[0]["service"].as_str(), items[0]["freePercent"].is_null()), (Some("orders-db"), true));
        let (_, st) = srv.get("/api/v1/storage?level=healthy", &key).await;
        assert!(st["items"].as_array().unwrap().iter().all(|i| i["service"] != "orders-db"), "{st}");
        // a storage push that carries neither field is the seed's 100 % free
        srv.post("/api/v1/storage/report", &key, json!({"service":"orders-db","nodeId":"myorg/p/e/c"})).await;
        let (_, st) = srv.get("/api/v1/storage?level=healthy", &key).await;
        let db = st["items"].as_array().unwrap().iter().find(|i| i["service"] == "orders-db").cloned();
        assert_eq!(db.map(|d| d["freePercent"].clone()), Some(json!(100.0)), "{st}");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn late_reports_via_the_api_land_at_their_event_time() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let ts = |ms: i64| nines_core::clock::rfc3339(ms);
        srv.post(
            "/api/v1/health/report",
            &key,
            json!({"service":"a","status":"OPERATIONAL","nodeId":"myorg/p/e/c","timestamp":ts(T0 - 60_000)}),
        )
        .await;
        let (_, ack) = srv
            .post("/api/v1/health/report", &key, json!({"service":"a","status":"OPERATIONAL","nodeId":"myorg/p/e/c"}))
            .await;
        let (code, late) = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service":"a","status":"DOWN","nodeId":"myorg/p/e/c","timestamp":ts(T0 - 30_000)}),
            )
            .await;
        assert_eq!(code, 200);
        assert_eq!(late["late"], true);
        let (_, v) = srv.get(&format!("/api/v1/services/{}", ack["id"]), &key).await;
        let tl: Vec<(String, String)> = v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["at"].as_str().unwrap().to_string(), t["to"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            tl,
            vec![
                (ts(T0 - 60_000), "OPERATIONAL".into()),
                (ts(T0 - 30_000), "DOWN".into()),
                (ts(T0), "OPERATIONAL".into())
            ]
        );
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn api_keys_are_managed_by_admins() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let op = srv.key("myorg", "operator").await;
        let (code, _) = srv.get("/api/v1/apikeys", &op).await;
        assert_eq!(code, 403);
        let (code, v) = srv.post("/api/v1/apikeys", &srv.admin, json!({"role":"agent"})).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("organization")), "{v}");
        let (code, v) = srv.post("/api/v1/apikeys", &srv.admin, json!({"organization":"o","role":"root"})).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("role")));
        let (_, list) = srv.get("/api/v1/apikeys", &srv.admin).await;
        let list = list["items"].clone();
        assert!(list.as_array().unwrap().iter().all(|k| k.get("secret").is_none()));
        // the database holds the SHA-256 of each key, never the key
        let rows = nines_store::testing::table_text(&srv.store, "api_keys").await.unwrap();
        let digest: String = nines_store::hash_key(&op).iter().map(|b| format!("{b:02x}")).collect();
        assert!(rows.contains(&digest), "the digest is what is stored: {rows}");
        for secret in [&op, &srv.admin] {
            assert!(!rows.contains(secret.as_str()), "a key is stored in clear");
            // not the part after the id either
            let tail = secret.rsplit(['_', '.']).next().unwrap();
            assert!(tail.len() < 16 || !rows.contains(tail), "part of a key is stored in clear");
        }
        let id = list.as_array().unwrap().iter().find(|k| k["role"] == "operator").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let resp = srv
            .http
            .delete(format!("{}/api/v1/apikeys/{id}", srv.base))
            .header("X-API-Key", &srv.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let (code, _) = srv.get("/api/v1/services", &op).await;
        assert_eq!(code, 401, "a revoked key stops working");
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn health_and_readiness() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        health_and_readiness_on(db).await;
    }
}

async fn health_and_readiness_on(db: nines_store::testing::TestDb) {
    let db = db;
    let (srv, _clock) = start(&db).await;
    let r = srv.http.get(format!("{}/healthz", srv.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = srv.http.get(format!("{}/readyz", srv.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = srv.http.get(format!("{}/nope", srv.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    srv.stop().await;
}

#[tokio::test]
async fn openapi_document_has_not_drifted() {
    let doc = nines_server::openapi::document_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        doc == committed,
        "docs/openapi.json is out of date; regenerate it with `cargo run -- openapi --output docs/openapi.json`"
    );
    let v: Value = serde_json::from_str(&doc).unwrap();
    for p in [
        "/api/v1/health/report",
        "/api/v1/backup/report",
        "/api/v1/storage/report",
        "/api/v1/services/apply",
        "/api/v1/services/{id}",
        "/api/v1/hierarchy",
    ] {
        assert!(v["paths"].get(p).is_some(), "{p} missing from the document");
    }
}

#[tokio::test]
async fn services_are_deleted_with_their_history() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let key = srv.key("myorg", "operator").await;
        let (_, ack) = srv
            .post("/api/v1/health/report", &key, json!({"service":"gone","status":"DOWN","nodeId":"myorg/p/e/c"}))
            .await;
        let del = |q: &str| {
            let req = srv.http.delete(format!("{}/api/v1/services?{q}", srv.base)).header("X-API-Key", &key);
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(del("nodeId=other/p/e/c&service=gone").await, 403);
        assert_eq!(del("nodeId=myorg/p/e/c&service=gone").await, 204);
        assert_eq!(del("nodeId=myorg/p/e/c&service=gone").await, 404);
        let (code, _) = srv.get(&format!("/api/v1/services/{}", ack["id"]), &key).await;
        assert_eq!(code, 404);
        // pushing again creates it afresh
        let (code, again) = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service":"gone","status":"OPERATIONAL","nodeId":"myorg/p/e/c"}),
            )
            .await;
        assert_eq!((code, again["created"].as_bool()), (201, Some(true)));
        srv.stop().await;
    })
    .await;
}

/// Follow `nextCursor` from the first page of `path` with `limit`, and
/// return the pages' items.
async fn walk_pages(srv: &Srv, path: &str, key: &str, limit: usize) -> Vec<Vec<Value>> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let (code, v) = srv.get(&url, key).await;
        assert_eq!(code, 200, "{url}: {v}");
        let items = v["items"].as_array().unwrap_or_else(|| panic!("{url}: no items in {v}")).clone();
        assert!(items.len() <= limit, "{url}: {} items", items.len());
        pages.push(items);
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert!(v.get("nextCursor").is_some(), "the last page says so with null: {v}");
                return pages;
            }
        }
    }
}

#[tokio::test]
async fn every_list_pages_with_limit_and_cursor() {
    each(async |db| {
        let (srv, clock) = start(db).await;
        let key = srv.key("acme", "admin").await;
        let mut ids = Vec::new();
        for i in 0..7 {
            let body = json!({"service": format!("svc-{i}"), "status": "OPERATIONAL", "nodeId": format!("acme/p/prod/c{}", i % 3)});
            let (code, ack) = srv.post("/api/v1/health/report", &key, body).await;
            assert_eq!(code, 201, "{ack}");
            ids.push(ack["id"].as_i64().unwrap());
        }
        // another organization's services are in no page
        let other = srv.key("globex", "operator").await;
        let (code, _) = srv.post("/api/v1/health/report", &other, json!({"service": "g", "status": "OPERATIONAL"})).await;
        assert_eq!(code, 201);

        // services: pages of 3, 3, 1 that together are the whole list, in its order
        let (_, whole) = srv.get("/api/v1/services", &key).await;
        assert_eq!(whole["nextCursor"], Value::Null, "{whole}");
        let whole = whole["items"].as_array().unwrap().clone();
        assert_eq!(whole.len(), 7);
        let pages = walk_pages(&srv, "/api/v1/services", &key, 3).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        assert_eq!(pages.concat(), whole);
        // a filter holds on every page
        let pages = walk_pages(&srv, "/api/v1/services?nodeId=acme/p/prod/c1", &key, 1).await;
        let names: Vec<String> = pages.concat().iter().map(|s| s["service"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, ["svc-1", "svc-4"]);

        // downtimes page in the database, newest first; two start at the same millisecond
        let mut opened = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            if n == 3 {
                clock.advance(1_000);
            }
            let (code, d) =
                srv.post("/api/v1/downtimes", &key, json!({"title": format!("outage {n}"), "serviceIds": [id]})).await;
            assert_eq!(code, 201, "{d}");
            opened.push(d["id"].as_i64().unwrap());
        }
        let pages = walk_pages(&srv, "/api/v1/downtimes", &key, 2).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
        let seen: Vec<i64> = pages.concat().iter().map(|d| d["id"].as_i64().unwrap()).collect();
        let mut newest_first = opened.clone();
        newest_first.reverse();
        assert_eq!(seen, newest_first, "each once, newest first");
        // the cursor is a position in the order, not an offset: it holds with a filter added
        let (_, first) = srv.get("/api/v1/downtimes?limit=3", &key).await;
        let cursor = first["nextCursor"].as_str().unwrap().to_string();
        let (_, next) = srv.get(&format!("/api/v1/downtimes?limit=3&cursor={cursor}&state=open"), &key).await;
        let next: Vec<i64> = next["items"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect();
        assert_eq!(next, newest_first[3..6]);

        // limits and cursors that do not parse are named
        for (q, field) in [
            ("limit=0", "limit"),
            ("limit=1001", "limit"),
            ("limit=many", "limit"),
            ("cursor=bm9wZQ", "cursor"),
            ("cursor=%21%21", "cursor"),
            ("limit=1&limit=2", "limit"),
        ] {
            for list in ["/api/v1/services", "/api/v1/downtimes", "/api/v1/apikeys", "/api/v1/agents"] {
                let k = if list == "/api/v1/apikeys" { &srv.admin } else { &key };
                let (code, v) = srv.get(&format!("{list}?{q}"), k).await;
                assert_eq!((code, v["error"]["field"].as_str()), (422, Some(field)), "{list}?{q}: {v}");
            }
        }
        // a list with no filters of its own still refuses a parameter it does not know
        let (code, v) = srv.get("/api/v1/maintenance?state=open", &key).await;
        assert_eq!(code, 422, "{v}");
        // a cursor of one list is not a position in another
        let (_, sp) = srv.get("/api/v1/services?limit=1", &key).await;
        let c = sp["nextCursor"].as_str().unwrap();
        let (code, v) = srv.get(&format!("/api/v1/downtimes?cursor={c}"), &key).await;
        assert_eq!((code, v["error"]["field"].as_str()), (422, Some("cursor")), "{v}");
        srv.stop().await;
    })
    .await;
}
