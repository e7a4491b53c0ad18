//! The server's chart (deploy/helm/nines) rendered by `helm template`
//! (`NINES_HELM_BIN`) with its defaults (SQLite, one replica) and for
//! PostgreSQL with three replicas and a ServiceMonitor; the manifests are
//! checked for what the chart promises, and created with `dryRun=All` on a
//! real kube-apiserver, which validates each against its schema.

mod common;
mod fake_kube;

use std::path::PathBuf;
use std::process::Command;

use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::{Discovery, Scope};
use serde_json::{Value, json};

fn require(why: String) {
    assert!(std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() != Ok("1"), "{why} under NINES_TEST_REQUIRE_ALL=1");
    eprintln!("SKIP {why}");
}

fn helm() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("NINES_HELM_BIN")?);
    p.is_file().then_some(p)
}

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/nines")
}

/// `helm template` with `--set` pairs: the manifests, or helm's error.
fn render(helm: &PathBuf, sets: &[&str]) -> Result<Vec<Value>, String> {
    let mut cmd = Command::new(helm);
    cmd.args(["template", "r", "--namespace", "nines"]).arg(chart());
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let mut docs = Vec::new();
    for d in serde_yaml_ng::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(d).unwrap();
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"].as_array()?.iter().find(|e| e["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_chart_renders_and_the_api_server_takes_it() {
    let Some(helm) = helm() else {
        return require("the server chart test: NINES_HELM_BIN is not set (see .ci/build-kube.sh)".into());
    };

    // defaults: SQLite on a volume, one replica, replaced (not rolled) on upgrade
    let sqlite = render(&helm, &[]).unwrap();
    let deploy = find(&sqlite, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "Recreate");
    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["args"][0], "serve");
    assert!(c["args"].as_array().unwrap().iter().any(|a| a == "--data-dir=/data"));
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert!(env(c, "NINES_DATABASE_URL").is_none(), "SQLite by default");
    assert_eq!(env(c, "NINES_ADMIN_KEY_FILE").unwrap()["value"], "/etc/nines/admin-key/key");
    let claim = find(&sqlite, "PersistentVolumeClaim");
    assert_eq!(claim.len(), 1);
    assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], claim[0]["metadata"]["name"]);
    // the admin key Secret holds a key nines takes
    let secrets = find(&sqlite, "Secret");
    let admin = secrets.iter().find(|s| s["metadata"]["name"] == "r-nines-admin-key").expect("the admin key Secret");
    let key: k8s_openapi::ByteString = serde_json::from_value(admin["data"]["key"].clone()).unwrap();
    let key = String::from_utf8(key.0).unwrap();
    let (id, secret) = key.strip_prefix("nines_").and_then(|k| k.split_once('_')).expect("nines_<id>_<secret>");
    assert!(id.len() == 16 && secret.len() == 64, "{key}");
    assert!(id.chars().chain(secret.chars()).all(|c| c.is_ascii_hexdigit()), "{key}");
    assert!(find(&sqlite, "ServiceMonitor").is_empty());

    // several replicas need PostgreSQL
    let refused = render(&helm, &["replicaCount=2"]).unwrap_err();
    assert!(refused.contains("replicaCount > 1 needs PostgreSQL"), "{refused}");
    let pg = render(
        &helm,
        &["replicaCount=3", "database.url=postgres://nines:pw@db.nines/nines", "serviceMonitor.enabled=true"],
    )
    .unwrap();
    let deploy = find(&pg, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert!(deploy["spec"]["strategy"].is_null(), "rolling updates with PostgreSQL");
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env(c, "NINES_DATABASE_URL").unwrap()["valueFrom"]["secretKeyRef"]["name"], "r-nines-database");
    assert!(find(&pg, "PersistentVolumeClaim").is_empty());
    assert!(!serde_json::to_string(deploy).unwrap().contains("pw@"), "the password stays in the Secret");
    let monitor = find(&pg, "ServiceMonitor")[0];
    let ep = &monitor["spec"]["endpoints"][0];
    assert_eq!(ep["path"], "/metrics");
    assert_eq!(ep["authorization"]["type"], "Bearer");
    assert_eq!(ep["authorization"]["credentials"]["name"], "r-nines-admin-key");

    // a real API server validates every manifest (dry run)
    let plane = match common::envtest::binaries() {
        Ok((etcd, apiserver)) => common::envtest::ControlPlane::start(&etcd, &apiserver).await,
        Err(why) => return require(format!("validating the chart on a real API server: {why}")),
    };
    let client = plane.client.clone();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "nines"}})).unwrap())
        .await
        .unwrap();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let dry = PostParams { dry_run: true, ..Default::default() };
    let mut validated = 0;
    for doc in sqlite.iter().chain(pg.iter()) {
        let (group, version) = match doc["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), doc["apiVersion"].as_str().unwrap().to_string()),
        };
        let kind = doc["kind"].as_str().unwrap();
        if group == "monitoring.coreos.com" {
            // prometheus-operator's CRD is not installed here; checked above
            continue;
        }
        let gvk = kube::api::GroupVersionKind::gvk(&group, &version, kind);
        let (ar, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("{kind} is not served"));
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), "nines", &ar),
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        let obj: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        api.create(&dry, &obj).await.unwrap_or_else(|e| panic!("the API server refused the {kind}: {e}"));
        validated += 1;
    }
    assert!(validated >= 10, "{validated} manifests validated");
    // and it refuses a broken one: the check is real
    let mut bad = find(&sqlite, "Deployment")[0].clone();
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("http");
    let ar = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk("apps", "v1", "Deployment"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "nines", &ar);
    assert!(api.create(&dry, &serde_json::from_value(bad).unwrap()).await.is_err());
}
