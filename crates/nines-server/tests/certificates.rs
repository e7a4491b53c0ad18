//! Certificates: reported, replaced by key, aged by the clock into
//! expiring_soon and expired, scoped to the key's organization.

mod common;

use common::*;
use nines_core::clock::rfc3339;
use nines_store::testing::all;
use serde_json::json;

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn certificates_are_reported_aged_and_scoped() {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, clock) = start(&db).await;
        let op = srv.key("acme", "operator").await;
        let other = srv.key("globex", "admin").await;
        let reader = srv.key("acme", "read-only").await;
        let cert = |not_after: i64, status: &str| {
            json!({"nodeId": "acme/k8s/prod/c1", "namespace": "shop", "name": "api-tls", "secretName": "api-tls",
                "dnsNames": ["api.example.com"], "issuer": "letsencrypt", "issuerKind": "clusterissuer",
                "notBefore": rfc3339(T0 - 60 * DAY), "notAfter": rfc3339(not_after), "status": status})
        };
        let (c, v) = srv.post("/api/v1/certificates", &op, cert(T0 + 45 * DAY, "ready")).await;
        assert_eq!(c, 201, "{v}");
        let id = v["id"].as_i64().unwrap();
        assert_eq!(v["status"], "ready");
        assert_eq!(v["daysLeft"], 45);
        // the same key again replaces it (the operator's path and the seed's snake_case names)
        let snake = json!({"node_id": "acme/k8s/prod/c1", "namespace": "shop", "name": "api-tls",
            "dns_names": ["api.example.com", "www.example.com"], "issuer_name": "letsencrypt",
            "not_after": rfc3339(T0 + 40 * DAY), "is_ready": true, "certificate_status": "ready"});
        let (c, v) = srv.post("/api/v1/certificates/report", &op, snake).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!(v["id"].as_i64(), Some(id));
        let (_, l) = srv.get("/api/v1/certificates", &reader).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1, "{l}");
        assert_eq!(l["items"][0]["dnsNames"], json!(["api.example.com", "www.example.com"]));
        // time alone turns it expiring_soon, then expired
        clock.advance(11 * DAY);
        let (_, v) = srv.get(&format!("/api/v1/certificates/{id}"), &reader).await;
        assert_eq!(v["status"], "expiring_soon", "{v}");
        assert_eq!(v["reportedStatus"], "ready");
        let (_, l) = srv.get("/api/v1/certificates?status=expiring_soon", &reader).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1);
        let (_, l) = srv.get("/api/v1/certificates?status=ready", &reader).await;
        assert!(l["items"].as_array().unwrap().is_empty());
        clock.advance(30 * DAY);
        let (_, v) = srv.get(&format!("/api/v1/certificates/{id}"), &reader).await;
        assert_eq!(v["status"], "expired");
        assert_eq!(v["daysLeft"], -1);
        // another organization neither sees nor writes it
        let (_, l) = srv.get("/api/v1/certificates", &other).await;
        assert!(l["items"].as_array().unwrap().is_empty(), "{l}");
        let (c, _) = srv.get(&format!("/api/v1/certificates/{id}"), &other).await;
        assert_eq!(c, 404);
        let (c, v) = srv.post("/api/v1/certificates", &other, cert(T0, "ready")).await;
        assert_eq!(c, 403, "{v}");
        assert_eq!(v["error"]["field"], "nodeId");
        // bad input names its field and writes nothing
        let mut bad = cert(T0, "valid");
        let (c, v) = srv.post("/api/v1/certificates", &op, bad.clone()).await;
        assert_eq!(c, 422, "{v}");
        assert!(v.to_string().contains("status"), "{v}");
        bad["status"] = json!("ready");
        bad["notAfter"] = json!("next year");
        bad["name"] = json!("other");
        let (c, v) = srv.post("/api/v1/certificates", &op, bad.clone()).await;
        assert_eq!(c, 422, "{v}");
        assert!(v.to_string().contains("notAfter"), "{v}");
        bad["notAfter"] = json!(rfc3339(T0));
        bad["colour"] = json!("green");
        let (c, v) = srv.post("/api/v1/certificates", &op, bad).await;
        assert_eq!(c, 422, "{v}");
        assert!(v.to_string().contains("colour"), "{v}");
        let (_, l) = srv.get("/api/v1/certificates", &reader).await;
        assert_eq!(l["items"].as_array().unwrap().len(), 1, "nothing half-written: {l}");
        // a read-only key cannot delete; the operator's finalizer can
        let url = format!("{}/api/v1/certificates/{id}", srv.base);
        let del = |key: String| {
            let req = srv.http.delete(url.clone()).header("X-API-Key", key);
            async move { req.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(del(reader.clone()).await, 403);
        assert_eq!(del(other.clone()).await, 404);
        assert_eq!(del(op.clone()).await, 204);
        assert_eq!(del(op.clone()).await, 404);
        srv.stop().await;
    }
}
