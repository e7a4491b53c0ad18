//! End to end for the discovery controllers against the fake API server (or
//! a real cluster with `NINES_TEST_KUBECONFIG`) and a real `nines serve`:
//! it-ops ConfigMaps with workload readiness, Velero backups feeding the
//! backup facet, nodes → hosts, pods → Artifact CRs and the inventory,
//! meta-Secrets → K8sApps, StatusServices from EndpointSlices, local cluster
//! registration, and cert-manager discovery that waits for its CRDs.

mod common;
mod fake_kube;

use std::sync::Arc;

use common::{Cluster, OPERATOR_USER, Operator, Server, rbac};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use nines_core::clock::Clock;
use nines_operator::crd::*;
use nines_operator::discovery::{cert_manager_certificates, velero_backups};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn obj<T: DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// A CRD for a third-party kind (cert-manager, Velero), as its chart installs it.
fn third_party_crd(ar: &kube::api::ApiResource) -> CustomResourceDefinition {
    obj(json!({
        "metadata": {"name": format!("{}.{}", ar.plural, ar.group)},
        "spec": {"group": ar.group, "scope": "Namespaced",
            "names": {"plural": ar.plural, "kind": ar.kind, "singular": ar.kind.to_lowercase()},
            "versions": [{"name": ar.version, "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
}

async fn set_status<K>(api: &Api<K>, name: &str, status: Value)
where
    K: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await.unwrap();
}

async fn service_status(srv: &Server, name: &str) -> Option<String> {
    let v = srv.get("/api/v1/services").await;
    v["items"].as_array()?.iter().find(|s| s["service"] == name).map(|s| s["status"].as_str().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reaches_nines() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        discovery_reaches_nines_on(db).await;
    }
}

async fn discovery_reaches_nines_on(db: nines_store::testing::TestDb) {
    let mut cluster = Cluster::new().await;
    if !cluster.is_private() {
        eprintln!("SKIP discovery_reaches_nines on a shared cluster: it writes Node and EndpointSlice objects");
        return;
    }
    let srv = Server::start(db).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let shop = cluster.namespace("shop").await;
    let velero_ns = cluster.namespace("velero").await;
    let c = cluster.client.clone();
    let cluster_name = format!("c-{}", cluster.suffix);
    let op = Operator::start(
        &cluster,
        &ops,
        &srv.base,
        &key,
        json!({"local_cluster": {"enabled": true, "cluster_name": cluster_name},
               "backup_discovery": {"velero_namespace": velero_ns},
               "artifact_discovery": {"exclude_registries": ["registry.k8s.io"]},
               "certificate_discovery": {"issuer_filter": {"exclude_issuers": ["selfsigned"]}}}),
    )
    .await;
    let node_id = format!("acme/k8s/test/{cluster_name}");

    // local cluster registration: the API's cluster id lands in the OperatorConfig status
    let configs: Api<OperatorConfig> = Api::namespaced(c.clone(), &ops);
    let local = cluster
        .eventually("the local cluster in the OperatorConfig status", async || {
            configs.get(OPERATOR_CONFIG_NAME).await.ok()?.status?.local_cluster
        })
        .await;
    assert_eq!(local.node_id.as_deref(), Some(node_id.as_str()));
    assert!(local.created);
    let clusters = srv.get("/api/v1/clusters").await;
    assert_eq!(clusters["items"][0]["nodeId"], node_id.as_str(), "{clusters}");
    // with the API server URL of the operator's kube client
    assert_eq!(clusters["items"][0]["apiServerUrl"], cluster.url.as_str(), "{clusters}");

    // cert-manager is not installed: discovery waits for it without failing anything
    if let Some(fake) = &cluster.fake {
        assert!(!fake.knows("cert-manager.io", "certificates"));
    }

    // an it-ops ConfigMap declares a service backed by a Deployment
    let doc = format!(
        "version: \"1\"\nhierarchy: {{organization: acme, platform: k8s, environment: test, cluster: {cluster_name}}}\n\
         service: {{name: shop-db, workloadType: Deployment, workloadName: db, type: database}}\n"
    );
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), &shop);
    cms.create(&PostParams::default(), &obj(json!({"metadata": {"name": "it-ops"}, "data": {"it-ops.yaml": doc}})))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(c.clone(), &shop);
    deployments
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}})),
        )
        .await
        .unwrap();
    set_status(&deployments, "db", json!({"replicas": 2, "readyReplicas": 2})).await;
    cluster
        .eventually("shop-db OPERATIONAL", async || {
            (service_status(&srv, "shop-db").await? == "OPERATIONAL").then_some(())
        })
        .await;
    set_status(&deployments, "db", json!({"replicas": 2, "readyReplicas": 1})).await;
    cluster
        .eventually("shop-db DEGRADED", async || (service_status(&srv, "shop-db").await? == "DEGRADED").then_some(()))
        .await;
    set_status(&deployments, "db", json!({"replicas": 2, "readyReplicas": 0})).await;
    cluster.eventually("shop-db DOWN", async || (service_status(&srv, "shop-db").await? == "DOWN").then_some(())).await;

    // a rollout of the Deployment shows on the downtime's timeline: started
    // (with the image that changed), then finished
    let revision = |r: &str| json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": r}}});
    deployments.patch("db", &PatchParams::default(), &Patch::Merge(&revision("1"))).await.unwrap();
    more_passes(&cluster, &op, "workload", 2).await;
    let image = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"template": {"spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}}});
    let d = deployments.patch("db", &PatchParams::default(), &Patch::Merge(&image)).await.unwrap();
    let timeline_has = async |text: &str| -> Option<Value> {
        let list = srv.get("/api/v1/downtimes").await;
        let list = list["items"].clone();
        for d in list.as_array()? {
            let detail = srv.get(&format!("/api/v1/downtimes/{}", d["id"])).await;
            if detail["timeline"].to_string().contains(text) {
                return Some(detail);
            }
        }
        None
    };
    let detail = cluster
        .eventually("the rollout on the downtime's timeline", async || {
            timeline_has("Deployment db: rollout of revision 2 started (db: postgres:16 \u{2192} postgres:17)").await
        })
        .await;
    let started = detail["timeline"].as_array().unwrap().iter().find(|i| i["kind"] == "activity").cloned().unwrap();
    assert_eq!(started["activity"], "deployment", "{started}");
    assert_eq!(started["service"], "shop-db", "{started}");
    set_status(
        &deployments,
        "db",
        json!({"observedGeneration": d.metadata.generation, "replicas": 2, "updatedReplicas": 2,
               "availableReplicas": 2, "readyReplicas": 2}),
    )
    .await;
    cluster
        .eventually("the finished rollout on the timeline", async || {
            timeline_has("Deployment db: revision 2 rolled out").await
        })
        .await;
    cluster
        .eventually("shop-db OPERATIONAL again", async || {
            (service_status(&srv, "shop-db").await? == "OPERATIONAL").then_some(())
        })
        .await;

    // Velero appears later; a completed backup of the namespace reaches the service's backup facet
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.create(&PostParams::default(), &third_party_crd(&velero_backups())).await.unwrap();
    crds.create(&PostParams::default(), &third_party_crd(&nines_operator::discovery::velero_schedules()))
        .await
        .unwrap();
    // weeks old, as the operator meets backups the first time it starts in a
    // cluster: a backup's completion is a fact, recorded whatever its age
    let now_ms = nines_operator::runtime::SystemClock.now_ms();
    let backup_started = nines_core::clock::rfc3339(now_ms - 21 * 86_400_000);
    let backup_completed = nines_core::clock::rfc3339(now_ms - 21 * 86_400_000 + 300_000);
    let vb: Api<DynamicObject> = Api::namespaced_with(c.clone(), &velero_ns, &velero_backups());
    let mut b: DynamicObject = obj(json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "nightly-1", "labels": {"velero.io/schedule-name": "nightly"}},
        "spec": {"includedNamespaces": [shop], "ttl": "720h0m0s"}}));
    b.metadata.namespace = Some(velero_ns.clone());
    cluster.eventually("the Velero CRD to be served", async || vb.create(&PostParams::default(), &b).await.ok()).await;
    set_status(
        &vb,
        "nightly-1",
        json!({"phase": "Completed", "startTimestamp": backup_started,
        "completionTimestamp": backup_completed, "progress": {"itemsBackedUp": 42}}),
    )
    .await;
    let backups: Api<Backup> = Api::namespaced(c.clone(), &velero_ns);
    let cr = cluster
        .eventually("the Backup CR reported", async || {
            let b = backups.get_opt("velero-nightly-1").await.ok()??;
            (b.status.as_ref()?.phase.as_deref() == Some("Reported")).then_some(b)
        })
        .await;
    assert_eq!(cr.spec.status, "completed");
    assert_eq!(cr.spec.items_backed_up, Some(42));
    assert_eq!(cr.spec.schedule_name.as_deref(), Some("nightly"));
    assert_eq!(cr.owner_references()[0].kind, "Backup");
    assert_eq!(cr.status.unwrap().reported_services, vec![format!("{node_id}/shop-db")]);
    let bl = srv.get("/api/v1/backups").await;
    let facet = bl["items"].as_array().unwrap().iter().find(|b| b["service"] == "shop-db").cloned().unwrap();
    assert_eq!(facet["lastStatus"], "success", "{facet}");
    assert_eq!(
        facet["lastBackup"].as_str().map(|t| nines_core::clock::parse_rfc3339(t).unwrap()),
        Some(nines_core::clock::parse_rfc3339(&backup_completed).unwrap()),
        "{facet}"
    );

    // CloudNativePG appears too: a backup of a database cluster in the
    // service's namespace reports to it, a scheduled backup becomes a BackupSchedule
    use nines_operator::discovery::{cnpg_backups, cnpg_scheduled_backups};
    crds.create(&PostParams::default(), &third_party_crd(&cnpg_backups())).await.unwrap();
    crds.create(&PostParams::default(), &third_party_crd(&cnpg_scheduled_backups())).await.unwrap();
    let pg_started = nines_core::clock::rfc3339(now_ms - 86_400_000);
    let pg_stopped = nines_core::clock::rfc3339(now_ms - 86_400_000 + 120_000);
    let pb: Api<DynamicObject> = Api::namespaced_with(c.clone(), &shop, &cnpg_backups());
    let mut b: DynamicObject = obj(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": "pg-main-1", "labels": {"cnpg.io/scheduled-backup": "pg-nightly"}},
        "spec": {"cluster": {"name": "pg-main"}, "method": "barmanObjectStore"}}));
    b.metadata.namespace = Some(shop.clone());
    cluster.eventually("the CNPG CRD to be served", async || pb.create(&PostParams::default(), &b).await.ok()).await;
    set_status(&pb, "pg-main-1", json!({"phase": "completed", "startedAt": pg_started, "stoppedAt": pg_stopped})).await;
    let shop_backups: Api<Backup> = Api::namespaced(c.clone(), &shop);
    let cr = cluster
        .eventually("the CNPG Backup CR reported", async || {
            let b = shop_backups.get_opt("cnpg-pg-main-1").await.ok()??;
            (b.status.as_ref()?.phase.as_deref() == Some("Reported")).then_some(b)
        })
        .await;
    assert_eq!(cr.spec.status, "completed");
    assert_eq!(cr.spec.schedule_name.as_deref(), Some("pg-nightly"));
    assert_eq!(cr.spec.source_cnpg.as_ref().unwrap().cluster, "pg-main");
    assert_eq!(cr.status.unwrap().reported_services, vec![format!("{node_id}/shop-db")]);
    let facet = cluster
        .eventually("the CNPG backup in the service's facet", async || {
            let bl = srv.get("/api/v1/backups").await;
            let f = bl["items"].as_array()?.iter().find(|b| b["service"] == "shop-db").cloned()?;
            let at = nines_core::clock::parse_rfc3339(f["lastBackup"].as_str()?).ok()?;
            (at == nines_core::clock::parse_rfc3339(&pg_stopped).unwrap()).then_some(f)
        })
        .await;
    assert_eq!(facet["lastStatus"], "success", "{facet}");
    let ps: Api<DynamicObject> = Api::namespaced_with(c.clone(), &shop, &cnpg_scheduled_backups());
    let mut sb: DynamicObject = obj(json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
        "metadata": {"name": "pg-nightly"}, "spec": {"schedule": "0 0 2 * * *", "cluster": {"name": "pg-main"}}}));
    sb.metadata.namespace = Some(shop.clone());
    ps.create(&PostParams::default(), &sb).await.unwrap();
    let schedules: Api<BackupSchedule> = Api::namespaced(c.clone(), &shop);
    let sched = cluster
        .eventually("the CNPG BackupSchedule CR", async || schedules.get_opt("cnpg-pg-nightly").await.ok()?)
        .await;
    assert_eq!(sched.spec.schedule_cron, "0 0 2 * * *");
    assert_eq!(sched.spec.included_namespaces, vec![shop.clone()]);

    // a node becomes a host
    let nodes: Api<Node> = Api::all(c.clone());
    nodes
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "worker-1"}, "spec": {"providerID": "hcloud://7"}})),
        )
        .await
        .unwrap();
    set_status(&nodes, "worker-1", json!({"capacity": {"cpu": "4", "memory": "8Gi"},
        "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "nodeInfo": {"architecture": "arm64", "kubeletVersion": "v1.33.1", "osImage": "Debian", "bootID": "", "containerRuntimeVersion": "",
                     "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux", "systemUUID": ""}})).await;
    let host = cluster
        .eventually("the host in nines", async || {
            let v = srv.get("/api/v1/inventory/hosts").await;
            // the node is created before its status: wait for the host with its capacity
            v["items"]
                .as_array()?
                .iter()
                .find(|h| h["key"] == "worker-1" && h["item"]["resourceMemoryMb"] == 8192)
                .cloned()
        })
        .await;
    assert_eq!(host["nodeId"], node_id.as_str());
    assert_eq!(host["item"]["resourceMemoryMb"], 8192);
    assert_eq!(host["item"]["defaultIpv4"], "10.0.0.7");
    assert_eq!(host["item"]["providerId"], "hcloud://7");

    // pods → cluster-scoped Artifact CRs and the artifact inventory; excluded registries stay out
    let pods: Api<Pod> = Api::namespaced(c.clone(), &shop);
    for (name, image) in [("web-1", "nginx:1.25"), ("web-2", "nginx:1.25"), ("proxy", "registry.k8s.io/pause:3.9")] {
        pods.create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": image}]}})),
        )
        .await
        .unwrap();
    }
    let artifacts: Api<Artifact> = Api::all(c.clone());
    let art = cluster
        .eventually("the nginx Artifact CR", async || {
            let a = artifacts.get_opt("docker-io-library-nginx-1-25").await.ok()??;
            (a.status.as_ref()?.total_pod_count == 2).then_some(a)
        })
        .await;
    assert_eq!(art.spec.image, "docker.io/library/nginx:1.25");
    assert_eq!(art.status.unwrap().used_in_namespaces[0].name, shop);
    assert!(
        artifacts
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|a| !a.spec.image.contains("registry.k8s.io"))
    );
    let inv = cluster
        .eventually("the image in the inventory", async || {
            let v = srv.get("/api/v1/inventory/artifacts").await;
            // the CR's status is written before the inventory: wait for the pass that counted both pods
            let items = v["items"].as_array()?;
            items
                .iter()
                .find(|a| a["key"] == "docker.io/library/nginx:1.25" && a["item"]["totalPodCount"] == 2)
                .cloned()
        })
        .await;
    assert_eq!(inv["item"]["usedInNamespaces"][0]["podCount"], 2);

    // a meta-Secret becomes a K8sApp linked to the images of its namespace
    let secrets: Api<Secret> = Api::namespaced(c.clone(), &shop);
    let data = |s: &str| k8s_openapi::ByteString(s.as_bytes().to_vec());
    let meta = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("webshop.poly".into()),
            labels: Some([("polycrate.io/type".to_string(), "meta".to_string())].into()),
            ..Default::default()
        },
        data: Some(
            [("block", "webshop"), ("version", "1.2.0"), ("action", "install"), ("action_status", "success")]
                .iter()
                .map(|(k, v)| (k.to_string(), data(v)))
                .collect(),
        ),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &meta).await.unwrap();
    let apps: Api<K8sApp> = Api::namespaced(c.clone(), &shop);
    let app = cluster
        .eventually("the K8sApp synced with its artifacts", async || {
            let a = apps.get_opt("webshop").await.ok()??;
            let st = a.status.clone()?;
            (st.sync_status.as_deref() == Some("synced") && st.artifact_count > 0).then_some(a)
        })
        .await;
    let st = app.status.clone().unwrap();
    assert!(st.installed);
    assert_eq!(st.artifacts[0].image, "docker.io/library/nginx:1.25");
    assert_eq!(app.owner_references()[0].kind, "Secret");
    let inv = srv.get("/api/v1/inventory/apps").await;
    let item =
        inv["items"].as_array().unwrap().iter().find(|a| a["key"] == format!("{shop}/webshop")).cloned().unwrap();
    assert_eq!(item["item"]["state"], "installed");
    assert_eq!(item["item"]["artifacts"][0], "docker.io/library/nginx:1.25");
    // the API's id of the app, and its install, reported once as an activity
    // (remembered only after nines took it)
    assert_eq!(st.api_id.as_deref(), item["id"].as_str(), "{item}");
    assert_eq!(st.reported_action.as_deref(), Some("install/success/"));
    // the image's Artifact CR names the app that uses it, with the app's id
    let artifacts: Api<Artifact> = Api::all(c.clone());
    let used = cluster
        .eventually("the Artifact used by the K8sApp", async || {
            let list = artifacts.list(&Default::default()).await.ok()?;
            let a = list.items.into_iter().find(|a| a.spec.image == "docker.io/library/nginx:1.25")?;
            let st = a.status?;
            st.used_by_k8sapps.iter().any(|u| u.name == "webshop" && u.k8s_app_id.is_some()).then_some(st)
        })
        .await;
    assert_eq!(used.used_by_k8sapps[0].namespace, shop);
    assert!(used.api_id.is_some(), "{used:?}");

    // a StatusService follows the ready endpoints of its Service
    let services: Api<Service> = Api::namespaced(c.clone(), &shop);
    services
        .create(&PostParams::default(), &obj(json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})))
        .await
        .unwrap();
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), &shop);
    let slice = |ready: bool| -> EndpointSlice {
        obj(
            json!({"metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.5"], "conditions": {"ready": ready}}]}),
        )
    };
    slices.create(&PostParams::default(), &slice(true)).await.unwrap();
    let ss: Api<StatusService> = Api::namespaced(c.clone(), &shop);
    ss.create(
        &PostParams::default(),
        &obj(json!({"metadata": {"name": "web"},
        "spec": {"serviceName": "web", "displayName": "Web shop", "displayDescription": "the shop", "group": "main"}})),
    )
    .await
    .unwrap();
    let svc = format!("status-{shop}-web");
    cluster
        .eventually("the StatusService OPERATIONAL", async || {
            (service_status(&srv, &svc).await? == "OPERATIONAL").then_some(())
        })
        .await;
    slices
        .replace("web-abc", &PostParams::default(), &{
            let mut s = slice(false);
            s.metadata.resource_version = None;
            s
        })
        .await
        .unwrap();
    cluster
        .eventually("the StatusService DEGRADED", async || {
            (service_status(&srv, &svc).await? == "DEGRADED").then_some(())
        })
        .await;
    // the report goes out before the status is written
    let got = cluster
        .eventually("the StatusService's status warning", async || {
            ss.get("web").await.ok()?.status.filter(|s| s.state.as_deref() == Some("warning"))
        })
        .await;
    assert_eq!(got.ready_endpoints, 0);
    assert!(got.not_ready_since.is_some(), "{got:?}");
    assert_eq!(got.conditions[0].reason, "NoReadyEndpoints");

    // a StatusServiceGroup becomes the status page group of its members
    let groups: Api<StatusServiceGroup> = Api::namespaced(c.clone(), &shop);
    groups
        .create(
            &PostParams::default(),
            &obj(json!({"metadata": {"name": "main"},
            "spec": {"displayName": "Main group", "displayDescription": "what customers use"}})),
        )
        .await
        .unwrap();
    let g = cluster
        .eventually("the status page group", async || {
            let v = srv.get("/api/v1/status-page/groups").await;
            let v = v["items"].clone();
            let text = v.to_string();
            (text.contains("Main group") && text.contains(&svc)).then_some(v)
        })
        .await;
    assert!(g.to_string().contains("what customers use"), "{g}");
    let st = cluster
        .eventually("the group's status", async || groups.get("main").await.ok()?.status.filter(|s| s.members == 1))
        .await;
    assert_eq!(st.member_states.get("web").map(String::as_str), Some("warning"));

    // cert-manager appears: its Certificates are mirrored (issuer filter applies)
    crds.create(&PostParams::default(), &third_party_crd(&cert_manager_certificates())).await.unwrap();
    let cm: Api<DynamicObject> = Api::namespaced_with(c.clone(), &shop, &cert_manager_certificates());
    let cert = |name: &str, issuer: &str| -> DynamicObject {
        let mut o: DynamicObject =
            obj(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": [format!("{name}.example.com")],
                     "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}}}));
        o.metadata.namespace = Some(shop.clone());
        o
    };
    cluster
        .eventually("the cert-manager CRD to be served", async || {
            cm.create(&PostParams::default(), &cert("dev", "selfsigned")).await.ok()
        })
        .await;
    cm.create(&PostParams::default(), &cert("api", "letsencrypt")).await.unwrap();
    set_status(
        &cm,
        "api",
        json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}],
        "notBefore": "2026-11-01T00:00:00Z", "notAfter": "2099-01-01T00:00:00Z"}),
    )
    .await;
    let certs: Api<Certificate> = Api::namespaced(c.clone(), &shop);
    let mirrored = cluster
        .eventually("the nines Certificate CR", async || {
            let c = certs.get_opt(&format!("certmanager-{shop}-api")).await.ok()??;
            c.spec.is_ready.then_some(c)
        })
        .await;
    assert_eq!(mirrored.spec.certificate_status, "ready");
    assert_eq!(mirrored.spec.issuer_kind, "clusterissuer");
    assert_eq!(mirrored.owner_references()[0].kind, "Certificate");
    assert!(certs.get_opt(&format!("certmanager-{shop}-dev")).await.unwrap().is_none(), "excluded issuer mirrored");
    // the mirrored certificate reaches nines
    cluster
        .eventually("the certificate in nines", async || {
            let c = certs.get_opt(&format!("certmanager-{shop}-api")).await.ok()??;
            (c.status?.sync_status.as_deref() == Some("synced")).then_some(())
        })
        .await;

    let metrics = op.metrics.render();
    assert!(metrics.contains("controller=\"statusservice\",result=\"ok\""), "{metrics}");
    // everything the operator asked of the API server, the chart's RBAC allows
    if let Some(fake) = &cluster.fake {
        rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

/// The services of the nines API as `(nodeId, service)`.
async fn services(srv: &Server) -> Vec<(String, String)> {
    let v = srv.get("/api/v1/services").await;
    v["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s["nodeId"].as_str().unwrap_or("").to_string(), s["service"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn it_ops(cluster_name: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "---\nversion: \"1\"\nhierarchy: {{organization: acme, platform: k8s, environment: test, cluster: {cluster_name}}}\n\
                 service: {{name: {n}, type: web}}\n"
            )
        })
        .collect()
}

fn registered(cm: &ConfigMap) -> Value {
    let text = cm.annotations().get("operator.nines.dev/registered-services").cloned().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmap_services_leave_with_their_configmap() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        configmap_services_leave_with_their_configmap_on(db).await;
    }
}

async fn configmap_services_leave_with_their_configmap_on(db: nines_store::testing::TestDb) {
    let mut cluster = Cluster::new().await;
    let srv = Server::start(db).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let shop = cluster.namespace("shop").await;
    let c = cluster.client.clone();
    let cluster_name = format!("c-{}", cluster.suffix);
    let node_id = format!("acme/k8s/test/{cluster_name}");
    let op = Operator::start(&cluster, &ops, &srv.base, &key, json!({})).await;
    let has = |list: &[(String, String)], name: &str| list.iter().any(|(n, s)| *n == node_id && s == name);

    // a ConfigMap declaring two services, another declaring one, and one without the key
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), &shop);
    let cm = |name: &str, data: Value| -> ConfigMap { obj(json!({"metadata": {"name": name}, "data": data})) };
    cms.create(
        &PostParams::default(),
        &cm("it-ops", json!({"it-ops.yaml": it_ops(&cluster_name, &["web-a", "web-b"])})),
    )
    .await
    .unwrap();
    cms.create(&PostParams::default(), &cm("extra", json!({"it-ops.yaml": it_ops(&cluster_name, &["web-c"])})))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("plain", json!({"settings.ini": "a=1"}))).await.unwrap();
    cluster
        .eventually("the three services in nines", async || {
            let s = services(&srv).await;
            (has(&s, "web-a") && has(&s, "web-b") && has(&s, "web-c")).then_some(())
        })
        .await;
    let got = cluster
        .eventually("it-ops behind the finalizer, its services remembered", async || {
            let cm = cms.get("it-ops").await.ok()?;
            (cm.finalizers().iter().any(|f| f == CLEANUP_FINALIZER) && registered(&cm).as_array()?.len() == 2)
                .then_some(cm)
        })
        .await;
    assert_eq!(
        registered(&got),
        json!([{"nodeId": node_id, "service": "web-a"}, {"nodeId": node_id, "service": "web-b"}])
    );

    // a service removed from the document goes; the other stays
    let patch = json!({"data": {"it-ops.yaml": it_ops(&cluster_name, &["web-a"])}});
    cms.patch("it-ops", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    cluster.eventually("web-b deleted from nines", async || (!has(&services(&srv).await, "web-b")).then_some(())).await;
    assert!(has(&services(&srv).await, "web-a"));
    cluster
        .eventually("only web-a remembered", async || {
            (registered(&cms.get("it-ops").await.ok()?) == json!([{"nodeId": node_id, "service": "web-a"}]))
                .then_some(())
        })
        .await;

    // the key removed: its service goes, and so do the finalizer and the annotation
    let patch = json!({"data": {"it-ops.yaml": null, "notes.txt": "moved elsewhere"}});
    cms.patch("extra", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    cluster.eventually("web-c deleted from nines", async || (!has(&services(&srv).await, "web-c")).then_some(())).await;
    cluster
        .eventually("extra let go", async || {
            let cm = cms.get("extra").await.ok()?;
            (cm.finalizers().is_empty() && registered(&cm).is_null()).then_some(())
        })
        .await;

    // deleting the ConfigMap deletes the rest, then the ConfigMap is really gone
    cms.delete("it-ops", &Default::default()).await.unwrap();
    cluster.eventually("the ConfigMap gone", async || cms.get_opt("it-ops").await.ok()?.is_none().then_some(())).await;
    assert!(!has(&services(&srv).await, "web-a"), "web-a still in nines");

    // a ConfigMap without the key is left alone
    assert!(cms.get("plain").await.unwrap().finalizers().is_empty());
    assert!(cms.get("plain").await.unwrap().annotations().is_empty());

    if let Some(fake) = &cluster.fake {
        rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

/// Wait until `controller` finished `n` more successful reconciles (or passes) than now.
async fn more_passes(cluster: &Cluster, op: &Operator, controller: &str, n: u64) {
    let start = op.metrics.reconciles(controller, true);
    cluster
        .eventually(&format!("{n} more {controller} passes"), async || {
            (op.metrics.reconciles(controller, true) >= start + n).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_artifacts_and_unready_status_services_follow_the_clock() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        stale_artifacts_and_unready_status_services_follow_the_clock_on(db).await;
    }
}

async fn stale_artifacts_and_unready_status_services_follow_the_clock_on(db: nines_store::testing::TestDb) {
    let mut cluster = Cluster::new().await;
    if !cluster.is_private() {
        eprintln!(
            "SKIP stale_artifacts_and_unready_status_services_follow_the_clock on a shared cluster: it writes EndpointSlices"
        );
        return;
    }
    // nines and the operator share a clock the test moves; nothing waits an hour
    let clock = nines_core::clock::ManualClock::new(jiff::Timestamp::now().as_millisecond());
    let srv = Server::start_with_clock(db, Arc::new(clock.clone())).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let shop = cluster.namespace("shop").await;
    let c = cluster.client.clone();
    let op = Operator::start_with_clock(&cluster, &ops, &srv.base, &key, json!({}), Arc::new(clock.clone())).await;
    let minutes = |m: i64| m * 60_000;

    // an image in use becomes an Artifact CR and an inventory item
    let pods: Api<Pod> = Api::namespaced(c.clone(), &shop);
    let pod =
        obj(json!({"metadata": {"name": "web-1"}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}));
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let artifacts: Api<Artifact> = Api::all(c.clone());
    let name = "docker-io-library-nginx-1-27";
    cluster
        .eventually("the Artifact CR in use", async || {
            (artifacts.get_opt(name).await.ok()??.status?.total_pod_count == 1).then_some(())
        })
        .await;
    cluster
        .eventually("the image in the inventory", async || {
            let v = srv.get("/api/v1/inventory/artifacts").await;
            v["items"].as_array()?.iter().any(|a| a["key"] == "docker.io/library/nginx:1.27").then_some(())
        })
        .await;

    // in use for two hours, then unused: the threshold counts from when it went unused
    clock.advance(minutes(120));
    more_passes(&cluster, &op, "artifact", 2).await;
    // a pass that finds nothing changed writes nothing
    // (the fake counts the writes; a real server shows them as new resource versions)
    let artifact_writes = async || match &cluster.fake {
        Some(fake) => fake
            .accesses()
            .iter()
            .filter(|a| a.resource == "artifacts" && a.verb != "list" && a.verb != "watch")
            .count()
            .to_string(),
        None => {
            let list = artifacts.list(&Default::default()).await.unwrap();
            list.items
                .iter()
                .map(|a| a.metadata.resource_version.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let before = artifact_writes().await;
    more_passes(&cluster, &op, "artifact", 3).await;
    assert_eq!(artifact_writes().await, before, "a quiet pass wrote Artifact CRs");
    pods.delete("web-1", &Default::default()).await.unwrap();
    let st = cluster
        .eventually("the Artifact CR unused", async || {
            let st = artifacts.get_opt(name).await.ok()??.status?;
            (st.phase.as_deref() == Some("Unused")).then_some(st)
        })
        .await;
    assert_eq!(st.total_pod_count, 0);
    let last_seen: jiff::Timestamp = st.last_seen_at.as_deref().unwrap().parse().unwrap();
    assert_eq!(
        last_seen.as_millisecond(),
        clock.now_ms(),
        "unused since the pass that noticed, not since the last change"
    );

    // 59 minutes later it is still there
    clock.advance(minutes(59));
    more_passes(&cluster, &op, "artifact", 2).await;
    assert!(artifacts.get_opt(name).await.unwrap().is_some(), "removed before stale_threshold_hours");

    // past the hour the CR goes; the API keeps the image
    clock.advance(minutes(2));
    cluster
        .eventually("the stale Artifact CR removed", async || {
            artifacts.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
    let v = srv.get("/api/v1/inventory/artifacts").await;
    assert!(v.to_string().contains("docker.io/library/nginx:1.27"), "the API lost the image: {v}");

    // a StatusService: DEGRADED as soon as no endpoint is ready, DOWN after 10 minutes of that
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), &shop);
    let slice = |ready: bool| -> EndpointSlice {
        obj(
            json!({"metadata": {"name": "api-1", "labels": {"kubernetes.io/service-name": "api"}}, "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.9"], "conditions": {"ready": ready}}]}),
        )
    };
    slices.create(&PostParams::default(), &slice(true)).await.unwrap();
    let set_ready = async |ready: bool| {
        let patch = json!({"endpoints": [{"addresses": ["10.1.0.9"], "conditions": {"ready": ready}}]});
        slices.patch("api-1", &PatchParams::default(), &Patch::Merge(patch)).await.unwrap();
    };
    let ss: Api<StatusService> = Api::namespaced(c.clone(), &shop);
    ss.create(&PostParams::default(), &obj(json!({"metadata": {"name": "api"}, "spec": {"serviceName": "api"}})))
        .await
        .unwrap();
    let svc = format!("status-{shop}-api");
    cluster
        .eventually("the StatusService OPERATIONAL", async || {
            (service_status(&srv, &svc).await? == "OPERATIONAL").then_some(())
        })
        .await;
    set_ready(false).await;
    cluster
        .eventually("the StatusService DEGRADED", async || {
            (service_status(&srv, &svc).await? == "DEGRADED").then_some(())
        })
        .await;
    // the report goes out before the status is written
    let status_in = async |state: &str| {
        cluster
            .eventually(&format!("the StatusService's status {state}"), async || {
                ss.get("api").await.ok()?.status.filter(|s| s.state.as_deref() == Some(state))
            })
            .await
    };
    let since = status_in("warning").await.not_ready_since.unwrap();
    clock.advance(minutes(9));
    more_passes(&cluster, &op, "statusservice", 2).await;
    assert_eq!(service_status(&srv, &svc).await.as_deref(), Some("DEGRADED"), "DOWN before 10 minutes");
    assert_eq!(ss.get("api").await.unwrap().status.unwrap().state.as_deref(), Some("warning"));
    clock.advance(minutes(2));
    cluster
        .eventually("the StatusService DOWN", async || (service_status(&srv, &svc).await? == "DOWN").then_some(()))
        .await;
    let st = status_in("error").await;
    assert_eq!(st.not_ready_since.as_deref(), Some(since.as_str()), "the 10 minutes count from the first unready pass");
    assert_eq!(st.conditions.iter().find(|c| c.type_ == "Ready").unwrap().reason, "NoReadyEndpointsFor10m");

    // a ready endpoint again: OPERATIONAL, the clock reset
    set_ready(true).await;
    cluster
        .eventually("the StatusService OPERATIONAL again", async || {
            (service_status(&srv, &svc).await? == "OPERATIONAL").then_some(())
        })
        .await;
    assert!(status_in("ok").await.not_ready_since.is_none());

    if let Some(fake) = &cluster.fake {
        rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

/// The chart's values with app discovery off.
const APP_DISCOVERY_OFF: &str = "operatorConfig: {spec: {app_discovery: {enabled: false}}}";

/// A meta-Secret of block `block` in `ns`.
async fn meta_secret(c: &kube::Client, ns: &str, block: &str) {
    let data = |s: &str| k8s_openapi::ByteString(s.as_bytes().to_vec());
    let meta = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(format!("{block}.poly")),
            labels: Some([("nines.dev/type".to_string(), "meta".to_string())].into()),
            ..Default::default()
        },
        data: Some(
            [("block", block), ("version", "1.0.0"), ("action", "install"), ("action_status", "success")]
                .iter()
                .map(|(k, v)| (k.to_string(), data(v)))
                .collect(),
        ),
        ..Default::default()
    };
    Api::<Secret>::namespaced(c.clone(), ns).create(&PostParams::default(), &meta).await.unwrap();
}

/// The operator's requests across all namespaces for Secrets (list or watch).
fn secret_sweeps(fake: &fake_kube::FakeKube) -> usize {
    fake.accesses()
        .iter()
        .filter(|a| a.user.as_deref() == Some(OPERATOR_USER) && a.resource == "secrets" && a.namespace.is_empty())
        .count()
}

/// Wait until the operator read its OperatorConfig `n` more times: every
/// discovery switch has seen what the config said before.
async fn more_config_reads(cluster: &Cluster, n: usize) {
    let fake = cluster.fake.as_ref().unwrap();
    let reads = || {
        fake.accesses()
            .iter()
            .filter(|a| a.user.as_deref() == Some(OPERATOR_USER) && a.resource == "operatorconfigs" && a.verb == "get")
            .count()
    };
    let start = reads();
    cluster.eventually(&format!("{n} more OperatorConfig reads"), async || (reads() >= start + n).then_some(())).await;
}

/// The operator with app discovery off: the other discoveries watch their
/// sources (an it-ops ConfigMap is picked up) once the config is read.
async fn started_without_app_discovery(
    cluster: &mut Cluster,
    db: nines_store::testing::TestDb,
) -> (Server, Operator, String, String) {
    let srv = Server::start(db).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let shop = cluster.namespace("shop").await;
    meta_secret(&cluster.client, &shop, "webshop").await;
    let op = Operator::start(cluster, &ops, &srv.base, &key, json!({"app_discovery": {"enabled": false}})).await;
    let fake = cluster.fake.as_ref().unwrap();
    cluster
        .eventually("the operator watching ConfigMaps and Nodes", async || {
            (fake.open_watches(OPERATOR_USER, "", "configmaps") > 0
                && fake.open_watches(OPERATOR_USER, "", "nodes") > 0)
                .then_some(())
        })
        .await;
    more_config_reads(cluster, 2).await;
    (srv, op, ops, shop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_discovery_off_lists_no_secrets() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        app_discovery_off_lists_no_secrets_on(db).await;
    }
}

async fn app_discovery_off_lists_no_secrets_on(db: nines_store::testing::TestDb) {
    // it reads what the fake recorded
    let mut cluster = Cluster::fake().await;
    let (srv, op, ops, shop) = started_without_app_discovery(&mut cluster, db).await;
    let fake = cluster.fake.as_ref().unwrap();
    assert_eq!(secret_sweeps(fake), 0, "Secrets listed or watched with app discovery off");
    assert_eq!(fake.open_watches(OPERATOR_USER, "", "secrets"), 0);
    let apps: Api<K8sApp> = Api::namespaced(cluster.client.clone(), &shop);
    assert!(apps.get_opt("webshop").await.unwrap().is_none(), "a K8sApp with app discovery off");
    // and the chart installed with app discovery off allows everything the operator did
    let grants = rbac::chart_with(APP_DISCOVERY_OFF);
    rbac::assert_grants_allow(&grants, &fake.accesses(), OPERATOR_USER, &ops);
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_discovery_follows_the_operator_config() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        app_discovery_follows_the_operator_config_on(db).await;
    }
}

async fn app_discovery_follows_the_operator_config_on(db: nines_store::testing::TestDb) {
    // it reads what the fake recorded
    let mut cluster = Cluster::fake().await;
    let (srv, op, ops, shop) = started_without_app_discovery(&mut cluster, db).await;
    let fake = cluster.fake.as_ref().unwrap();
    let configs: Api<OperatorConfig> = Api::namespaced(cluster.client.clone(), &ops);
    let switch = async |on: bool| {
        let patch = json!({"spec": {"app_discovery": {"enabled": on}}});
        configs.patch(OPERATOR_CONFIG_NAME, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    };
    assert_eq!(secret_sweeps(fake), 0);

    // on: the meta-Secret written while it was off becomes a K8sApp
    switch(true).await;
    let apps: Api<K8sApp> = Api::namespaced(cluster.client.clone(), &shop);
    cluster.eventually("the K8sApp of the meta-Secret", async || apps.get_opt("webshop").await.ok()?).await;
    let labels = kube_app_labels();
    cluster
        .eventually("a Secret watch per meta label", async || {
            (fake.open_watches(OPERATOR_USER, "", "secrets") == labels).then_some(())
        })
        .await;

    // off: the watches close and no Secret is asked for again
    switch(false).await;
    cluster
        .eventually("the Secret watches closed", async || {
            (fake.open_watches(OPERATOR_USER, "", "secrets") == 0).then_some(())
        })
        .await;
    let settled = secret_sweeps(fake);
    meta_secret(&cluster.client, &shop, "blog").await;
    more_config_reads(&cluster, 3).await;
    assert_eq!(secret_sweeps(fake), settled, "Secrets asked for after app discovery was turned off");
    assert_eq!(fake.open_watches(OPERATOR_USER, "", "secrets"), 0);
    assert!(apps.get_opt("blog").await.unwrap().is_none(), "a K8sApp from a meta-Secret written while off");
    // what app discovery made stays
    assert!(apps.get_opt("webshop").await.unwrap().is_some());

    // on again: it picks up what it missed
    switch(true).await;
    cluster.eventually("the K8sApp of the later meta-Secret", async || apps.get_opt("blog").await.ok()?).await;
    rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

/// How many label selectors find meta-Secrets (one watch each).
fn kube_app_labels() -> usize {
    nines_operator::mapping::k8sapp::META_TYPE_LABELS.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_discovery_off_releases_its_configmaps() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        service_discovery_off_releases_its_configmaps_on(db).await;
    }
}

async fn service_discovery_off_releases_its_configmaps_on(db: nines_store::testing::TestDb) {
    // it reads what the fake recorded
    let mut cluster = Cluster::fake().await;
    let srv = Server::start(db).await;
    let key = srv.key("acme", "operator").await;
    let ops = cluster.namespace("nines-ops").await;
    let shop = cluster.namespace("shop").await;
    let cluster_name = format!("c-{}", cluster.suffix);
    let op = Operator::start(&cluster, &ops, &srv.base, &key, json!({})).await;
    let fake = cluster.fake.as_ref().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &shop);
    let cm: ConfigMap =
        obj(json!({"metadata": {"name": "it-ops"}, "data": {"it-ops.yaml": it_ops(&cluster_name, &["web-a"])}}));
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cluster
        .eventually("web-a in nines, the ConfigMap behind the finalizer", async || {
            let held = cms.get("it-ops").await.ok()?.finalizers().iter().any(|f| f == CLEANUP_FINALIZER);
            (held && services(&srv).await.iter().any(|(_, s)| s == "web-a")).then_some(())
        })
        .await;

    // off: the services are withdrawn, the finalizer goes, the ConfigMap watch closes
    let configs: Api<OperatorConfig> = Api::namespaced(cluster.client.clone(), &ops);
    let patch = json!({"spec": {"service_discovery": {"enabled": false}}});
    configs.patch(OPERATOR_CONFIG_NAME, &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
    cluster
        .eventually("the ConfigMap released and web-a withdrawn", async || {
            let cm = cms.get("it-ops").await.ok()?;
            let released = cm.finalizers().is_empty() && registered(&cm).is_null();
            (released && !services(&srv).await.iter().any(|(_, s)| s == "web-a")).then_some(())
        })
        .await;
    cluster
        .eventually("the ConfigMap watch closed", async || {
            (fake.open_watches(OPERATOR_USER, "", "configmaps") == 0).then_some(())
        })
        .await;
    rbac::assert_chart_allows(&fake.accesses(), OPERATOR_USER, &ops);
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}
