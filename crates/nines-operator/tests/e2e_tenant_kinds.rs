//! End to end, the standalone tenant kinds against the Harbor, Argo CD and
//! GitLab doubles (each checks every request against its vendor's
//! document): a HarborProject in two platforms (created in one, adopted in
//! the other), an ArgoCDProject deploying to a K8sCluster registered in
//! Argo CD, GitLabGroups nested and adopted. For each: what the double
//! holds, a resync in sync writes nothing, deletion removes only what
//! nines created and waits while the system refuses. Against the
//! in-process fake API server (or the cluster of `NINES_TEST_KUBECONFIG`).

mod common;
mod fake_kube;

use std::time::Duration;

use common::argocd_double::ArgoCdDouble;
use common::gitlab_double::{GitLabDouble, TOKEN};
use common::harbor_double::HarborDouble;
use common::{Cluster, OPERATOR_USER, Operator, Server, rbac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use nines_operator::crd::{
    ArgoCDProject, GitLabGroup, HarborProject, K8sCluster, Organization, SoftwareDeliveryPlatform, TenantStatus,
};
use serde_json::{Value, json};

trait HasTenantStatus {
    fn tenant_status(&self) -> Option<TenantStatus>;
}
macro_rules! has_status {
    ($($k:ty),*) => {$(impl HasTenantStatus for $k {
        fn tenant_status(&self) -> Option<TenantStatus> {
            self.status.clone()
        }
    })*};
}
has_status!(HarborProject, ArgoCDProject, GitLabGroup, K8sCluster);

/// The status once `pred` holds for it.
async fn status_when<K>(
    cluster: &Cluster,
    api: &Api<K>,
    name: &str,
    what: &str,
    pred: impl Fn(&TenantStatus) -> bool,
) -> TenantStatus
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + HasTenantStatus,
{
    cluster
        .eventually(what, async || {
            let st = api.get_opt(name).await.ok()??.tenant_status()?;
            pred(&st).then_some(st)
        })
        .await
}

fn ready(st: &TenantStatus, system: &str) -> bool {
    let sys = st.conditions.iter().find(|c| c.type_ == format!("{system}Ready"));
    st.phase.as_deref() == Some("Ready") && sys.is_some_and(|c| c.status == "True")
}

async fn gone<K>(cluster: &Cluster, api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    cluster.eventually(&format!("{name} gone"), async || api.get_opt(name).await.ok()?.is_none().then_some(())).await;
}

fn object<K: serde::de::DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).unwrap()
}

async fn secret(cluster: &Cluster, ns: &str, name: &str, data: Value) {
    let s: Secret = object(json!({"metadata": {"name": name}, "stringData": data}));
    Api::<Secret>::namespaced(cluster.client.clone(), ns).create(&PostParams::default(), &s).await.unwrap();
}

/// One test's surroundings: the fake cluster, a nines server, the operator.
struct Bench {
    cluster: Cluster,
    srv: Server,
    op: Operator,
    ns: String,
}

impl Bench {
    async fn start() -> Bench {
        let mut cluster = Cluster::new().await;
        let srv = Server::start(nines_store::testing::sqlite().await).await;
        let key = srv.key("acme", "operator").await;
        let ns = cluster.namespace("polycrate").await;
        let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
        Bench { cluster, srv, op, ns }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.cluster.client.clone(), &self.ns)
    }

    async fn platform(&self, sdp: Value) {
        let sdps: Api<SoftwareDeliveryPlatform> = self.api();
        sdps.create(&PostParams::default(), &object(sdp)).await.unwrap();
    }

    /// Every request the operator made of Kubernetes is one the chart allows.
    async fn finish(self) {
        if let Some(fake) = self.cluster.fake.as_ref() {
            rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &self.ns);
        }
        self.op.shutdown().await;
        self.cluster.cleanup().await;
        self.srv.stop().await;
    }
}

/// A few resyncs (every second in tests) in sync: the system is read
/// again, but `counts` (writes, requests) shows no write, and the object's
/// resourceVersion does not move (no status write).
async fn quiet<K>(api: &Api<K>, name: &str, counts: impl Fn() -> (usize, usize))
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let ((writes, requests), version) = (counts(), api.get(name).await.unwrap().meta().resource_version.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (writes_after, requests_after) = counts();
    assert!(requests_after > requests, "{name}: the resyncs looked");
    assert_eq!(writes_after, writes, "{name}: a resync in sync writes nothing to the system");
    assert_eq!(api.get(name).await.unwrap().meta().resource_version, version, "{name}: nor its status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_harbor_project_in_two_platforms_created_adopted_and_deleted_when_empty() {
    let (prod, stage) = (HarborDouble::start().await, HarborDouble::start().await);
    let b = Bench::start().await;
    for (name, h) in [("harbor-prod", &prod), ("harbor-stage", &stage)] {
        secret(&b.cluster, &b.ns, name, json!({"username": h.username, "password": h.password})).await;
    }
    for (name, h, secret) in [("production", &prod, "harbor-prod"), ("staging", &stage, "harbor-stage")] {
        b.platform(json!({
            "metadata": {"name": name},
            "spec": {"harbor": {"url": h.url, "credentialsRef": {"secretName": secret}},
                     "settings": {"autoCreateRoleSubgroups": true}},
        }))
        .await;
    }
    // an organization of production: it reaches Harbor through its role subgroups
    let orgs: Api<Organization> = b.api();
    orgs.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": "acme-corp"}, "spec": {"sdp": "production"}})),
    )
    .await
    .unwrap();
    // staging's Harbor has the project already, with a member of its own
    stage.seed_project("shared-images", true);
    stage.seed_member("shared-images", "image-owners", 1);

    let hps: Api<HarborProject> = b.api();
    let hp: HarborProject = object(json!({
        "metadata": {"name": "shared-images"},
        "spec": {"sdp": ["production", "staging"], "projectName": "shared-images", "public": false,
                 "storageQuota": "100Gi",
                 "accessControl": [{"keycloakGroup": "platform-admins", "role": "projectAdmin"}],
                 "organizationAccess": [{"organization": "acme-corp", "role": "developer"}]},
    }));
    hps.create(&PostParams::default(), &hp).await.unwrap();
    let st = status_when(&b.cluster, &hps, "shared-images", "ready in both platforms", |st| ready(st, "Harbor")).await;

    let gi = 1024_i64.pow(3);
    let p = prod.project("shared-images").expect("created in production");
    assert!(!p.public && p.owner_name == "nines");
    assert_eq!(prod.storage_quota("shared-images"), Some(100 * gi));
    let members = |h: &HarborDouble| {
        let mut m: Vec<(String, i64)> =
            h.members("shared-images").into_iter().map(|m| (m.group_name, m.role_id)).collect();
        m.sort();
        m
    };
    assert_eq!(
        members(&prod),
        [
            ("acme-corp-admins".to_string(), 2),
            ("acme-corp-developers".to_string(), 2),
            ("acme-corp-viewers".to_string(), 2),
            ("platform-admins".to_string(), 1)
        ]
    );
    // adopted in staging: made private with its quota; the organization lives in production only
    let s = stage.project("shared-images").unwrap();
    assert!(!s.public && s.owner_name == "admin");
    assert_eq!(stage.storage_quota("shared-images"), Some(100 * gi));
    assert_eq!(members(&stage), [("image-owners".to_string(), 1), ("platform-admins".to_string(), 1)]);
    let projects: Vec<(&str, bool, Option<String>)> = st
        .resources
        .iter()
        .filter(|r| r.kind == "project")
        .map(|r| (r.sdp.as_str(), r.created, r.id.clone()))
        .collect();
    assert_eq!(
        projects,
        [("production", true, Some(p.id.to_string())), ("staging", false, Some(s.id.to_string()))],
        "{st:?}"
    );
    assert!(st.resources.iter().any(|r| r.sdp == "staging" && r.kind == "member" && r.name == "platform-admins"));

    quiet(&hps, "shared-images", || (prod.writes() + stage.writes(), prod.requests().len() + stage.requests().len()))
        .await;

    // deletion waits while production's project holds a repository (412), never forcing
    prod.add_repository("shared-images", "base/alpine");
    hps.delete("shared-images", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(hps.get_opt("shared-images").await.unwrap().is_some(), "held by its finalizer");
    assert!(prod.project("shared-images").is_some());
    prod.clear_repositories("shared-images");
    gone(&b.cluster, &hps, "shared-images").await;
    assert!(prod.project("shared-images").is_none(), "nines' own project is deleted");
    assert!(stage.project("shared-images").is_some(), "the adopted project stays");
    assert_eq!(members(&stage), [("image-owners".to_string(), 1)], "only the membership nines granted goes");

    prod.assert_no_violations();
    stage.assert_no_violations();
    b.finish().await;
}

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZmFrZQ==\n-----END CERTIFICATE-----\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argocd_project_deploys_to_a_registered_cluster_and_waits_for_its_applications() {
    let argo = ArgoCdDouble::start().await;
    let b = Bench::start().await;
    secret(&b.cluster, &b.ns, "argocd-creds", json!({"token": argo.token})).await;
    secret(&b.cluster, &b.ns, "prod-cluster-token", json!({"token": "sa-token-1"})).await;
    b.platform(json!({
        "metadata": {"name": "production"},
        "spec": {"argocd": {"url": argo.url, "credentialsRef": {"secretName": "argocd-creds"},
            "roles": {
                "admin": {"policies": ["p, proj:{project}:admin, applications, *, {project}/*, allow"]},
                "viewer": {"policies": ["p, proj:{project}:viewer, applications, get, {project}/*, allow"]}}}},
    }))
    .await;
    // the seed's K8sCluster, registered in the platform's Argo CD
    let server = "https://api.prod.example.com:6443";
    let clusters: Api<K8sCluster> = b.api();
    let k: K8sCluster = object(json!({
        "metadata": {"name": "production-cluster"},
        "spec": {"sdp": "production", "displayName": "Production Cluster", "apiServer": server,
                 "authentication": {"serviceAccountToken": {"secretRef": {"name": "prod-cluster-token", "key": "token"}}},
                 "caCertificate": CA},
    }));
    clusters.create(&PostParams::default(), &k).await.unwrap();
    let st =
        status_when(&b.cluster, &clusters, "production-cluster", "the cluster registered", |st| ready(st, "ArgoCD"))
            .await;
    let c = argo.cluster(server).expect("registered in Argo CD");
    assert_eq!(c["name"], "production-cluster");
    assert_eq!(c["config"]["bearerToken"], "sa-token-1");
    assert!(st.resources.iter().any(|r| r.kind == "cluster" && r.id.as_deref() == Some(server) && r.created));

    // the seed's ArgoCDProject: one destination by server, one by clusterRef
    let aps: Api<ArgoCDProject> = b.api();
    let ap: ArgoCDProject = object(json!({
        "metadata": {"name": "infrastructure"},
        "spec": {"sdp": ["production"], "projectName": "infrastructure",
                 "description": "Shared infrastructure applications",
                 "sourceRepos": ["https://gitlab.example.com/infrastructure/*"],
                 "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "*"},
                                  {"clusterRef": "production-cluster", "namespace": "*"}],
                 "accessControl": [{"keycloakGroup": "platform-admins", "role": "admin"}]},
    }));
    aps.create(&PostParams::default(), &ap).await.unwrap();
    let st = status_when(&b.cluster, &aps, "infrastructure", "the project ready", |st| ready(st, "ArgoCD")).await;
    assert_eq!(st.argocd_project_created, Some(true));
    let p = argo.project("infrastructure").expect("the Argo CD project");
    assert_eq!(p["spec"]["description"], "Shared infrastructure applications");
    assert_eq!(p["spec"]["sourceRepos"], json!(["https://gitlab.example.com/infrastructure/*"]));
    let mut servers: Vec<&str> =
        p["spec"]["destinations"].as_array().unwrap().iter().map(|d| d["server"].as_str().unwrap()).collect();
    servers.sort();
    assert_eq!(servers, ["https://api.prod.example.com:6443", "https://kubernetes.default.svc"]);
    let roles = p["spec"]["roles"].as_array().unwrap();
    assert_eq!(roles.len(), 1, "only the roles accessControl names: {roles:?}");
    assert_eq!(roles[0]["name"], "admin");
    assert_eq!(roles[0]["groups"], json!(["platform-admins"]));
    assert_eq!(
        roles[0]["policies"][0].as_str().unwrap().replace(' ', ""),
        "p,proj:infrastructure:admin,applications,*,infrastructure/*,allow"
    );

    // a project someone else made is adopted, and left in place on deletion
    argo.seed_project(json!({"metadata": {"name": "legacy"}, "spec": {"description": "made by hand"}}));
    let legacy: ArgoCDProject = object(json!({
        "metadata": {"name": "legacy"},
        "spec": {"sdp": ["production"], "projectName": "legacy", "description": "made by hand",
                 "accessControl": [{"keycloakGroup": "auditors", "role": "viewer"}]},
    }));
    aps.create(&PostParams::default(), &legacy).await.unwrap();
    let st = status_when(&b.cluster, &aps, "legacy", "legacy adopted", |st| ready(st, "ArgoCD")).await;
    assert_eq!(st.argocd_project_created, Some(false));
    assert_eq!(argo.project("legacy").unwrap()["spec"]["roles"][0]["groups"], json!(["auditors"]));

    quiet(&aps, "infrastructure", || (argo.writes(), argo.requests().len())).await;
    quiet(&clusters, "production-cluster", || (argo.writes(), argo.requests().len())).await;

    // a rotated token is taken up
    let secrets: Api<Secret> = b.api();
    let s: Secret = object(json!({"metadata": {"name": "prod-cluster-token"}, "stringData": {"token": "sa-token-2"}}));
    secrets.replace("prod-cluster-token", &PostParams::default(), &s).await.unwrap();
    b.cluster
        .eventually("the new token in Argo CD", async || {
            (argo.cluster(server)?["config"]["bearerToken"] == "sa-token-2").then_some(())
        })
        .await;

    // deletion waits while an application uses the project
    argo.add_application("ingress-nginx", "infrastructure");
    aps.delete("infrastructure", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(aps.get_opt("infrastructure").await.unwrap().is_some(), "held while Argo CD refuses");
    assert!(argo.project("infrastructure").is_some());
    argo.remove_application("ingress-nginx");
    gone(&b.cluster, &aps, "infrastructure").await;
    assert!(argo.project("infrastructure").is_none());
    aps.delete("legacy", &DeleteParams::default()).await.unwrap();
    gone(&b.cluster, &aps, "legacy").await;
    assert!(argo.project("legacy").is_some(), "the adopted project stays");
    clusters.delete("production-cluster", &DeleteParams::default()).await.unwrap();
    gone(&b.cluster, &clusters, "production-cluster").await;
    assert!(argo.cluster(server).is_none(), "the registration nines made is removed");

    argo.assert_no_violations();
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_groups_nested_under_their_parent_and_adopted_ones_stay() {
    let gitlab = GitLabDouble::start().await;
    let b = Bench::start().await;
    secret(&b.cluster, &b.ns, "gitlab-creds", json!({"token": TOKEN})).await;
    b.platform(json!({
        "metadata": {"name": "production"},
        "spec": {"gitlab": {"url": gitlab.url, "credentialsRef": {"secretName": "gitlab-creds"}}},
    }))
    .await;
    let groups: Api<GitLabGroup> = b.api();
    let group = |name: &str, path: &str, visibility: &str| -> GitLabGroup {
        object(json!({
            "metadata": {"name": name},
            "spec": {"sdp": ["production"], "groupPath": path, "visibility": visibility},
        }))
    };
    // the nested group first: it waits for its parent
    groups.create(&PostParams::default(), &group("tools", "shared-libs/tools", "private")).await.unwrap();
    status_when(&b.cluster, &groups, "tools", "tools waiting for its parent", |st| {
        st.conditions.iter().any(|c| c.type_ == "GitLabReady" && c.status == "False" && c.message.contains("parent"))
    })
    .await;
    groups.create(&PostParams::default(), &group("shared-libs", "shared-libs", "internal")).await.unwrap();
    let st = status_when(&b.cluster, &groups, "shared-libs", "shared-libs ready", |st| ready(st, "GitLab")).await;
    let parent = gitlab.group_id("shared-libs").expect("the group");
    assert_eq!(st.gitlab_group_id, Some(parent));
    assert_eq!(gitlab.group("shared-libs").unwrap()["visibility"], "internal");
    let st = status_when(&b.cluster, &groups, "tools", "tools ready", |st| ready(st, "GitLab")).await;
    let tools = gitlab.group("shared-libs/tools").expect("the nested group");
    assert_eq!(tools["parent_id"], json!(parent));
    assert_eq!(st.gitlab_group_id, tools["id"].as_i64());

    // an existing group is adopted (its visibility kept in line) and stays
    let legacy_id = gitlab.add_group("legacy", "Legacy", "public", None);
    groups.create(&PostParams::default(), &group("legacy", "legacy", "private")).await.unwrap();
    let st = status_when(&b.cluster, &groups, "legacy", "legacy adopted", |st| ready(st, "GitLab")).await;
    let r = st.resources.iter().find(|r| r.kind == "group").unwrap();
    assert_eq!((r.created, r.id.clone()), (false, Some(legacy_id.to_string())), "{st:?}");
    assert_eq!(gitlab.group("legacy").unwrap()["visibility"], "private");

    quiet(&groups, "shared-libs", || (gitlab.writes(), gitlab.requests().len())).await;

    for name in ["tools", "shared-libs", "legacy"] {
        groups.delete(name, &DeleteParams::default()).await.unwrap();
        gone(&b.cluster, &groups, name).await;
    }
    assert!(gitlab.group("shared-libs/tools").is_none() && gitlab.group("shared-libs").is_none());
    assert_eq!(gitlab.group_id("legacy"), Some(legacy_id), "the adopted group stays");

    gitlab.assert_no_violations();
    b.finish().await;
}
