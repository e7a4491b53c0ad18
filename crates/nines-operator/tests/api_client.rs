//! The nines API client against a loopback axum server that records every
//! request and answers as the API contract says.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use nines_core::Status;
use nines_operator::api::*;
use nines_operator::mapping::apply::{Node, endpoint_document};
use nines_operator::mapping::endpoint::check_for_endpoint;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path_and_query: String,
    key: Option<String>,
    content_type: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Recorded>>>;

async fn handler(State(log): State<Log>, req: Request) -> impl IntoResponse {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let h: &HeaderMap = &parts.headers;
    let rec = Recorded {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        key: h.get("x-api-key").and_then(|v| v.to_str().ok()).map(String::from),
        content_type: h.get("content-type").and_then(|v| v.to_str().ok()).map(String::from),
        body: String::from_utf8_lossy(&body).to_string(),
    };
    log.lock().unwrap().push(rec.clone());
    if rec.key.as_deref() != Some("op-key") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"code": "unauthorized", "message": "bad key", "field": "X-API-Key"}})),
        )
            .into_response();
    }
    let path = parts.uri.path();
    match (rec.method.as_str(), path) {
        ("GET", "/api/v1/whoami") => {
            axum::Json(json!({"keyId": "k1", "organization": "acme", "role": "operator"})).into_response()
        }
        ("POST", "/api/v1/services/apply") => axum::Json(json!({"items": [
            {"id": 41, "service": "production-app-example-com", "nodeId": "acme/p/prod/c1", "action": "created"}
        ]}))
        .into_response(),
        ("DELETE", "/api/v1/services") => {
            if rec.path_and_query.contains("service=gone") {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"error": {"code": "not_found", "message": "no such service"}})),
                )
                    .into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        ("POST", "/api/v1/clusters/register") => axum::Json(
            json!({"id": "7", "registered": true, "created": false, "name": "c1", "nodeId": "acme/p/prod/c1"}),
        )
        .into_response(),
        ("POST", "/api/v1/certificates") => {
            (StatusCode::CREATED, axum::Json(json!({"id": "cert-1", "name": "api-tls"}))).into_response()
        }
        ("DELETE", "/api/v1/clusters/8") => {
            (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"code": "not_found", "message": "no cluster 8"}})))
                .into_response()
        }
        ("DELETE", p)
            if p.starts_with("/api/v1/certificates/")
                || p.starts_with("/api/v1/status-page/groups/")
                || p.starts_with("/api/v1/clusters/") =>
        {
            StatusCode::NO_CONTENT.into_response()
        }
        ("PUT", p) if p.starts_with("/api/v1/inventory/") => {
            axum::Json(json!({"items": [{"id": "1", "key": "k", "action": "created"}]})).into_response()
        }
        ("PUT", p) if p.starts_with("/api/v1/status-page/groups/") => axum::Json(json!({"ok": true})).into_response(),
        ("POST", "/api/v1/backup/report") => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": "invalid_value", "message": "unknown status", "field": "status"}})),
        )
            .into_response(),
        ("POST", _) => (StatusCode::ACCEPTED, axum::Json(json!({"ok": true}))).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn server() -> (String, Log) {
    let log: Log = Arc::default();
    let app = Router::new().fallback(handler).with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/"), log)
}

fn json_body(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn every_call_matches_the_contract() {
    let (base, log) = server().await;
    let c = NinesClient::new(&base, "op-key").unwrap();

    let me = c.whoami().await.unwrap();
    assert_eq!(me, WhoAmI { key_id: "k1".into(), organization: Some("acme".into()), role: "operator".into() });

    let node = Node::parse("acme/p/prod/c1").unwrap();
    let spec = nines_operator::crd::EndpointSpec {
        display_name: "app.example.com".into(),
        remote_address: "app.example.com".into(),
        remote_port: 443,
        kind: "http".into(),
        tls: true,
        path: "/health".into(),
        timeout: 10,
        interval: 30,
        expected_status_codes: vec!["200".into()],
        expected_body: Some("ok".into()),
        source_ingress: "webapp".into(),
    };
    let doc = endpoint_document(&node, "production", "app-example-com", &spec, check_for_endpoint(&spec).unwrap());
    let applied = c.apply(&[doc]).await.unwrap();
    assert_eq!(applied.items[0].id, "41");

    assert!(c.delete_service("acme/p/prod/c1", "production-app-example-com").await.unwrap());
    assert!(!c.delete_service("acme/p/prod/c1", "gone").await.unwrap());

    let ts = "2025-01-01T00:00:00Z".to_string();
    c.report_health(&HealthReport {
        service: "pg".into(),
        status: Status::Degraded,
        node_id: "acme/p/prod/c1".into(),
        message: Some("2/3 ready".into()),
        timestamp: ts.clone(),
        source: None,
    })
    .await
    .unwrap();
    let err = c
        .report_backup(&BackupReport {
            service: "pg".into(),
            node_id: "acme/p/prod/c1".into(),
            status: "success".into(),
            size_bytes: Some(10),
            timestamp: Some(ts.clone()),
            message: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "nines API 400: invalid_value: unknown status (status)");
    assert!(!err.is_transient());
    let cert_id = c
        .upsert_certificate(&CertificateReport {
            node_id: "acme/p/prod/c1".into(),
            namespace: "production".into(),
            name: "api-tls".into(),
            secret_name: "api-tls".into(),
            dns_names: vec!["api.example.com".into()],
            ip_addresses: vec![],
            issuer_name: "letsencrypt".into(),
            issuer_kind: "clusterissuer".into(),
            not_before: None,
            not_after: Some(ts.clone()),
            renewal_time: None,
            is_ready: true,
            certificate_status: "expiring_soon".into(),
        })
        .await
        .unwrap();
    assert_eq!(cert_id, "cert-1");
    assert!(c.delete_certificate(&cert_id).await.unwrap());
    let reg = c
        .register_cluster(&ClusterRegistration {
            workspace: "acme/p/prod".into(),
            cluster_name: Some("c1".into()),
            api_server_url: Some("https://10.0.0.1:6443".into()),
            kubernetes_version: Some("v1.33.1".into()),
        })
        .await
        .unwrap();
    assert!(reg.registered);
    assert_eq!(reg.id.as_deref(), Some("7"));
    c.put_artifacts(
        "acme/p/prod/c1",
        &[ArtifactItem {
            image: "docker.io/library/nginx:1.25".into(),
            registry: "docker.io".into(),
            repository: "library/nginx".into(),
            tag: Some("1.25".into()),
            digest: None,
            used_in_namespaces: vec![NamespaceUse { name: "production".into(), pod_count: 2 }],
            total_pod_count: 2,
        }],
    )
    .await
    .unwrap();
    c.put_apps(
        "acme/p/prod/c1",
        &[AppItem {
            name: "myapp".into(),
            namespace: "production".into(),
            block: "myapp".into(),
            version: Some("1.2.0".into()),
            state: "installed".into(),
            last_action: Some("install".into()),
            last_action_status: Some("success".into()),
            artifacts: vec!["docker.io/library/nginx:1.25".into()],
        }],
    )
    .await
    .unwrap();
    c.put_status_group(
        "main group",
        &StatusPageGroup {
            display_name: "Main".into(),
            description: "Main group".into(),
            services: vec![GroupMember {
                node_id: "acme/p/prod/c1".into(),
                service: "status-default-api".into(),
                display_name: "API".into(),
                description: "Kubernetes API".into(),
            }],
        },
    )
    .await
    .unwrap();
    assert!(c.delete_status_group("main").await.unwrap());
    // removing a cluster: one already gone is not an error
    assert!(c.delete_cluster(reg.id.as_deref().unwrap()).await.unwrap());
    assert!(!c.delete_cluster("8").await.unwrap());

    let log = log.lock().unwrap().clone();
    assert!(log.iter().all(|r| r.key.as_deref() == Some("op-key")));
    let calls: Vec<(&str, &str)> = log.iter().map(|r| (r.method.as_str(), r.path_and_query.as_str())).collect();
    assert_eq!(
        calls,
        [
            ("GET", "/api/v1/whoami"),
            ("POST", "/api/v1/services/apply?source=operator"),
            ("DELETE", "/api/v1/services?nodeId=acme%2Fp%2Fprod%2Fc1&service=production-app-example-com"),
            ("DELETE", "/api/v1/services?nodeId=acme%2Fp%2Fprod%2Fc1&service=gone"),
            ("POST", "/api/v1/health/report"),
            ("POST", "/api/v1/backup/report"),
            ("POST", "/api/v1/certificates"),
            ("DELETE", "/api/v1/certificates/cert-1"),
            ("POST", "/api/v1/clusters/register"),
            ("PUT", "/api/v1/inventory/artifacts"),
            ("PUT", "/api/v1/inventory/apps"),
            ("PUT", "/api/v1/status-page/groups/main%20group"),
            ("DELETE", "/api/v1/status-page/groups/main"),
            ("DELETE", "/api/v1/clusters/7"),
            ("DELETE", "/api/v1/clusters/8"),
        ]
    );
    // apply: YAML documents, the core document plus `checks`
    assert_eq!(log[1].content_type.as_deref(), Some("application/yaml"));
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(log[1].body.trim_start_matches("---\n")).unwrap();
    assert_eq!(doc["service"]["name"], serde_yaml_ng::Value::from("production-app-example-com"));
    assert_eq!(doc["namespace"], serde_yaml_ng::Value::from("production"));
    assert_eq!(doc["checks"][0]["type"], serde_yaml_ng::Value::from("http"));
    assert_eq!(doc["checks"][0]["url"], serde_yaml_ng::Value::from("https://app.example.com/health"));
    assert_eq!(doc["checks"][0]["expectedBody"], serde_yaml_ng::Value::from("ok"));
    assert_eq!(
        json_body(&log[4]),
        json!({"service": "pg", "status": "DEGRADED", "nodeId": "acme/p/prod/c1", "message": "2/3 ready", "timestamp": ts})
    );
    assert_eq!(
        json_body(&log[5]),
        json!({"service": "pg", "nodeId": "acme/p/prod/c1", "status": "success", "sizeBytes": 10, "timestamp": ts})
    );
    // the certificates contract: snake_case fields, null times as null
    assert_eq!(
        json_body(&log[6]),
        json!({"nodeId": "acme/p/prod/c1", "namespace": "production", "name": "api-tls", "secret_name": "api-tls",
               "dns_names": ["api.example.com"], "ip_addresses": [], "issuer_name": "letsencrypt", "issuer_kind": "clusterissuer",
               "not_before": null, "not_after": ts, "renewal_time": null, "is_ready": true, "certificate_status": "expiring_soon"})
    );
    assert_eq!(
        json_body(&log[8]),
        json!({"workspace": "acme/p/prod", "clusterName": "c1", "apiServerUrl": "https://10.0.0.1:6443", "kubernetesVersion": "v1.33.1"})
    );
    assert_eq!(
        json_body(&log[9]),
        json!({"nodeId": "acme/p/prod/c1", "items": [{"image": "docker.io/library/nginx:1.25", "registry": "docker.io",
               "repository": "library/nginx", "tag": "1.25", "digest": null,
               "usedInNamespaces": [{"name": "production", "podCount": 2}], "totalPodCount": 2}]})
    );
    assert_eq!(json_body(&log[10])["items"][0]["lastActionStatus"], json!("success"));
    // status page groups: the contract's body
    assert_eq!(
        json_body(&log[11]),
        json!({"displayName": "Main", "description": "Main group", "services": [
            {"nodeId": "acme/p/prod/c1", "service": "status-default-api", "displayName": "API", "description": "Kubernetes API"}]})
    );
}

#[tokio::test]
async fn errors_are_typed() {
    let (base, _log) = server().await;
    let bad = NinesClient::new(&base, "wrong").unwrap();
    let e = bad.whoami().await.unwrap_err();
    assert_eq!(e.to_string(), "nines API 401: unauthorized: bad key (X-API-Key)");
    assert!(!e.is_transient());
    assert!(matches!(NinesClient::new("ftp://x", "k"), Err(ApiError::Url(_))));
    // nothing listens on port 9 of loopback: a transport error, worth retrying
    let down = NinesClient::new("http://127.0.0.1:9", "op-key").unwrap();
    assert!(down.whoami().await.unwrap_err().is_transient());
}
