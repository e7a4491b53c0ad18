//! Cluster registration and the operator's inventory (images, apps, hosts):
//! the seed's idempotency rules, upsert by key, organization scoping, roles,
//! and bad input naming its field with nothing half-written.

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

async fn put(srv: &Srv, path: &str, key: &str, body: Value) -> (u16, Value) {
    let resp = srv.http.put(format!("{}{path}", srv.base)).header("X-API-Key", key).json(&body).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn cluster_registration_follows_the_workspace_rules() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let op = srv.key("acme", "operator").await;
        let other = srv.key("globex", "operator").await;
        let reader = srv.key("acme", "read-only").await;
        let reg = async |key: &str, body: Value| srv.post("/api/v1/clusters/register", key, body).await;

        // no cluster and no name: nothing is registered
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s/prod"})).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!(v["registered"], false);
        assert!(v["id"].is_null());

        // a name creates the workspace's cluster
        let (c, v) =
            reg(&op, json!({"workspace": "acme/k8s/prod", "clusterName": "c1", "kubernetesVersion": "v1.33.1"})).await;
        assert_eq!(c, 201, "{v}");
        assert_eq!(v["created"], true);
        assert_eq!(v["nodeId"], "acme/k8s/prod/c1");
        let id = v["id"].as_str().unwrap().to_string();

        // the API's cluster wins: another name is ignored, same id
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s/prod", "clusterName": "renamed"})).await;
        assert_eq!(c, 200, "{v}");
        assert_eq!(v["id"], id.as_str());
        assert_eq!(v["name"], "c1");
        assert_eq!(v["created"], false);
        assert_eq!(v["kubernetesVersion"], "v1.33.1");
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s/prod"})).await;
        assert_eq!((c, v["id"].as_str()), (200, Some(id.as_str())));

        // another workspace gets its own cluster
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s/staging", "clusterName": "c1"})).await;
        assert_eq!(c, 201, "{v}");
        assert_ne!(v["id"], id.as_str());

        // scope and role
        let (c, v) = reg(&other, json!({"workspace": "acme/k8s/prod", "clusterName": "x"})).await;
        assert_eq!(c, 403, "{v}");
        assert_eq!(v["error"]["field"], "workspace");
        let (c, _) = reg(&reader, json!({"workspace": "acme/k8s/prod", "clusterName": "x"})).await;
        assert_eq!(c, 403);
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s", "clusterName": "x"})).await;
        assert_eq!(c, 422, "{v}");
        assert_eq!(v["error"]["field"], "workspace");
        let (c, v) = reg(&op, json!({"workspace": "acme/k8s/dev", "clusterName": "a b"})).await;
        assert_eq!(c, 422, "{v}");
        assert_eq!(v["error"]["field"], "clusterName");

        let (_, list) = srv.get("/api/v1/clusters", &op).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);
        let (_, list) = srv.get("/api/v1/clusters", &other).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
        srv.stop().await;
    })
    .await;
}

#[tokio::test]
async fn inventory_upserts_by_key_per_cluster() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let op = srv.key("acme", "operator").await;
        let other = srv.key("globex", "admin").await;
        let reader = srv.key("acme", "read-only").await;
        let nginx = json!({"image": "docker.io/library/nginx:1.25", "registry": "docker.io", "repository": "library/nginx",
            "tag": "1.25", "digest": "sha256:abc", "usedInNamespaces": [{"name": "shop", "podCount": 2}], "totalPodCount": 2});
        let body = json!({"nodeId": "acme/k8s/prod/c1", "items": [nginx,
            {"image": "ghcr.io/org/app@sha256:def", "registry": "ghcr.io", "repository": "org/app", "digest": "sha256:def"}]});
        let (c, v) = put(&srv, "/api/v1/inventory/artifacts", &op, body.clone()).await;
        assert_eq!(c, 200, "{v}");
        let actions: Vec<&str> = v["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["created", "created"]);
        // the same again changes nothing; a changed usage updates the one item
        let (_, v) = put(&srv, "/api/v1/inventory/artifacts", &op, body.clone()).await;
        assert_eq!(v["items"][0]["action"], "unchanged");
        let mut changed = body.clone();
        changed["items"][0]["usedInNamespaces"] = json!([{"name": "shop", "podCount": 3}, {"name": "blog", "podCount": 1}]);
        changed["items"].as_array_mut().unwrap().truncate(1);
        let (_, v) = put(&srv, "/api/v1/inventory/artifacts", &op, changed).await;
        assert_eq!(v["items"][0]["action"], "updated");
        // an item not named stays; the same image of another cluster is another item
        let mut c2 = body.clone();
        c2["nodeId"] = json!("acme/k8s/prod/c2");
        put(&srv, "/api/v1/inventory/artifacts", &op, c2).await;
        let (_, list) = srv.get("/api/v1/inventory/artifacts", &op).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 4, "{list}");
        let (_, list) = srv.get("/api/v1/inventory/artifacts?nodeId=acme/k8s/prod/c1", &op).await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let n = items.iter().find(|i| i["key"] == "docker.io/library/nginx:1.25").unwrap();
        assert_eq!(n["item"]["usedInNamespaces"][1]["name"], "blog");
        assert_eq!(n["item"]["digest"], "sha256:abc");

        // another organization sees none and writes none
        let (_, list) = srv.get("/api/v1/inventory/artifacts", &other).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
        let (c, _) = srv.get("/api/v1/inventory/artifacts?nodeId=acme/k8s/prod/c1", &other).await;
        assert_eq!(c, 403);
        let (c, _) = put(&srv, "/api/v1/inventory/artifacts", &other, body.clone()).await;
        assert_eq!(c, 403);
        let (c, _) = put(&srv, "/api/v1/inventory/artifacts", &reader, body.clone()).await;
        assert_eq!(c, 403);

        // bad input: the field is named and nothing is written
        let bad = json!({"nodeId": "acme/k8s/prod/c1", "items": [
            {"image": "docker.io/library/redis:7", "registry": "docker.io", "repository": "library/redis"},
            {"image": "", "registry": "docker.io", "repository": "x"}]});
        let (c, v) = put(&srv, "/api/v1/inventory/artifacts", &op, bad).await;
        assert_eq!(c, 422, "{v}");
        assert_eq!(v["error"]["field"], "items[1].image");
        let (c, v) = put(&srv, "/api/v1/inventory/artifacts", &op, json!({"nodeId": "acme/k8s", "items": []})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("nodeId")));
        let (_, list) = srv.get("/api/v1/inventory/artifacts?nodeId=acme/k8s/prod/c1", &op).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2);

        // apps: upsert by namespace/name, states checked
        let app = json!({"name": "shop-app", "namespace": "shop", "block": "webshop", "version": "1.2.0", "state": "installed",
            "lastAction": "install", "lastActionStatus": "success", "artifacts": ["docker.io/library/nginx:1.25"]});
        let (c, v) = put(&srv, "/api/v1/inventory/apps", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [app]})).await;
        assert_eq!((c, v["items"][0]["action"].as_str()), (200, Some("created")), "{v}");
        let mut failed = app.clone();
        failed["state"] = json!("install_failed");
        let (_, v) = put(&srv, "/api/v1/inventory/apps", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [failed]})).await;
        assert_eq!(v["items"][0]["action"], "updated");
        let mut bad = app.clone();
        bad["state"] = json!("exploded");
        let (c, v) = put(&srv, "/api/v1/inventory/apps", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [bad]})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("items[0].state")));
        let (_, list) = srv.get("/api/v1/inventory/apps", &op).await;
        assert_eq!(list["items"][0]["key"], "shop/shop-app");
        assert_eq!(list["items"][0]["item"]["state"], "install_failed");

        // hosts from nodes
        let host = json!({"name": "node-1", "hostname": "node-1", "defaultIpv4": "10.0.0.5", "resourceCpuCores": 4.0,
            "resourceMemoryMb": 16000, "resourceCpuArchitecture": "amd64", "providerId": "hcloud://1", "ready": true});
        let (c, v) = put(&srv, "/api/v1/inventory/hosts", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [host]})).await;
        assert_eq!(c, 200, "{v}");
        let mut bad = host.clone();
        bad["defaultIpv4"] = json!("not-an-ip");
        let (c, v) = put(&srv, "/api/v1/inventory/hosts", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [bad]})).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("items[0].defaultIpv4")));
        let dup = json!({"nodeId": "acme/k8s/prod/c1", "items": [host, host]});
        let (c, v) = put(&srv, "/api/v1/inventory/hosts", &op, dup).await;
        assert_eq!((c, v["error"]["field"].as_str()), (422, Some("items[1]")));
        let (_, list) = srv.get("/api/v1/inventory/hosts", &op).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["item"]["resourceMemoryMb"], 16000);
        srv.stop().await;
    })
    .await;
}

async fn delete(srv: &Srv, path: &str, key: &str) -> (u16, Value) {
    let resp = srv.http.delete(format!("{}{path}", srv.base)).header("X-API-Key", key).send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_removed_cluster_takes_its_inventory_and_leaves_its_services() {
    each(async |db| {
        let (srv, _clock) = start(db).await;
        let op = srv.key("acme", "operator").await;
        let reader = srv.key("acme", "read-only").await;
        let other = srv.key("globex", "operator").await;
        let (c, v) = srv
            .post(
                "/api/v1/clusters/register",
                &op,
                json!({"workspace": "acme/k8s/prod", "clusterName": "c1", "apiServerUrl": "https://api.c1:6443"}),
            )
            .await;
        assert_eq!(c, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let (c, v) =
            srv.post("/api/v1/clusters/register", &op, json!({"workspace": "acme/k8s/dev", "clusterName": "d1"})).await;
        assert_eq!(c, 201, "{v}");
        // inventory of the cluster and of the other one; a service at the cluster's node
        let host = json!({"name": "node-1", "ready": true});
        for node in ["acme/k8s/prod/c1", "acme/k8s/dev/d1"] {
            let (c, v) = put(&srv, "/api/v1/inventory/hosts", &op, json!({"nodeId": node, "items": [host]})).await;
            assert_eq!(c, 200, "{v}");
        }
        let app = json!({"name": "shop", "namespace": "shop", "block": "webshop", "state": "installed"});
        put(&srv, "/api/v1/inventory/apps", &op, json!({"nodeId": "acme/k8s/prod/c1", "items": [app]})).await;
        let (c, v) = srv
            .post(
                "/api/v1/health/report",
                &op,
                json!({"service": "pg", "status": "OPERATIONAL", "nodeId": "acme/k8s/prod/c1"}),
            )
            .await;
        assert!(c < 300, "{c} {v}");

        // another organization's key, a reader, a bad id: nothing removed
        let path = format!("/api/v1/clusters/{id}");
        let (c, v) = delete(&srv, &path, &other).await;
        assert_eq!(c, 404, "{v}");
        assert_eq!(v["error"]["code"], "not_found");
        assert_eq!(delete(&srv, &path, &reader).await.0, 403);
        assert_eq!(delete(&srv, "/api/v1/clusters/not-a-number", &op).await.0, 404);
        assert_eq!(delete(&srv, "/api/v1/clusters/999999", &op).await.0, 404);
        let (_, list) = srv.get("/api/v1/clusters", &op).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");

        let (c, v) = delete(&srv, &path, &op).await;
        assert_eq!(c, 204, "{v}");
        assert_eq!(delete(&srv, &path, &op).await.0, 404, "gone");
        let (_, list) = srv.get("/api/v1/clusters", &op).await;
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert_eq!(names, ["d1"]);
        // its inventory went with it, the other cluster's stays
        let (_, hosts) = srv.get("/api/v1/inventory/hosts", &op).await;
        let nodes: Vec<&str> = hosts["items"].as_array().unwrap().iter().filter_map(|h| h["nodeId"].as_str()).collect();
        assert_eq!(nodes, ["acme/k8s/dev/d1"]);
        let (_, apps) = srv.get("/api/v1/inventory/apps", &op).await;
        assert_eq!(apps["items"].as_array().unwrap().len(), 0, "{apps}");
        // the service at its node stays
        let (_, services) = srv.get("/api/v1/services", &op).await;
        let s = services["items"].as_array().unwrap();
        assert!(s.iter().any(|s| s["nodeId"] == "acme/k8s/prod/c1"), "{services}");

        // the workspace is free again: another name gets a new cluster
        let (c, v) = srv
            .post("/api/v1/clusters/register", &op, json!({"workspace": "acme/k8s/prod", "clusterName": "c2"}))
            .await;
        assert_eq!(c, 201, "{v}");
        assert_ne!(v["id"], id.as_str());
        assert_eq!(v["nodeId"], "acme/k8s/prod/c2");
        srv.stop().await;
    })
    .await;
}
