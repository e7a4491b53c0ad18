//! End to end: Ingress → Endpoint CR (owner reference, finalizer) → a real
//! `nines serve` has the service and its check; an annotation change reaches
//! the check; deleting the Ingress deletes the API service. Runs against the
//! in-process fake API server, or a real cluster when `NINES_TEST_KUBECONFIG`
//! is set (see docs/operator.md).

mod common;
mod fake_kube;

use common::{Cluster, OPERATOR_USER, Operator, Server, rbac};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use nines_operator::crd::{CLEANUP_FINALIZER, Endpoint};
use serde_json::{Value, json};

fn ingress(name: &str, host: &str, path: &str) -> Ingress {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": {"endpoints.nines.dev/path": path}},
        "spec": {
            "tls": [{"hosts": [host], "secretName": "tls"}],
            "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]
        }
    }))
    .unwrap()
}

/// The check of `service` as the API shows it, if any.
async fn check_of(srv: &Server, service: &str) -> Option<Value> {
    let checks = srv.get("/api/v1/checks").await;
    let checks = checks["items"].clone();
    checks.as_array()?.iter().find(|c| c["service"] == service).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_to_api_service_and_back() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        ingress_to_api_service_and_back_on(db).await;
    }
}

async fn ingress_to_api_service_and_back_on(db: nines_store::testing::TestDb) {
    let mut cluster = Cluster::new().await;
    let srv = Server::start(db).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let app = cluster.namespace("shop").await;
    let op = Operator::start(&cluster, &ops, &srv.base, &key, json!({})).await;

    let host = format!("app-{}.e2e.invalid", cluster.suffix);
    let ingresses: Api<Ingress> = Api::namespaced(cluster.client.clone(), &app);
    let ing = ingresses.create(&PostParams::default(), &ingress("web", &host, "/health")).await.unwrap();
    let uid = ing.uid().unwrap();

    // the Endpoint CR appears, owned by the Ingress, behind our finalizer, synced
    let endpoints: Api<Endpoint> = Api::namespaced(cluster.client.clone(), &app);
    let ep = cluster
        .eventually("a synced Endpoint CR", async || {
            let list = endpoints.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|e| e.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("synced"))
        })
        .await;
    assert_eq!(ep.spec.remote_address, host);
    assert_eq!(ep.spec.path, "/health");
    let owners = ep.owner_references();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].uid, uid);
    assert_eq!(owners[0].kind, "Ingress");
    assert!(ep.finalizers().iter().any(|f| f == CLEANUP_FINALIZER));
    let status = ep.status.clone().unwrap();
    let service = status.service.clone().unwrap();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.status, "True");

    // the real server has the service and its check with the annotated path
    let check = cluster.eventually("the check in nines", async || check_of(&srv, &service).await).await;
    assert!(check["spec"].to_string().contains("/health"), "{check}");
    assert!(check["nodeId"].as_str().unwrap().starts_with("acme/k8s/test/"), "{check}");

    // an annotation change reaches the check
    let patch = json!({"metadata": {"annotations": {"endpoints.nines.dev/path": "/v2/health"}}});
    ingresses.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    cluster
        .eventually("the new path in nines", async || {
            check_of(&srv, &service).await.filter(|c| c["spec"].to_string().contains("/v2/health"))
        })
        .await;

    // deleting the Ingress deletes the Endpoint CR (garbage collection), whose
    // finalizer deletes the service in nines before the CR goes
    ingresses.delete("web", &DeleteParams::default()).await.unwrap();
    if !cluster.collects_garbage() {
        // no controller manager: the test deletes what the collector would
        endpoints.delete(&ep.name_any(), &DeleteParams::background()).await.unwrap();
    }
    cluster
        .eventually("the Endpoint CR to be gone", async || {
            endpoints.get_opt(&ep.name_any()).await.ok()?.is_none().then_some(())
        })
        .await;
    let services = srv.get("/api/v1/services").await;
    assert!(!services.to_string().contains(&service), "service still in nines: {services}");
    assert!(check_of(&srv, &service).await.is_none());

    // Events were recorded for the synced Endpoint
    if let Some(fake) = &cluster.fake {
        assert!(fake.requests().iter().any(|r| r.starts_with("POST /apis/events.k8s.io/v1/namespaces/")));
        // everything the operator asked of the API server, the chart's RBAC allows
        rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    }
    let _ = ep.object_ref(&());
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}
