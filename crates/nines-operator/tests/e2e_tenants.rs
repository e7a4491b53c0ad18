//! End to end, tenant provisioning into a real Keycloak (the server
//! distribution, started by the harness): a SoftwareDeliveryPlatform is
//! checked per system; an Organization gets its group and role subgroups;
//! a group deleted by hand comes back; an existing group is adopted and
//! left in place on deletion; refused credentials say so and rotated ones
//! are taken up; `deletionPolicy: Orphan` leaves everything; deleting
//! removes what nines created. Against the in-process fake API server (or
//! the cluster of `NINES_TEST_KUBECONFIG`).

mod common;
mod fake_kube;

use common::vendor_spec::{RecordingProxy, VendorSpec, specs_dir};
use common::{Cluster, OPERATOR_USER, Operator, Server, rbac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use nines_operator::crd::{Contact, ContactGroup, Organization, SoftwareDeliveryPlatform, TenantStatus};
use nines_operator::provision::keycloak::KeycloakAdmin;
use nines_testing::keycloak::Keycloak;
use serde_json::{Value, json};

fn credentials(name: &str, id: &str, secret: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {"client-id": id, "client-secret": secret},
    }))
    .unwrap()
}

fn condition<'a>(st: &'a TenantStatus, t: &str) -> Option<&'a nines_operator::crd::Condition> {
    st.conditions.iter().find(|c| c.type_ == t)
}

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
            let o = api.get_opt(name).await.ok()??;
            let st = o.tenant_status()?;
            pred(&st).then_some(st)
        })
        .await
}

trait HasTenantStatus {
    fn tenant_status(&self) -> Option<TenantStatus>;
}
impl HasTenantStatus for Organization {
    fn tenant_status(&self) -> Option<TenantStatus> {
        self.status.clone()
    }
}
impl HasTenantStatus for SoftwareDeliveryPlatform {
    fn tenant_status(&self) -> Option<TenantStatus> {
        self.status.clone()
    }
}

fn ready_with(st: &TenantStatus, system: &str, reason: Option<&str>) -> bool {
    let sys = condition(st, &format!("{system}Ready"));
    st.phase.as_deref() == Some("Ready")
        && sys.is_some_and(|c| c.status == "True" && reason.is_none_or(|r| c.reason == r))
}

fn org(name: &str, extra: Value) -> Organization {
    let mut v = json!({
        "metadata": {"name": name},
        "spec": {"sdp": "production", "displayName": name,
                 "keycloak": {"groupName": name, "attributes": {"description": [format!("{name} organization")]}}},
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).unwrap()
}

async fn children(kc: &KeycloakAdmin, id: &str) -> Vec<String> {
    let mut names: Vec<String> = kc.children(id).await.unwrap().into_iter().map(|g| g.name).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_reach_keycloak_and_leave_it() {
    let Some(kc) = Keycloak::shared().await else { return };
    let mut cluster = Cluster::new().await;
    let realm = format!("tenants-{}", cluster.suffix);
    let (client_id, client_secret) = kc.create_realm(&realm).await;
    // the test's own view of the realm, with nines' credentials
    let admin = KeycloakAdmin::new(&kc.base, &realm, &client_id, &client_secret);
    // the operator talks to Keycloak through a recording proxy: every
    // request it sends is checked against Keycloak's OpenAPI document
    let proxy = RecordingProxy::start(&kc.base).await;

    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("keycloak-creds", &client_id, "wrong")).await.unwrap();

    // the platform, with credentials Keycloak refuses: it says so
    let sdp: SoftwareDeliveryPlatform = serde_json::from_value(json!({
        "metadata": {"name": "production"},
        "spec": {
            "keycloak": {"url": proxy.url, "realm": realm,
                         "credentialsRef": {"secretName": "keycloak-creds", "clientIdKey": "client-id", "clientSecretKey": "client-secret"}},
            "settings": {"autoCreateRoleSubgroups": true, "defaultRoles": ["admins", "developers", "viewers"],
                         "subgroupNamePattern": "{org}-{role}"},
        }
    }))
    .unwrap();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &sdp).await.unwrap();
    let st = status_when(&cluster, &sdps, "production", "the refused credentials in the platform's status", |st| {
        condition(st, "KeycloakReady").is_some_and(|c| c.status == "False")
    })
    .await;
    let c = condition(&st, "KeycloakReady").unwrap();
    assert_eq!((c.reason.as_str(), st.phase.as_deref()), ("Unauthorized", Some("Error")), "{st:?}");
    assert!(!c.message.contains("wrong"), "the secret is not in the status: {}", c.message);

    // the right secret: taken up without touching the platform
    secrets
        .replace("keycloak-creds", &PostParams::default(), &credentials("keycloak-creds", &client_id, &client_secret))
        .await
        .unwrap();
    status_when(&cluster, &sdps, "production", "the platform ready", |st| {
        ready_with(st, "Keycloak", Some("Connected"))
    })
    .await;

    // an organization: its group, attributes and role subgroups
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    orgs.create(&PostParams::default(), &org("acme-corp", json!({}))).await.unwrap();
    let st = status_when(&cluster, &orgs, "acme-corp", "acme-corp ready", |st| ready_with(st, "Keycloak", None)).await;
    let g = admin.group_by_path("/acme-corp").await.unwrap().expect("the group exists");
    assert_eq!(st.keycloak_group_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(g.attributes.get("description"), Some(&vec!["acme-corp organization".to_string()]));
    assert!(KeycloakAdmin::created_by_nines(&g), "{g:?}");
    assert_eq!(children(&admin, &g.id).await, ["acme-corp-admins", "acme-corp-developers", "acme-corp-viewers"]);
    let recorded: Vec<(&str, &str, bool)> =
        st.resources.iter().map(|r| (r.kind.as_str(), r.name.as_str(), r.created)).collect();
    assert_eq!(
        recorded,
        [
            ("group", "acme-corp", true),
            ("subgroup", "acme-corp/acme-corp-admins", true),
            ("subgroup", "acme-corp/acme-corp-developers", true),
            ("subgroup", "acme-corp/acme-corp-viewers", true),
        ]
    );

    // in sync, a resync reads and writes nothing (the status is not written either)
    let seen = proxy.exchanges().len();
    let version = orgs.get("acme-corp").await.unwrap().metadata.resource_version;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let later: Vec<(String, String)> =
        proxy.exchanges()[seen..].iter().map(|x| (x.method.clone(), x.path.clone())).collect();
    assert!(later.iter().any(|(m, _)| m == "GET"), "the resync looked: {later:?}");
    assert!(
        later.iter().all(|(m, p)| m == "GET" || p.ends_with("/protocol/openid-connect/token")),
        "only reads while nothing changed: {later:?}"
    );
    assert_eq!(orgs.get("acme-corp").await.unwrap().metadata.resource_version, version, "no status write");

    // drift: the group deleted by hand comes back, with its subgroups
    assert!(admin.delete_group(&g.id).await.unwrap());
    let st = status_when(&cluster, &orgs, "acme-corp", "acme-corp recreated", |st| {
        st.keycloak_group_id.as_deref().is_some_and(|id| id != g.id) && ready_with(st, "Keycloak", None)
    })
    .await;
    let g2 = admin.group_by_path("/acme-corp").await.unwrap().expect("the group is back");
    assert_eq!(st.keycloak_group_id.as_deref(), Some(g2.id.as_str()));
    assert_eq!(children(&admin, &g2.id).await.len(), 3);

    // an existing group is adopted, not duplicated, and not marked as nines'
    let globex_id = kc.create_group(&realm, json!({"name": "globex", "attributes": {"owner": ["finance"]}})).await;
    orgs.create(&PostParams::default(), &org("globex", json!({}))).await.unwrap();
    let st = status_when(&cluster, &orgs, "globex", "globex adopted", |st| ready_with(st, "Keycloak", None)).await;
    assert_eq!(st.keycloak_group_id.as_deref(), Some(globex_id.as_str()));
    let group = st.resources.iter().find(|r| r.kind == "group").unwrap();
    assert!(!group.created, "{st:?}");
    let gx = admin.group_by_path("/globex").await.unwrap().unwrap();
    assert!(!KeycloakAdmin::created_by_nines(&gx));
    assert_eq!(gx.attributes.get("owner"), Some(&vec!["finance".to_string()]), "others' attributes are kept");

    // rotated credentials: a second client, the Secret switched to it
    let second = kc.create_client(&realm, "nines-rotated", true).await;
    secrets
        .replace("keycloak-creds", &PostParams::default(), &credentials("keycloak-creds", "nines-rotated", &second))
        .await
        .unwrap();
    // the first client's secret stops working: nines must be on the second
    let (code, clients, _) = kc.admin("GET", &format!("/{realm}/clients?clientId={client_id}"), None).await;
    assert_eq!(code, 200);
    let first = clients[0]["id"].as_str().unwrap().to_string();
    let (code, _, _) = kc.admin("POST", &format!("/{realm}/clients/{first}/client-secret"), None).await;
    assert_eq!(code, 200, "the first client's secret regenerated");
    orgs.create(&PostParams::default(), &org("initech", json!({"spec": {"deletionPolicy": "Orphan"}}))).await.unwrap();
    status_when(&cluster, &orgs, "initech", "initech ready with rotated credentials", |st| {
        ready_with(st, "Keycloak", None)
    })
    .await;
    let rotated = KeycloakAdmin::new(&kc.base, &realm, "nines-rotated", &second);

    // `nines operator status`: the platform's ✓ and what exists, with ids
    let report = nines_operator::controller::status_report(cluster.client.clone()).await.unwrap();
    let sdp_row = report.lines().find(|l| l.starts_with("production")).unwrap_or_default();
    assert!(sdp_row.contains("Ready") && sdp_row.contains('✓'), "{report}");
    assert!(report.contains(&globex_id) && report.contains("adopted"), "{report}");

    // deleting: Orphan leaves everything; an adopted group stays but nines'
    // subgroups go; a group nines created goes with its subgroups
    let initech = rotated.group_by_path("/initech").await.unwrap().unwrap();
    for name in ["initech", "globex", "acme-corp"] {
        orgs.delete(name, &DeleteParams::default()).await.unwrap();
        cluster
            .eventually(&format!("{name} gone"), async || orgs.get_opt(name).await.ok()?.is_none().then_some(()))
            .await;
    }
    assert_eq!(rotated.get_group(&initech.id).await.unwrap().map(|g| g.id), Some(initech.id.clone()));
    assert_eq!(children(&rotated, &initech.id).await.len(), 3, "Orphan: the subgroups stay too");
    let gx = rotated.group_by_path("/globex").await.unwrap().expect("the adopted group stays");
    assert!(children(&rotated, &gx.id).await.is_empty(), "nines' subgroups of the adopted group are gone");
    assert!(rotated.group_by_path("/acme-corp").await.unwrap().is_none(), "nines' own group is gone");

    // every request the operator sent Keycloak is one its document allows
    let mut spec = VendorSpec::load(specs_dir().join("keycloak-26.6-admin-openapi.json"));
    spec.allow("POST", "/realms/{realm}/protocol/openid-connect/token");
    let violations = proxy.violations(&spec);
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(proxy.exchanges().len() > 20);

    // every request the operator made is one the chart allows
    if let Some(fake) = cluster.fake.as_ref() {
        rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &ns);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&realm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_without_its_platform_says_so() {
    let mut cluster = Cluster::new().await;
    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    orgs.create(&PostParams::default(), &org("lonely", json!({"spec": {"sdp": "missing"}}))).await.unwrap();
    let st = status_when(&cluster, &orgs, "lonely", "the missing platform in the status", |st| {
        condition(st, "Ready").is_some_and(|c| c.reason == "PlatformNotFound")
    })
    .await;
    assert_eq!(st.phase.as_deref(), Some("Error"));
    assert!(condition(&st, "Ready").unwrap().message.contains("\"missing\""), "{st:?}");
    // deleting it is not held up by the finalizer
    orgs.delete("lonely", &DeleteParams::default()).await.unwrap();
    cluster.eventually("lonely gone", async || orgs.get_opt("lonely").await.ok()?.is_none().then_some(())).await;
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
}

fn platform(name: &str, kc: &Keycloak, realm: &str, secret: &str) -> SoftwareDeliveryPlatform {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "keycloak": {"url": kc.base, "realm": realm, "credentialsRef": {"secretName": secret}},
            "settings": {"autoCreateRoleSubgroups": true},
        }
    }))
    .unwrap()
}

/// The group paths a user is in.
async fn paths_of(kc: &KeycloakAdmin, username: &str) -> Vec<String> {
    let user = kc.find_user(Some(username), None).await.unwrap().expect("the user exists");
    let mut v: Vec<String> = kc.user_groups(&user.id).await.unwrap().into_iter().map(|g| g.path).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_join_their_groups_in_every_platform_and_only_leave_what_nines_granted() {
    let Some(kc) = Keycloak::shared().await else { return };
    let mut cluster = Cluster::new().await;
    let (prod_realm, stage_realm) = (format!("prod-{}", cluster.suffix), format!("stage-{}", cluster.suffix));
    let (prod_id, prod_secret) = kc.create_realm(&prod_realm).await;
    let (stage_id, stage_secret) = kc.create_realm(&stage_realm).await;
    let prod = KeycloakAdmin::new(&kc.base, &prod_realm, &prod_id, &prod_secret);
    let stage = KeycloakAdmin::new(&kc.base, &stage_realm, &stage_id, &stage_secret);
    kc.create_user(&prod_realm, "john.doe", "john.doe@example.com").await;
    kc.create_user(&stage_realm, "john.doe", "john.doe@example.com").await;

    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("prod-kc", &prod_id, &prod_secret)).await.unwrap();
    secrets.create(&PostParams::default(), &credentials("stage-kc", &stage_id, &stage_secret)).await.unwrap();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &platform("production", kc, &prod_realm, "prod-kc")).await.unwrap();
    sdps.create(&PostParams::default(), &platform("staging", kc, &stage_realm, "stage-kc")).await.unwrap();
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    orgs.create(&PostParams::default(), &org("acme-corp", json!({}))).await.unwrap();
    status_when(&cluster, &orgs, "acme-corp", "acme-corp ready", |st| ready_with(st, "Keycloak", None)).await;

    // a contact group in both platforms
    let groups: Api<ContactGroup> = Api::namespaced(cluster.client.clone(), &ns);
    let cg: ContactGroup = serde_json::from_value(json!({
        "metadata": {"name": "platform-admins"},
        "spec": {"sdp": ["production", "staging"], "keycloak": {"groupName": "platform-admins",
                 "attributes": {"description": ["Platform administrators"]}}},
    }))
    .unwrap();
    groups.create(&PostParams::default(), &cg).await.unwrap();
    let st = cluster
        .eventually("platform-admins in both platforms", async || {
            let st = groups.get_opt("platform-admins").await.ok()??.status?;
            ready_with(&st, "Keycloak", None).then_some(st)
        })
        .await;
    let sdps_of: Vec<&str> = st.resources.iter().map(|r| r.sdp.as_str()).collect();
    assert_eq!(sdps_of, ["production", "staging"], "{st:?}");
    for kcx in [&prod, &stage] {
        let g = kcx.group_by_path("/platform-admins").await.unwrap().expect("the group in each realm");
        assert_eq!(g.attributes.get("description"), Some(&vec!["Platform administrators".to_string()]));
    }

    // a membership someone granted by hand, before nines
    let user = prod.find_user(Some("john.doe"), None).await.unwrap().unwrap();
    let viewers = prod.group_by_path("/acme-corp/acme-corp-viewers").await.unwrap().unwrap();
    prod.add_member(&user.id, &viewers.id).await.unwrap();

    // the contact: found by email, put in its organization's role subgroup and its groups
    let contacts: Api<Contact> = Api::namespaced(cluster.client.clone(), &ns);
    let contact = |role: &str| -> Contact {
        serde_json::from_value(json!({
            "metadata": {"name": "john-doe"},
            "spec": {"keycloak": {"email": "john.doe@example.com"},
                     "organizations": [{"name": "acme-corp", "role": role}],
                     "additionalGroups": [{"contactGroup": "platform-admins"}]},
        }))
        .unwrap()
    };
    contacts.create(&PostParams::default(), &contact("developer")).await.unwrap();
    cluster
        .eventually("john.doe in his groups", async || {
            let p = paths_of(&prod, "john.doe").await;
            let s = paths_of(&stage, "john.doe").await;
            (p == ["/acme-corp/acme-corp-developers", "/acme-corp/acme-corp-viewers", "/platform-admins"]
                && s == ["/platform-admins"])
            .then_some(())
        })
        .await;
    let st = cluster
        .eventually("the contact ready", async || {
            let st = contacts.get_opt("john-doe").await.ok()??.status?;
            ready_with(&st, "Keycloak", None).then_some(st)
        })
        .await;
    assert_eq!(st.resources.iter().filter(|r| r.kind == "membership").count(), 3, "{st:?}");

    // the role changes: out of developers (nines granted it), viewers was already there
    cluster.edit(&contacts, "john-doe", |c| c.spec.organizations[0].role = "viewer".into()).await;
    cluster
        .eventually("john.doe moved to viewers", async || {
            let p = paths_of(&prod, "john.doe").await;
            (p == ["/acme-corp/acme-corp-viewers", "/platform-admins"]).then_some(())
        })
        .await;

    // an unknown role is named in the status
    // (the operator may write the object between our read and our write:
    // on a real server that is a 409, and the edit is made again on a fresh read)
    cluster.edit(&contacts, "john-doe", |c| c.spec.organizations[0].role = "auditor".into()).await;
    let st = cluster
        .eventually("the unknown role in the status", async || {
            let st = contacts.get_opt("john-doe").await.ok()??.status?;
            condition(&st, "KeycloakReady").is_some_and(|c| c.status == "False").then_some(st)
        })
        .await;
    let msg = &condition(&st, "KeycloakReady").unwrap().message;
    assert!(msg.contains("organizations[0].role") && msg.contains("auditor"), "{msg}");

    // deleting the contact takes back only what nines granted
    contacts.delete("john-doe", &DeleteParams::default()).await.unwrap();
    cluster
        .eventually("john-doe gone", async || contacts.get_opt("john-doe").await.ok()?.is_none().then_some(()))
        .await;
    assert_eq!(paths_of(&prod, "john.doe").await, ["/acme-corp/acme-corp-viewers"], "the hand-made membership stays");
    assert!(paths_of(&stage, "john.doe").await.is_empty());

    // deleting the contact group removes it from both platforms
    groups.delete("platform-admins", &DeleteParams::default()).await.unwrap();
    cluster
        .eventually("platform-admins gone", async || {
            groups.get_opt("platform-admins").await.ok()?.is_none().then_some(())
        })
        .await;
    for kcx in [&prod, &stage] {
        assert!(kcx.group_by_path("/platform-admins").await.unwrap().is_none());
    }
    if let Some(fake) = cluster.fake.as_ref() {
        rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &ns);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&prod_realm).await;
    kc.delete_realm(&stage_realm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_group_dropped_from_a_platform_is_let_go_per_deletion_policy() {
    let Some(kc) = Keycloak::shared().await else { return };
    let mut cluster = Cluster::new().await;
    let (prod_realm, stage_realm) = (format!("cgprod-{}", cluster.suffix), format!("cgstage-{}", cluster.suffix));
    let (prod_id, prod_secret) = kc.create_realm(&prod_realm).await;
    let (stage_id, stage_secret) = kc.create_realm(&stage_realm).await;
    let prod = KeycloakAdmin::new(&kc.base, &prod_realm, &prod_id, &prod_secret);
    let stage = KeycloakAdmin::new(&kc.base, &stage_realm, &stage_id, &stage_secret);
    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("prod-kc", &prod_id, &prod_secret)).await.unwrap();
    secrets.create(&PostParams::default(), &credentials("stage-kc", &stage_id, &stage_secret)).await.unwrap();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &platform("production", kc, &prod_realm, "prod-kc")).await.unwrap();
    sdps.create(&PostParams::default(), &platform("staging", kc, &stage_realm, "stage-kc")).await.unwrap();

    // two contact groups in both platforms: one Delete (the default), one Orphan
    let groups: Api<ContactGroup> = Api::namespaced(cluster.client.clone(), &ns);
    for (name, policy) in [("platform-admins", "Delete"), ("auditors", "Orphan")] {
        let cg: ContactGroup = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"sdp": ["production", "staging"], "keycloak": {"groupName": name}, "deletionPolicy": policy},
        }))
        .unwrap();
        groups.create(&PostParams::default(), &cg).await.unwrap();
    }
    let in_both = async |name: &str| {
        cluster
            .eventually(&format!("{name} in both platforms"), async || {
                let st = groups.get_opt(name).await.ok()??.status?;
                (ready_with(&st, "Keycloak", None) && st.resources.len() == 2).then_some(())
            })
            .await
    };
    in_both("platform-admins").await;
    in_both("auditors").await;
    for name in ["/platform-admins", "/auditors"] {
        assert!(stage.group_by_path(name).await.unwrap().is_some(), "{name} in staging");
    }

    // staging dropped from both
    for name in ["platform-admins", "auditors"] {
        cluster.edit(&groups, name, |cg| cg.spec.sdp = vec!["production".into()]).await;
    }
    for name in ["platform-admins", "auditors"] {
        let st = cluster
            .eventually(&format!("{name} only in production"), async || {
                let st = groups.get_opt(name).await.ok()??.status?;
                (ready_with(&st, "Keycloak", None) && st.resources.iter().all(|r| r.sdp == "production")).then_some(st)
            })
            .await;
        let msg = &condition(&st, "KeycloakReady").unwrap().message;
        assert!(!msg.contains("staging"), "{name}: {msg}");
    }
    assert!(stage.group_by_path("/platform-admins").await.unwrap().is_none(), "Delete: nines' group in staging goes");
    assert!(stage.group_by_path("/auditors").await.unwrap().is_some(), "Orphan: it stays");
    assert!(prod.group_by_path("/platform-admins").await.unwrap().is_some());

    for name in ["platform-admins", "auditors"] {
        groups.delete(name, &DeleteParams::default()).await.unwrap();
        cluster
            .eventually(&format!("{name} gone"), async || groups.get_opt(name).await.ok()?.is_none().then_some(()))
            .await;
    }
    assert!(prod.group_by_path("/platform-admins").await.unwrap().is_none());
    assert!(prod.group_by_path("/auditors").await.unwrap().is_some(), "Orphan");
    if let Some(fake) = cluster.fake.as_ref() {
        rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &ns);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&prod_realm).await;
    kc.delete_realm(&stage_realm).await;
}

/// The provisioning benchmark (bench/tenants/run.sh): `ORGS` Organizations
/// and `CONTACTS` Contacts (default 100 and 500) applied at once against the
/// real Keycloak, with the production resync periods; prints the seconds
/// until all are Ready, then the Keycloak calls per reconcile of one more
/// pass over everything while nothing changed (reads only expected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/tenants/run.sh"]
async fn bench_provisioning() {
    let n_orgs: usize = std::env::var("ORGS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let n_contacts: usize = std::env::var("CONTACTS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let Some(kc) = Keycloak::shared().await else { return };
    let mut cluster = Cluster::new().await;
    let realm = format!("bench-{}", cluster.suffix);
    let (client_id, client_secret) = kc.create_realm(&realm).await;
    for i in 0..n_contacts {
        kc.create_user(&realm, &format!("user-{i}"), &format!("user-{i}@example.com")).await;
    }
    let proxy = RecordingProxy::start(&kc.base).await;
    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("bench").await;
    // the production periods: an object in sync is looked at every 5 minutes
    let op = Operator::start_tuned(
        &cluster,
        &ns,
        &srv.base,
        &key,
        json!({}),
        std::sync::Arc::new(nines_server::SystemClock),
        |s| {
            let d = nines_operator::runtime::Settings::new("x", "y");
            s.tenant_resync = d.tenant_resync;
            s.platform_recheck = d.platform_recheck;
        },
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("kc", &client_id, &client_secret)).await.unwrap();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    let mut sdp = platform("production", kc, &realm, "kc");
    sdp.spec.keycloak.as_mut().unwrap().url = proxy.url.clone();
    sdps.create(&PostParams::default(), &sdp).await.unwrap();
    status_when(&cluster, &sdps, "production", "the platform ready", |st| ready_with(st, "Keycloak", None)).await;

    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    let contacts: Api<Contact> = Api::namespaced(cluster.client.clone(), &ns);
    let started = std::time::Instant::now();
    for i in 0..n_orgs {
        orgs.create(&PostParams::default(), &org(&format!("org-{i}"), json!({}))).await.unwrap();
    }
    for i in 0..n_contacts {
        let c: Contact = serde_json::from_value(json!({
            "metadata": {"name": format!("contact-{i}")},
            "spec": {"keycloak": {"username": format!("user-{i}")},
                     "organizations": [{"name": format!("org-{}", i % n_orgs.max(1)), "role": "developer"}]},
        }))
        .unwrap();
        contacts.create(&PostParams::default(), &c).await.unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1800);
    loop {
        let ready = |st: &Option<TenantStatus>| st.as_ref().is_some_and(|s| s.phase.as_deref() == Some("Ready"));
        let o = orgs.list(&Default::default()).await.unwrap().items.iter().filter(|o| ready(&o.status)).count();
        let c = contacts.list(&Default::default()).await.unwrap().items.iter().filter(|c| ready(&c.status)).count();
        if o == n_orgs && c == n_contacts {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{o}/{n_orgs} organizations and {c}/{n_contacts} contacts ready");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    let calls_to_ready = proxy.exchanges().len();
    // in sync: one more pass of every object (a change to the platform's
    // labels makes every organization look again; the contacts are
    // touched one by one), and the Keycloak calls it takes
    let before = proxy.exchanges().len();
    let count = |c: &str| op.metrics.reconciles(c, true) + op.metrics.reconciles(c, false);
    let passes_before = count("organization") + count("contact");
    let touch = serde_json::json!({"metadata": {"annotations": {"bench.nines.dev/pass": "2"}}});
    let pp = kube::api::PatchParams::default();
    sdps.patch("production", &pp, &kube::api::Patch::Merge(&touch)).await.unwrap();
    for i in 0..n_contacts {
        contacts.patch(&format!("contact-{i}"), &pp, &kube::api::Patch::Merge(&touch)).await.unwrap();
    }
    let want = (n_orgs + n_contacts) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while count("organization") + count("contact") - passes_before < want && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let window = proxy.exchanges()[before..].to_vec();
    let passes = count("organization") + count("contact") - passes_before;
    let writes = window.iter().filter(|x| x.method != "GET" && !x.path.ends_with("/openid-connect/token")).count();
    println!(
        "BENCH orgs={n_orgs} contacts={n_contacts} seconds_to_ready={:.1} keycloak_calls_to_ready={calls_to_ready} \
         reconciles_in_sync={passes} calls_in_sync={} calls_per_reconcile={:.2} writes_in_sync={writes}",
        elapsed.as_secs_f64(),
        window.len(),
        window.len() as f64 / passes.max(1) as f64,
    );
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&realm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_groups_and_memberships_converge_beside_keycloak() {
    use common::gitlab_double::{GitLabDouble, TOKEN};
    let Some(kc) = Keycloak::shared().await else { return };
    let gitlab = GitLabDouble::start().await;
    let mut cluster = Cluster::new().await;
    let realm = format!("gl-{}", cluster.suffix);
    let (client_id, client_secret) = kc.create_realm(&realm).await;
    let admin = KeycloakAdmin::new(&kc.base, &realm, &client_id, &client_secret);
    kc.create_user(&realm, "jane", "jane@example.com").await;
    let jane = gitlab.add_user("jane", "Jane", "jane@example.com", None);

    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    // the production periods: an object in sync is looked at every 5 minutes
    let op = Operator::start_tuned(
        &cluster,
        &ns,
        &srv.base,
        &key,
        json!({}),
        std::sync::Arc::new(nines_server::SystemClock),
        |s| {
            let d = nines_operator::runtime::Settings::new("x", "y");
            s.tenant_resync = d.tenant_resync;
            s.platform_recheck = d.platform_recheck;
        },
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("kc", &client_id, &client_secret)).await.unwrap();
    let gl_secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "gl"}, "stringData": {"token": TOKEN}})).unwrap();
    secrets.create(&PostParams::default(), &gl_secret).await.unwrap();
    let mut sdp = platform("production", kc, &realm, "kc");
    sdp.spec.gitlab =
        Some(serde_json::from_value(json!({"url": gitlab.url, "credentialsRef": {"secretName": "gl"}})).unwrap());
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &sdp).await.unwrap();
    let st = status_when(&cluster, &sdps, "production", "both systems connected", |st| {
        ready_with(st, "Keycloak", None) && ready_with(st, "GitLab", Some("Connected"))
    })
    .await;
    assert!(condition(&st, "GitLabReady").unwrap().message.contains("nines-bot"), "{st:?}");

    // GitLab down: Keycloak still converges, the organization says which system failed
    gitlab.set_down(true);
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    let acme = org(
        "acme-corp",
        json!({"spec": {"gitlab": {"enabled": true, "groupPath": "acme-corp", "visibility": "private"}}}),
    );
    orgs.create(&PostParams::default(), &acme).await.unwrap();
    let st = status_when(&cluster, &orgs, "acme-corp", "Keycloak done, GitLab failing", |st| {
        condition(st, "KeycloakReady").is_some_and(|c| c.status == "True")
            && condition(st, "GitLabReady").is_some_and(|c| c.status == "False")
    })
    .await;
    assert_eq!(st.phase.as_deref(), Some("Error"));
    assert!(condition(&st, "Ready").unwrap().message.starts_with("GitLab: "), "{st:?}");
    assert!(admin.group_by_path("/acme-corp").await.unwrap().is_some());
    // back up: it converges, nothing duplicated
    gitlab.set_down(false);
    let st = status_when(&cluster, &orgs, "acme-corp", "acme-corp ready in both", |st| {
        ready_with(st, "Keycloak", None) && ready_with(st, "GitLab", None)
    })
    .await;
    let group_id = gitlab.group_id("acme-corp").expect("the GitLab group");
    assert_eq!(st.gitlab_group_id, Some(group_id));
    assert_eq!(gitlab.group("acme-corp").unwrap()["visibility"], "private");

    // a contact: Keycloak role subgroup and the GitLab group at the developer level
    let contacts: Api<Contact> = Api::namespaced(cluster.client.clone(), &ns);
    let contact = |role: &str| -> Contact {
        serde_json::from_value(json!({
            "metadata": {"name": "jane"},
            "spec": {"keycloak": {"username": "jane"}, "organizations": [{"name": "acme-corp", "role": role}]},
        }))
        .unwrap()
    };
    contacts.create(&PostParams::default(), &contact("developer")).await.unwrap();
    cluster
        .eventually("jane a developer in GitLab", async || {
            (gitlab.member_level(group_id, jane) == Some(30)).then_some(())
        })
        .await;
    cluster.edit(&contacts, "jane", |c| c.spec.organizations[0].role = "admin".into()).await;
    cluster.eventually("jane an owner", async || (gitlab.member_level(group_id, jane) == Some(50)).then_some(())).await;
    status_when_contact(&cluster, &contacts, "jane").await;
    contacts.delete("jane", &DeleteParams::default()).await.unwrap();
    cluster.eventually("jane gone", async || contacts.get_opt("jane").await.ok()?.is_none().then_some(())).await;
    assert_eq!(gitlab.member_level(group_id, jane), None, "the membership nines granted is taken back");

    // deletion goes GitLab first: with GitLab down, the Keycloak group stays
    gitlab.set_down(true);
    orgs.delete("acme-corp", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(orgs.get_opt("acme-corp").await.unwrap().is_some(), "held by its finalizer");
    assert!(admin.group_by_path("/acme-corp").await.unwrap().is_some(), "Keycloak waits for GitLab");
    gitlab.set_down(false);
    cluster.eventually("acme-corp gone", async || orgs.get_opt("acme-corp").await.ok()?.is_none().then_some(())).await;
    assert!(gitlab.group("acme-corp").is_none());
    assert!(admin.group_by_path("/acme-corp").await.unwrap().is_none());
    gitlab.assert_no_violations();
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&realm).await;
}

async fn status_when_contact(cluster: &Cluster, contacts: &Api<Contact>, name: &str) -> TenantStatus {
    cluster
        .eventually("the contact ready", async || {
            let st = contacts.get_opt(name).await.ok()??.status?;
            (ready_with(&st, "Keycloak", None) && ready_with(&st, "GitLab", None)).then_some(st)
        })
        .await
}

/// The seed's example end to end: one platform naming Keycloak (real),
/// GitLab, Harbor and Argo CD (doubles that check every request against
/// their vendors' documents), one organization with everything on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_in_all_four_systems_and_its_deletion_order() {
    use common::argocd_double::ArgoCdDouble;
    use common::gitlab_double::{GitLabDouble, TOKEN};
    use common::harbor_double::HarborDouble;
    let Some(kc) = Keycloak::shared().await else { return };
    let (gitlab, harbor, argo) =
        (GitLabDouble::start().await, HarborDouble::start().await, ArgoCdDouble::start().await);
    let mut cluster = Cluster::new().await;
    let realm = format!("all-{}", cluster.suffix);
    let (client_id, client_secret) = kc.create_realm(&realm).await;
    let admin = KeycloakAdmin::new(&kc.base, &realm, &client_id, &client_secret);

    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    for (name, data) in [
        ("keycloak-creds", json!({"client-id": client_id, "client-secret": client_secret})),
        ("gitlab-creds", json!({"token": TOKEN})),
        ("harbor-creds", json!({"username": harbor.username, "password": harbor.password})),
        ("argocd-creds", json!({"token": argo.token})),
    ] {
        let s: Secret = serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
        secrets.create(&PostParams::default(), &s).await.unwrap();
    }
    // the seed's SoftwareDeliveryPlatform, with its URLs on loopback
    let sdp: SoftwareDeliveryPlatform = serde_json::from_value(json!({
        "metadata": {"name": "production"},
        "spec": {
            "keycloak": {"url": kc.base, "realm": realm, "credentialsRef": {"secretName": "keycloak-creds",
                         "clientIdKey": "client-id", "clientSecretKey": "client-secret"}},
            "gitlab": {"url": gitlab.url, "credentialsRef": {"secretName": "gitlab-creds", "tokenKey": "token"}},
            "harbor": {"url": harbor.url, "credentialsRef": {"secretName": "harbor-creds", "usernameKey": "username", "passwordKey": "password"}},
            "argocd": {"url": argo.url, "credentialsRef": {"secretName": "argocd-creds", "tokenKey": "token"},
                "roles": {
                    "admin": {"policies": ["p, proj:{project}:admin, applications, *, {project}/*, allow",
                                           "p, proj:{project}:admin, repositories, *, {project}/*, allow"]},
                    "developer": {"policies": ["p, proj:{project}:developer, applications, get, {project}/*, allow",
                                               "p, proj:{project}:developer, applications, sync, {project}/*, allow"]},
                    "viewer": {"policies": ["p, proj:{project}:viewer, applications, get, {project}/*, allow"]}}},
            "settings": {"autoCreateRoleSubgroups": true, "defaultRoles": ["admins", "developers", "viewers"],
                         "subgroupNamePattern": "{org}-{role}"},
        }
    }))
    .unwrap();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &sdp).await.unwrap();
    status_when(&cluster, &sdps, "production", "all four connected", |st| {
        ["Keycloak", "GitLab", "Harbor", "ArgoCD"].iter().all(|s| ready_with(st, s, Some("Connected")))
    })
    .await;
    let report = nines_operator::controller::status_report(cluster.client.clone()).await.unwrap();
    let row = report.lines().find(|l| l.starts_with("production")).unwrap_or_default().to_string();
    assert_eq!(row.matches('✓').count(), 4, "{report}");

    // Harbor down at first: the other three converge, the organization names Harbor
    harbor.set_down(true);
    let acme = org(
        "acme-corp",
        json!({"spec": {
            "gitlab": {"enabled": true, "groupPath": "acme-corp", "visibility": "private"},
            "harbor": {"enabled": true, "projectName": "acme-corp", "storageQuota": "50Gi"},
            "argocd": {"enabled": true, "projectName": "acme-corp", "sourceRepos": ["https://gitlab.example.com/acme-corp/*"],
                       "roleBindings": [{"role": "admin", "keycloakGroups": ["acme-corp-admins"]},
                                        {"role": "developer", "keycloakGroups": ["acme-corp-developers"]}]},
        }}),
    );
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    orgs.create(&PostParams::default(), &acme).await.unwrap();
    let st = status_when(&cluster, &orgs, "acme-corp", "three systems in sync, Harbor failing", |st| {
        ["KeycloakReady", "GitLabReady", "ArgoCDReady"]
            .iter()
            .all(|t| condition(st, t).is_some_and(|c| c.status == "True"))
            && condition(st, "HarborReady").is_some_and(|c| c.status == "False")
    })
    .await;
    assert!(condition(&st, "Ready").unwrap().message.starts_with("Harbor: "), "{st:?}");
    harbor.set_down(false);
    let st = status_when(&cluster, &orgs, "acme-corp", "all four in sync", |st| {
        ["Keycloak", "GitLab", "Harbor", "ArgoCD"].iter().all(|s| ready_with(st, s, None))
    })
    .await;

    // the seed's "Erstellte Ressourcen"
    let g = admin.group_by_path("/acme-corp").await.unwrap().unwrap();
    assert_eq!(children(&admin, &g.id).await, ["acme-corp-admins", "acme-corp-developers", "acme-corp-viewers"]);
    assert!(gitlab.group("acme-corp").is_some());
    let project = harbor.project("acme-corp").expect("the Harbor project");
    assert_eq!(st.harbor_project_id, Some(project.id));
    assert_eq!(harbor.storage_quota("acme-corp"), Some(50 * 1024_i64.pow(3)));
    let mut members: Vec<(String, i64, i64)> =
        harbor.members("acme-corp").into_iter().map(|m| (m.group_name, m.group_type, m.role_id)).collect();
    members.sort();
    assert_eq!(
        members,
        [("acme-corp-admins".into(), 3, 1), ("acme-corp-developers".into(), 3, 2), ("acme-corp-viewers".into(), 3, 3)]
    );
    let p = argo.project("acme-corp").expect("the Argo CD project");
    let roles = p["spec"]["roles"].as_array().unwrap();
    let admin_role = roles.iter().find(|r| r["name"] == "admin").unwrap();
    assert_eq!(admin_role["groups"], json!(["acme-corp-admins"]));
    assert!(
        admin_role["policies"].as_array().unwrap().iter().any(|p| p
            .as_str()
            .unwrap()
            .replace(' ', "")
            .contains("proj:acme-corp:admin,applications,*,acme-corp/*,allow")),
        "{admin_role}"
    );
    assert_eq!(p["spec"]["sourceRepos"], json!(["https://gitlab.example.com/acme-corp/*"]));
    assert_eq!(st.argocd_project_created, Some(true));

    // deletion: Argo CD first; an application in the project holds everything back
    argo.add_application("shop", "acme-corp");
    harbor.add_repository("acme-corp", "shop/web");
    orgs.delete("acme-corp", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(orgs.get_opt("acme-corp").await.unwrap().is_some(), "held while Argo CD refuses");
    assert!(
        argo.project("acme-corp").is_some()
            && harbor.project("acme-corp").is_some()
            && gitlab.group("acme-corp").is_some()
    );
    // the application goes: Argo CD's project goes, Harbor's waits for its repository
    argo.remove_application("shop");
    cluster.eventually("the Argo CD project gone", async || argo.project("acme-corp").is_none().then_some(())).await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(harbor.project("acme-corp").is_some(), "Harbor never forced: 412 while it holds a repository");
    assert!(gitlab.group("acme-corp").is_some() && admin.group_by_path("/acme-corp").await.unwrap().is_some());
    harbor.clear_repositories("acme-corp");
    cluster.eventually("acme-corp gone", async || orgs.get_opt("acme-corp").await.ok()?.is_none().then_some(())).await;
    assert!(harbor.project("acme-corp").is_none() && gitlab.group("acme-corp").is_none());
    assert!(admin.group_by_path("/acme-corp").await.unwrap().is_none());

    gitlab.assert_no_violations();
    harbor.assert_no_violations();
    argo.assert_no_violations();
    if let Some(fake) = cluster.fake.as_ref() {
        rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &ns);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&realm).await;
}

/// A GitLabGroup's access lists: the people of a Keycloak group and of an
/// organization become members of the GitLab group at the level given;
/// someone who leaves the Keycloak group leaves the GitLab group too, and a
/// membership made by hand stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_group_takes_its_members_from_keycloak_groups() {
    use common::gitlab_double::{GitLabDouble, TOKEN};
    use nines_operator::crd::GitLabGroup;
    let Some(kc) = Keycloak::shared().await else { return };
    let gitlab = GitLabDouble::start().await;
    let mut cluster = Cluster::new().await;
    let realm = format!("glg-{}", cluster.suffix);
    let (client_id, client_secret) = kc.create_realm(&realm).await;
    let admin = KeycloakAdmin::new(&kc.base, &realm, &client_id, &client_secret);
    let alice = kc.create_user(&realm, "alice", "alice@example.com").await;
    let bob = kc.create_user(&realm, "bob", "bob@example.com").await;
    let (gl_alice, gl_bob, gl_carol) = (
        gitlab.add_user("alice", "Alice", "alice@example.com", None),
        gitlab.add_user("bob", "Bob", "bob@example.com", None),
        gitlab.add_user("carol", "Carol", "carol@example.com", None),
    );
    let admins = kc.create_group(&realm, json!({"name": "platform-admins"})).await;
    admin.add_member(&alice, &admins).await.unwrap();

    let srv = Server::start(nines_store::testing::sqlite().await).await;
    let key = srv.key("acme", "operator").await;
    let ns = cluster.namespace("polycrate").await;
    let op = Operator::start(&cluster, &ns, &srv.base, &key, json!({})).await;
    let secrets: Api<Secret> = Api::namespaced(cluster.client.clone(), &ns);
    secrets.create(&PostParams::default(), &credentials("kc", &client_id, &client_secret)).await.unwrap();
    let gl_secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "gl"}, "stringData": {"token": TOKEN}})).unwrap();
    secrets.create(&PostParams::default(), &gl_secret).await.unwrap();
    let mut sdp = platform("production", kc, &realm, "kc");
    sdp.spec.gitlab =
        Some(serde_json::from_value(json!({"url": gitlab.url, "credentialsRef": {"secretName": "gl"}})).unwrap());
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(cluster.client.clone(), &ns);
    sdps.create(&PostParams::default(), &sdp).await.unwrap();
    let orgs: Api<Organization> = Api::namespaced(cluster.client.clone(), &ns);
    orgs.create(&PostParams::default(), &org("acme-corp", json!({}))).await.unwrap();
    status_when(&cluster, &orgs, "acme-corp", "acme-corp ready", |st| ready_with(st, "Keycloak", None)).await;
    let developers = admin.group_by_path("/acme-corp/acme-corp-developers").await.unwrap().unwrap();
    admin.add_member(&bob, &developers.id).await.unwrap();

    let groups: Api<GitLabGroup> = Api::namespaced(cluster.client.clone(), &ns);
    let glg: GitLabGroup = serde_json::from_value(json!({
        "metadata": {"name": "shared-libs"},
        "spec": {"sdp": ["production"], "groupPath": "shared-libs", "visibility": "internal",
                 "accessControl": [{"keycloakGroup": "platform-admins", "accessLevel": "owner"}],
                 "organizationAccess": [{"organization": "acme-corp", "accessLevel": "developer"}]},
    }))
    .unwrap();
    groups.create(&PostParams::default(), &glg).await.unwrap();
    let gid = cluster.eventually("the GitLab group", async || gitlab.group_id("shared-libs")).await;
    cluster
        .eventually("alice an owner, bob a developer", async || {
            (gitlab.member_level(gid, gl_alice) == Some(50) && gitlab.member_level(gid, gl_bob) == Some(30))
                .then_some(())
        })
        .await;
    gitlab.add_member(gid, gl_carol, 20);
    // bob leaves the organization's developers: he leaves the GitLab group; carol's hand-made membership stays
    admin.remove_member(&bob, &developers.id).await.unwrap();
    cluster.eventually("bob gone", async || gitlab.member_level(gid, gl_bob).is_none().then_some(())).await;
    assert_eq!(gitlab.member_level(gid, gl_carol), Some(20));
    assert_eq!(gitlab.member_level(gid, gl_alice), Some(50));
    groups.delete("shared-libs", &DeleteParams::default()).await.unwrap();
    cluster
        .eventually("shared-libs gone", async || groups.get_opt("shared-libs").await.ok()?.is_none().then_some(()))
        .await;
    assert!(gitlab.group("shared-libs").is_none(), "nines created it: it goes");
    gitlab.assert_no_violations();
    if let Some(fake) = cluster.fake.as_ref() {
        rbac::assert_grants_allow(&rbac::chart(), &fake.accesses(), OPERATOR_USER, &ns);
    }
    op.shutdown().await;
    cluster.cleanup().await;
    srv.stop().await;
    kc.delete_realm(&realm).await;
}
