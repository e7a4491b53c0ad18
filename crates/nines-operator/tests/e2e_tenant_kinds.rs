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

fn condition<'a>(st: &'a TenantStatus, t: &str) -> Option<&'a nines_operator::crd::Condition> {
    st.conditions.iter().find(|c| c.type_ == t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_k8s_cluster_is_registered_with_nines_in_its_workspace() {
    let argo = ArgoCdDouble::start().await;
    let b = Bench::start().await;
    secret(&b.cluster, &b.ns, "argocd-creds", json!({"token": argo.token})).await;
    secret(&b.cluster, &b.ns, "prod-cluster-token", json!({"token": "sa-token-1"})).await;
    b.platform(json!({
        "metadata": {"name": "production"},
        "spec": {"argocd": {"url": argo.url, "credentialsRef": {"secretName": "argocd-creds"}}},
    }))
    .await;
    let clusters: Api<K8sCluster> = b.api();
    let cluster = |name: &str, sdp: &str, workspace: Option<&str>, server: &str| -> K8sCluster {
        let mut spec = json!({"sdp": sdp, "apiServer": server,
            "authentication": {"serviceAccountToken": {"secretRef": {"name": "prod-cluster-token", "key": "token"}}}});
        if let Some(w) = workspace {
            spec["workspace"] = json!(w);
        }
        object(json!({"metadata": {"name": name}, "spec": spec}))
    };
    // the seed's cluster, in a workspace of the operator's organization: in nines and in Argo CD
    let server = "https://api.prod.example.com:6443";
    let k = cluster("production-cluster", "production", Some("acme/k8s/production"), server);
    clusters.create(&PostParams::default(), &k).await.unwrap();
    let st = status_when(&b.cluster, &clusters, "production-cluster", "registered in nines and Argo CD", |st| {
        ready(st, "Nines") && ready(st, "ArgoCD")
    })
    .await;
    let listed = b.srv.get("/api/v1/clusters").await;
    let registered: Vec<&Value> =
        listed["items"].as_array().unwrap().iter().filter(|c| c["workspace"] == "acme/k8s/production").collect();
    assert_eq!(registered.len(), 1, "{listed}");
    let c = registered[0];
    assert_eq!(c["name"], "production-cluster");
    assert_eq!(c["nodeId"], "acme/k8s/production/production-cluster");
    assert_eq!(c["apiServerUrl"], server);
    let r = st.resources.iter().find(|r| r.system == "Nines").expect("the nines record");
    assert_eq!(
        (r.kind.as_str(), r.name.as_str(), r.id.as_ref(), r.created, r.state.as_str()),
        (
            "cluster",
            "acme/k8s/production/production-cluster",
            c["id"].as_str().map(str::to_string).as_ref(),
            true,
            "Present"
        ),
        "{st:?}"
    );
    assert!(argo.cluster(server).is_some(), "and in Argo CD");
    quiet(&clusters, "production-cluster", || (argo.writes(), argo.requests().len())).await;

    // no workspace: registered in Argo CD only, and the status says why not in nines
    let edge = cluster("edge", "production", None, "https://api.edge.example.com:6443");
    clusters.create(&PostParams::default(), &edge).await.unwrap();
    let st = status_when(&b.cluster, &clusters, "edge", "edge in Argo CD", |st| ready(st, "ArgoCD")).await;
    assert!(condition(&st, "NinesReady").is_none(), "{st:?}");
    let r = st.resources.iter().find(|r| r.system == "Nines").expect("a note");
    assert_eq!(r.state, "Skipped");
    assert!(r.message.contains("spec.workspace is not set"), "{r:?}");

    // a workspace that has its cluster, and the operator's own: refused, and the API's cluster untouched
    let other = cluster("other", "", Some("acme/k8s/production"), "https://api.other.example.com:6443");
    clusters.create(&PostParams::default(), &other).await.unwrap();
    let own = cluster("own", "", Some("acme/k8s/test"), "https://api.own.example.com:6443");
    clusters.create(&PostParams::default(), &own).await.unwrap();
    for (name, words) in [("other", "has the cluster production-cluster in nines already"), ("own", "operator's own")] {
        let st = status_when(&b.cluster, &clusters, name, "refused", |st| {
            condition(st, "NinesReady").is_some_and(|c| c.status == "False")
        })
        .await;
        let c = condition(&st, "NinesReady").unwrap();
        assert_eq!(c.reason, "Refused");
        assert!(c.message.contains(words), "{name}: {c:?}");
        assert!(condition(&st, "ArgoCDReady").is_none(), "no platform, no Argo CD part: {st:?}");
    }
    let listed = b.srv.get("/api/v1/clusters").await;
    let urls: Vec<&str> =
        listed["items"].as_array().unwrap().iter().filter_map(|c| c["apiServerUrl"].as_str()).collect();
    assert_eq!(urls, [server], "{listed}");

    // `nines operator status` lists the clusters with a mark per system
    let report = nines_operator::controller::status_report(b.cluster.client.clone()).await.unwrap();
    let row = report.lines().find(|l| l.starts_with("production-cluster")).unwrap_or_default();
    assert!(row.contains("acme/k8s/production") && row.matches('✓').count() == 2, "{report}");
    assert!(report.contains("NinesReady False"), "{report}");

    // deleting the ones nines did not register leaves the registration alone
    for name in ["edge", "other", "own"] {
        clusters.delete(name, &DeleteParams::default()).await.unwrap();
        gone(&b.cluster, &clusters, name).await;
    }
    let listed = b.srv.get("/api/v1/clusters").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let first_id = listed["items"][0]["id"].clone();

    // another workspace: the registration nines made in the old one goes, the new one is made
    b.cluster.edit(&clusters, "production-cluster", |c| c.spec.workspace = Some("acme/k8s/staging".into())).await;
    let st = status_when(&b.cluster, &clusters, "production-cluster", "registered in the new workspace", |st| {
        ready(st, "Nines") && st.resources.iter().any(|r| r.name == "acme/k8s/staging/production-cluster")
    })
    .await;
    let nines: Vec<&str> = st.resources.iter().filter(|r| r.system == "Nines").map(|r| r.name.as_str()).collect();
    assert_eq!(nines, ["acme/k8s/staging/production-cluster"], "{st:?}");
    let listed = b.srv.get("/api/v1/clusters").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(
        (items[0]["workspace"].as_str(), items[0]["apiServerUrl"].as_str()),
        (Some("acme/k8s/staging"), Some(server))
    );
    assert_ne!(items[0]["id"], first_id);

    // deleting: the registrations nines made in Argo CD and in nines go
    clusters.delete("production-cluster", &DeleteParams::default()).await.unwrap();
    gone(&b.cluster, &clusters, "production-cluster").await;
    assert!(argo.cluster(server).is_none());
    let listed = b.srv.get("/api/v1/clusters").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");

    argo.assert_no_violations();
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argocd_role_dropped_from_access_control_loses_only_the_bindings_nines_granted() {
    let argo = ArgoCdDouble::start().await;
    let b = Bench::start().await;
    secret(&b.cluster, &b.ns, "argocd-creds", json!({"token": argo.token})).await;
    b.platform(json!({
        "metadata": {"name": "production"},
        "spec": {"argocd": {"url": argo.url, "credentialsRef": {"secretName": "argocd-creds"},
            "roles": {
                "admin": {"policies": ["p, proj:{project}:admin, applications, *, {project}/*, allow"]},
                "viewer": {"policies": ["p, proj:{project}:viewer, applications, get, {project}/*, allow"]}}}},
    }))
    .await;
    // a project made by hand: its viewer role is bound to auditors and has a token
    argo.seed_project(json!({"metadata": {"name": "payments"}, "spec": {"description": "payments", "roles": [
        {"name": "viewer", "policies": ["p, proj:payments:viewer, applications, get, payments/*, allow"],
         "groups": ["auditors"]}]}}));
    argo.issue_token("payments", "viewer", "tok-viewer", 1_767_225_600);
    let aps: Api<ArgoCDProject> = b.api();
    let ap: ArgoCDProject = object(json!({
        "metadata": {"name": "payments"},
        "spec": {"sdp": ["production"], "projectName": "payments", "description": "payments",
                 "accessControl": [{"keycloakGroup": "platform-admins", "role": "admin"},
                                   {"keycloakGroup": "auditors", "role": "viewer"},
                                   {"keycloakGroup": "sre", "role": "viewer"}]},
    }));
    aps.create(&PostParams::default(), &ap).await.unwrap();
    let st = status_when(&b.cluster, &aps, "payments", "payments adopted", |st| ready(st, "ArgoCD")).await;
    let groups = |role: &str| -> Value {
        let p = argo.project("payments").unwrap();
        p["spec"]["roles"].as_array().unwrap().iter().find(|r| r["name"] == role).unwrap()["groups"].clone()
    };
    assert_eq!(groups("viewer"), json!(["auditors", "sre"]));
    let mut bindings: Vec<(&str, bool)> =
        st.resources.iter().filter(|r| r.kind == "binding").map(|r| (r.name.as_str(), r.created)).collect();
    bindings.sort();
    assert_eq!(bindings, [("admin:platform-admins", true), ("viewer:auditors", false), ("viewer:sre", true)]);
    let tokens = argo.project("payments").unwrap()["spec"]["roles"][0]["jwtTokens"].clone();
    quiet(&aps, "payments", || (argo.writes(), argo.requests().len())).await;

    // viewer leaves accessControl: sre (granted by nines) goes, auditors (there before) stays, tokens untouched
    b.cluster.edit(&aps, "payments", |p| p.spec.access_control.retain(|a| a.role.as_deref() == Some("admin"))).await;
    b.cluster
        .eventually("sre unbound from viewer", async || (groups("viewer") == json!(["auditors"])).then_some(()))
        .await;
    let p = argo.project("payments").unwrap();
    let viewer = p["spec"]["roles"].as_array().unwrap().iter().find(|r| r["name"] == "viewer").unwrap().clone();
    assert_eq!(viewer["jwtTokens"], tokens, "the role's tokens as they were");
    assert_eq!(viewer["policies"], json!(["p, proj:payments:viewer, applications, get, payments/*, allow"]));
    assert_eq!(groups("admin"), json!(["platform-admins"]));
    let st = status_when(&b.cluster, &aps, "payments", "the viewer bindings forgotten", |st| {
        ready(st, "ArgoCD") && !st.resources.iter().any(|r| r.name.starts_with("viewer:"))
    })
    .await;
    assert!(st.resources.iter().any(|r| r.name == "admin:platform-admins"), "{st:?}");
    quiet(&aps, "payments", || (argo.writes(), argo.requests().len())).await;

    // deleting the adopted project: it stays, less the bindings nines granted
    aps.delete("payments", &DeleteParams::default()).await.unwrap();
    gone(&b.cluster, &aps, "payments").await;
    assert!(argo.project("payments").is_some());
    assert!(groups("admin").as_array().is_none_or(|g| g.is_empty()), "{}", groups("admin"));
    assert_eq!(groups("viewer"), json!(["auditors"]));

    argo.assert_no_violations();
    b.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_dropped_from_sdp_is_let_go_per_deletion_policy() {
    let (prod_h, stage_h) = (HarborDouble::start().await, HarborDouble::start().await);
    let (prod_g, stage_g) = (GitLabDouble::start().await, GitLabDouble::start().await);
    let b = Bench::start().await;
    secret(&b.cluster, &b.ns, "gitlab-creds", json!({"token": TOKEN})).await;
    for (name, h, g, hs) in
        [("production", &prod_h, &prod_g, "harbor-prod"), ("staging", &stage_h, &stage_g, "harbor-stage")]
    {
        secret(&b.cluster, &b.ns, hs, json!({"username": h.username, "password": h.password})).await;
        b.platform(json!({
            "metadata": {"name": name},
            "spec": {"harbor": {"url": h.url, "credentialsRef": {"secretName": hs}},
                     "gitlab": {"url": g.url, "credentialsRef": {"secretName": "gitlab-creds"}}},
        }))
        .await;
    }
    // a HarborProject (Delete) and a GitLabGroup (Orphan) in both platforms
    let hps: Api<HarborProject> = b.api();
    let hp: HarborProject = object(json!({
        "metadata": {"name": "shared-images"},
        "spec": {"sdp": ["production", "staging"], "projectName": "shared-images"},
    }));
    hps.create(&PostParams::default(), &hp).await.unwrap();
    let groups: Api<GitLabGroup> = b.api();
    let g: GitLabGroup = object(json!({
        "metadata": {"name": "tools"},
        "spec": {"sdp": ["production", "staging"], "groupPath": "tools", "deletionPolicy": "Orphan"},
    }));
    groups.create(&PostParams::default(), &g).await.unwrap();
    status_when(&b.cluster, &hps, "shared-images", "the project in both", |st| {
        ready(st, "Harbor") && st.resources.iter().any(|r| r.sdp == "staging")
    })
    .await;
    status_when(&b.cluster, &groups, "tools", "the group in both", |st| {
        ready(st, "GitLab") && st.resources.iter().any(|r| r.sdp == "staging")
    })
    .await;
    assert!(stage_h.project("shared-images").is_some() && stage_g.group("tools").is_some());

    // staging dropped while its project holds a repository: the removal waits, and says so
    stage_h.add_repository("shared-images", "base/alpine");
    b.cluster.edit(&hps, "shared-images", |p| p.spec.sdp = vec!["production".into()]).await;
    let st = status_when(&b.cluster, &hps, "shared-images", "the removal waiting", |st| {
        condition(st, "HarborReady").is_some_and(|c| c.status == "False")
    })
    .await;
    let c = condition(&st, "HarborReady").unwrap();
    assert!(c.message.contains("staging: no longer in spec.sdp"), "{c:?}");
    assert!(st.resources.iter().any(|r| r.sdp == "staging"), "kept until removed: {st:?}");
    assert!(stage_h.project("shared-images").is_some(), "never forced");
    // emptied: Delete removes it, and staging leaves the status
    stage_h.clear_repositories("shared-images");
    let st = status_when(&b.cluster, &hps, "shared-images", "staging let go of", |st| {
        ready(st, "Harbor") && st.resources.iter().all(|r| r.sdp == "production")
    })
    .await;
    assert!(stage_h.project("shared-images").is_none(), "nines' project in staging deleted");
    assert!(prod_h.project("shared-images").is_some());
    let message = &condition(&st, "HarborReady").unwrap().message;
    assert!(!message.contains("staging"), "{message}");

    // Orphan: the group in staging stays, forgotten
    b.cluster.edit(&groups, "tools", |g| g.spec.sdp = vec!["production".into()]).await;
    let st = status_when(&b.cluster, &groups, "tools", "staging forgotten", |st| {
        ready(st, "GitLab") && st.resources.iter().all(|r| r.sdp == "production")
    })
    .await;
    assert!(!condition(&st, "GitLabReady").unwrap().message.contains("staging"), "{st:?}");
    assert!(stage_g.group("tools").is_some(), "Orphan leaves it");

    // an emptied list is a mistake reported, not a removal everywhere
    b.cluster.edit(&hps, "shared-images", |p| p.spec.sdp = vec![]).await;
    status_when(&b.cluster, &hps, "shared-images", "the empty list refused", |st| {
        condition(st, "HarborReady").is_some_and(|c| c.status == "False" && c.message.contains("names no"))
    })
    .await;
    assert!(prod_h.project("shared-images").is_some());
    hps.delete("shared-images", &DeleteParams::default()).await.unwrap();
    groups.delete("tools", &DeleteParams::default()).await.unwrap();
    gone(&b.cluster, &hps, "shared-images").await;
    gone(&b.cluster, &groups, "tools").await;
    assert!(prod_h.project("shared-images").is_none(), "deleted where it was still recorded");
    assert!(prod_g.group("tools").is_some(), "Orphan");

    for (h, g) in [(&prod_h, &prod_g), (&stage_h, &stage_g)] {
        h.assert_no_violations();
        g.assert_no_violations();
    }
    b.finish().await;
}
