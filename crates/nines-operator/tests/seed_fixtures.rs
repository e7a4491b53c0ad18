//! The operator seed's own custom-resource examples (tests/fixtures/seed,
//! API group renamed to nines.dev) validate against the generated CRDs on a
//! real kube-apiserver: created with `fieldValidation=Strict` (an unknown
//! field is an error, not silently pruned), then their status written the
//! same way through the status subresource.

mod common;
mod fake_kube;

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, PostParams};
use serde_json::{Value, json};

/// Plural resource names of the kinds in the fixtures.
fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower.ends_with('y') { format!("{}ies", &lower[..lower.len() - 1]) } else { format!("{lower}s") }
}

async fn send(client: &kube::Client, method: &str, path: &str, body: &Value) -> Result<Value, String> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", if method == "PATCH" { "application/merge-patch+json" } else { "application/json" })
        .body(serde_json::to_vec(body).unwrap())
        .unwrap();
    match client.request::<Value>(req).await {
        Ok(v) => Ok(v),
        Err(kube::Error::Api(s)) => Err(format!("{} {}: {}", s.code, s.reason, s.message)),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_examples_validate_against_the_crds() {
    let plane = match common::envtest::binaries() {
        Ok((etcd, apiserver)) => common::envtest::ControlPlane::start(&etcd, &apiserver).await,
        Err(why) => {
            assert!(
                std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "no real API server under NINES_TEST_REQUIRE_ALL=1: {why}"
            );
            return eprintln!("SKIP validating the seed's examples: {why}");
        }
    };
    let client = plane.client.clone();
    nines_operator::cli::apply_crds(&client).await.unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 15, "{files:?}");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let mut failures = Vec::new();
    for file in &files {
        let mut doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let kind = doc["kind"].as_str().unwrap().to_string();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        // every kind but Artifact is namespaced; an example without a namespace goes to `default`
        let ns = match doc["metadata"]["namespace"].as_str() {
            Some(ns) => Some(ns.to_string()),
            None if kind == "Artifact" => None,
            None => Some("default".to_string()),
        };
        if let Some(ns) = &ns {
            let _ = namespaces
                .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap())
                .await;
        }
        // owner references name objects that do not exist here
        doc["metadata"].as_object_mut().unwrap().remove("ownerReferences");
        let status = doc.as_object_mut().unwrap().remove("status");
        let base = match &ns {
            Some(ns) => format!("/apis/nines.dev/v1alpha1/namespaces/{ns}/{}", plural(&kind)),
            None => format!("/apis/nines.dev/v1alpha1/{}", plural(&kind)),
        };
        // a CRD just applied may take a moment to be served
        let mut created = Err(String::new());
        for _ in 0..50 {
            created = send(&client, "POST", &format!("{base}?fieldValidation=Strict"), &doc).await;
            if created.as_ref().is_err_and(|e| e.starts_with("404")) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            break;
        }
        if let Err(e) = created {
            failures.push(format!("{}: {kind} {name}: {e}", file.display()));
            continue;
        }
        if let Some(status) = status {
            let path = format!("{base}/{name}/status?fieldValidation=Strict");
            if let Err(e) = send(&client, "PATCH", &path, &json!({"status": status})).await {
                failures.push(format!("{}: {kind} {name} status: {e}", file.display()));
            }
        }
        // examples share names (three OperatorConfigs `default`): each goes after its check
        let req = http::Request::delete(format!("{base}/{name}")).body(Vec::new()).unwrap();
        client.request_text(req).await.unwrap();
    }
    assert!(failures.is_empty(), "examples the CRDs refuse:\n{}", failures.join("\n"));
}
