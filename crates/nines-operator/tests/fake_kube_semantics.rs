//! The fake API server keeps the semantics the controllers rely on: watch
//! from a resourceVersion, no-op writes without events, generation on spec
//! changes only, the status subresource, finalizers with deletionTimestamp,
//! owner-reference garbage collection, server-side apply removing fields a
//! manager stopped applying, and kinds served only once their CRD exists.

mod common;
mod fake_kube;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use nines_operator::crd::{Endpoint, EndpointSpec};
use serde_json::json;

#[tokio::test]
async fn the_fake_behaves_like_an_api_server() {
    let fake = fake_kube::FakeKube::start().await;
    let c = fake.client();
    // custom kinds are served once their CRD exists
    let eps: Api<Endpoint> = Api::namespaced(c.clone(), "a");
    assert!(eps.list(&Default::default()).await.is_err());
    nines_operator::cli::apply_crds(&c).await.unwrap();
    assert!(fake.knows("nines.dev", "endpoints"));

    // server-side apply creates, then removes what the manager no longer applies
    let spec = EndpointSpec { remote_address: "h".into(), expected_body: Some("ok".into()), ..Default::default() };
    let pp = PatchParams::apply("t").force();
    let created = eps.patch("e", &pp, &Patch::Apply(&Endpoint::new("e", spec.clone()))).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let rv0: u64 = created.resource_version().unwrap().parse().unwrap();
    let no_body = EndpointSpec { expected_body: None, ..spec.clone() };
    let e = eps.patch("e", &pp, &Patch::Apply(&Endpoint::new("e", no_body))).await.unwrap();
    assert_eq!(e.spec.expected_body, None);
    assert_eq!(e.metadata.generation, Some(2));

    // status only through the subresource; status writes keep the generation
    let st = json!({"status": {"phase": "synced"}});
    let e = eps.patch("e", &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
    assert!(e.status.is_none());
    let e = eps.patch_status("e", &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
    assert_eq!(e.status.as_ref().unwrap().phase.as_deref(), Some("synced"));
    assert_eq!(e.metadata.generation, Some(2));
    // a write that changes nothing keeps the resourceVersion
    let again = eps.patch_status("e", &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
    assert_eq!(again.resource_version(), e.resource_version());

    // a watch from the first resourceVersion replays every change since, in order
    let mut w = eps.watch(&WatchParams::default().timeout(2), &rv0.to_string()).await.unwrap().boxed();
    let mut seen = Vec::new();
    while let Some(Ok(ev)) = w.next().await {
        if let WatchEvent::Modified(o) = ev {
            seen.push(o.resource_version().unwrap());
        }
    }
    // the apply and the status write; the main-resource status patch changed nothing
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].parse::<u64>().unwrap() < seen[1].parse::<u64>().unwrap());

    // finalizers hold deletion; owner references cascade
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "a");
    let owner = cms
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap())
        .await
        .unwrap();
    let dep = json!({"metadata": {"name": "dep", "finalizers": ["x/y"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.uid().unwrap()}]}});
    cms.create(&PostParams::default(), &serde_json::from_value(dep).unwrap()).await.unwrap();
    cms.delete("owner", &DeleteParams::default()).await.unwrap();
    let held = cms.get("dep").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some(), "garbage collection marks the dependent");
    let rm = json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "x/y"}, {"op": "remove", "path": "/metadata/finalizers/0"}]);
    cms.patch("dep", &PatchParams::default(), &Patch::Json::<()>(serde_json::from_value(rm).unwrap())).await.unwrap();
    assert!(cms.get_opt("dep").await.unwrap().is_none(), "gone with its last finalizer");

    // requests are recorded as RBAC sees them, with the user of the client that sent them
    let op: Api<Endpoint> = Api::namespaced(fake.client_as("op"), "a");
    op.list(&Default::default()).await.unwrap();
    op.patch_status("e", &PatchParams::default(), &Patch::Merge(&st)).await.unwrap();
    op.delete("e", &DeleteParams::default()).await.unwrap();
    let mine: Vec<(String, String, String, String)> = fake
        .accesses()
        .into_iter()
        .filter(|a| a.user.as_deref() == Some("op"))
        .map(|a| (a.verb, format!("{}/{}", a.group, a.resource), a.subresource, a.namespace))
        .collect();
    let row = |v: &str, sub: &str| (v.to_string(), "nines.dev/endpoints".to_string(), sub.to_string(), "a".to_string());
    assert_eq!(mine, vec![row("list", ""), row("patch", "status"), row("delete", "")]);
    assert!(fake.accesses().iter().any(|a| a.user.is_none() && a.verb == "create" && a.resource == "configmaps"));

    // after a compaction, a watch from before it is told 410 Gone
    fake.compact();
    let mut w = cms.watch(&WatchParams::default().timeout(2), &rv0.to_string()).await.unwrap().boxed();
    match w.next().await {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410, "{e:?}"),
        other => panic!("not a 410: {other:?}"),
    }
}

/// Where the fake used to be kinder than the API server, it now fails the
/// same way; the same assertions run against a private real control plane
/// when one is installed (`NINES_KUBE_APISERVER_BIN`, `NINES_ETCD_BIN`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_fails_where_the_api_server_does() {
    let fake = fake_kube::FakeKube::start().await;
    refusals(fake.client(), "fake").await;
    match common::envtest::binaries() {
        Ok((etcd, apiserver)) => {
            let plane = common::envtest::ControlPlane::start(&etcd, &apiserver).await;
            refusals(plane.client.clone(), "kube-apiserver").await;
        }
        Err(why) => {
            assert!(
                std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "no real API server under NINES_TEST_REQUIRE_ALL=1: {why}"
            );
            eprintln!("SKIP the real API server half: {why}");
        }
    }
}

async fn refusals(c: kube::Client, server: &str) {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let code = |e: kube::Error| match e {
        kube::Error::Api(s) => s.code,
        other => panic!("{server}: not an API error: {other}"),
    };
    nines_operator::cli::apply_crds(&c).await.unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    ns.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "r"}})).unwrap())
        .await
        .unwrap();
    let eps: Api<Endpoint> = Api::namespaced(c.clone(), "r");
    let crd_served = async || eps.list(&Default::default()).await.is_ok();
    for _ in 0..100 {
        if crd_served().await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // two managers applying one field with different values conflict; force takes it over
    let spec = EndpointSpec { remote_address: "a.example".into(), ..Default::default() };
    eps.patch("e", &PatchParams::apply("one"), &Patch::Apply(&Endpoint::new("e", spec.clone()))).await.unwrap();
    let other = EndpointSpec { remote_address: "b.example".into(), ..Default::default() };
    let refused = eps
        .patch("e", &PatchParams::apply("two"), &Patch::Apply(&Endpoint::new("e", other.clone())))
        .await
        .unwrap_err();
    assert_eq!(code(refused), 409, "{server}: a conflicting apply");
    // the same value is shared ownership, no conflict
    eps.patch("e", &PatchParams::apply("three"), &Patch::Apply(&Endpoint::new("e", spec.clone()))).await.unwrap();
    let taken =
        eps.patch("e", &PatchParams::apply("two").force(), &Patch::Apply(&Endpoint::new("e", other))).await.unwrap();
    assert_eq!(taken.spec.remote_address, "b.example", "{server}");
    // the first manager lost the field: applying its old value conflicts now
    let back = eps.patch("e", &PatchParams::apply("one"), &Patch::Apply(&Endpoint::new("e", spec))).await.unwrap_err();
    assert_eq!(code(back), 409, "{server}: the old owner applying again");

    // strategic merge patch: built-in kinds take it, custom resources do not
    let smp = json!({"metadata": {"labels": {"x": "y"}}});
    let refused = eps.patch("e", &PatchParams::default(), &Patch::Strategic(&smp)).await.unwrap_err();
    assert_eq!(code(refused), 415, "{server}: strategic merge on a custom resource");
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "r");
    cms.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "cm"}})).unwrap())
        .await
        .unwrap();
    cms.patch("cm", &PatchParams::default(), &Patch::Strategic(&smp)).await.unwrap();

    // a resourceVersion in a patch is a precondition
    let stale = json!({"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}});
    let refused = cms.patch("cm", &PatchParams::default(), &Patch::Merge(&stale)).await.unwrap_err();
    assert_eq!(code(refused), 409, "{server}: a patch with a stale resourceVersion");
    let current = cms.get("cm").await.unwrap().resource_version().unwrap();
    let fresh = json!({"metadata": {"resourceVersion": current, "labels": {"a": "b"}}});
    cms.patch("cm", &PatchParams::default(), &Patch::Merge(&fresh)).await.unwrap();

    // a watch by label selector: an object relabelled out of it is DELETED for it
    let labelled = json!({"metadata": {"name": "sel", "labels": {"app": "x"}}});
    let created = cms.create(&PostParams::default(), &serde_json::from_value(labelled).unwrap()).await.unwrap();
    let rv = created.resource_version().unwrap();
    let wp = WatchParams::default().labels("app=x").timeout(5);
    let mut w = cms.watch(&wp, &rv).await.unwrap().boxed();
    let relabel = json!({"metadata": {"labels": {"app": "y"}}});
    cms.patch("sel", &PatchParams::default(), &Patch::Merge(&relabel)).await.unwrap();
    let mut deleted = false;
    while let Some(Ok(ev)) = w.next().await {
        match ev {
            WatchEvent::Deleted(o) if o.name_any() == "sel" => {
                deleted = true;
                break;
            }
            WatchEvent::Bookmark(_) => {}
            other => panic!("{server}: unexpected {other:?}"),
        }
    }
    assert!(deleted, "{server}: no DELETED for an object that left the selector");

    // a custom resource is pruned and validated against its CRD's schema
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("nines.dev", "v1alpha1", "Endpoint"));
    let raw: Api<DynamicObject> = Api::namespaced_with(c.clone(), "r", &ar);
    let with_extra: DynamicObject = serde_json::from_value(json!({"apiVersion": "nines.dev/v1alpha1", "kind": "Endpoint",
        "metadata": {"name": "pruned"}, "spec": {"displayName": "d", "remoteAddress": "h", "remotePort": 443, "kind": "http",
        "tls": true, "path": "/", "timeout": 5, "interval": 60, "expectedStatusCodes": [200, "300-399"], "colour": "red"}}))
    .unwrap();
    let stored = raw.create(&PostParams::default(), &with_extra).await.unwrap();
    assert!(stored.data["spec"].get("colour").is_none(), "{server}: an unknown field kept: {:?}", stored.data);
    assert_eq!(stored.data["spec"]["expectedStatusCodes"], json!([200, "300-399"]), "{server}");
    let mut wrong = with_extra.clone();
    wrong.metadata.name = Some("wrong".into());
    wrong.data["spec"]["remotePort"] = json!("https");
    let refused = raw.create(&PostParams::default(), &wrong).await.unwrap_err();
    assert_eq!(code(refused), 422, "{server}: a string where the schema wants an integer");

    // (dynamic access works the same on both)
    let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
    let dynamic: Api<DynamicObject> = Api::namespaced_with(c.clone(), "r", &ApiResource::from_gvk(&gvk));
    assert!(dynamic.get("cm").await.unwrap().labels().contains_key("a"), "{server}");
}
