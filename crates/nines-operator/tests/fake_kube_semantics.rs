//! The fake API server keeps the semantics the controllers rely on: watch
//! from a resourceVersion, no-op writes without events, generation on spec
//! changes only, the status subresource, finalizers with deletionTimestamp,
//! owner-reference garbage collection, server-side apply removing fields a
//! manager stopped applying, and kinds served only once their CRD exists.

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
}
