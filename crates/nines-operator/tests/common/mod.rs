//! What the end-to-end suites share: a cluster, a real `nines serve` on
//! loopback with an operator key, and the operator's controllers running
//! in-process against both.
//!
//! The cluster is, in order: the one of `NINES_TEST_KUBECONFIG` (shared:
//! tests keep to namespaces of their own); a private `kube-apiserver` with
//! `etcd` for the test when `NINES_KUBE_APISERVER_BIN` and `NINES_ETCD_BIN`
//! name them ([`envtest`]); otherwise the in-process fake, with a printed
//! note (and a failure under `NINES_TEST_REQUIRE_ALL=1`). `NINES_TEST_KUBE=fake`
//! picks the fake whatever is installed.
#![allow(dead_code)]

pub mod argocd_double;
pub mod envtest;
pub mod gitlab_double;
pub mod harbor_double;
pub mod rbac;
pub mod vendor_spec;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, PostParams};
use nines_core::clock::Clock;

use nines_operator::controller::run_controllers;
use nines_operator::crd::{OPERATOR_CONFIG_NAME, OperatorConfig};
use nines_operator::runtime::{Metrics, Settings};
use nines_store::testing::TestDb;
use serde_json::{Value, json};
use tokio::sync::watch;

use nines_testing::server::Srv;

use crate::fake_kube::FakeKube;

/// The user the operator's requests are recorded as on the fake.
pub const OPERATOR_USER: &str = "nines-operator";

pub struct Cluster {
    pub client: kube::Client,
    /// The client the operator runs with: on the fake its requests are
    /// recorded as [`OPERATOR_USER`]'s, apart from the test's own.
    pub operator_client: kube::Client,
    /// The API server URL.
    pub url: String,
    pub fake: Option<FakeKube>,
    /// The private control plane, when the test runs on one.
    pub plane: Option<envtest::ControlPlane>,
    /// Suffix that keeps this run's namespaces apart on a shared cluster.
    pub suffix: String,
    pub namespaces: Vec<String>,
}

fn suffix() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{:06x}", n & 0xffffff)
}

impl Cluster {
    /// The fake, or the cluster of `NINES_TEST_KUBECONFIG`.
    pub async fn new() -> Cluster {
        // RUST_LOG=nines_operator=debug shows what the controllers do
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        match std::env::var("NINES_TEST_KUBECONFIG").ok().filter(|v| !v.is_empty()) {
            Some(path) => {
                eprintln!("running against the real cluster of NINES_TEST_KUBECONFIG={path}");
                let kc = kube::config::Kubeconfig::read_from(&path).expect("reading NINES_TEST_KUBECONFIG");
                let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
                let url = config.cluster_url.to_string().trim_end_matches('/').to_string();
                let client = kube::Client::try_from(config).unwrap();
                Cluster {
                    operator_client: client.clone(),
                    client,
                    url,
                    fake: None,
                    plane: None,
                    suffix: suffix(),
                    namespaces: vec![],
                }
            }
            None => {
                let wanted_fake = std::env::var("NINES_TEST_KUBE").is_ok_and(|v| v == "fake");
                match envtest::binaries() {
                    Ok((etcd, apiserver)) if !wanted_fake => {
                        let plane = envtest::ControlPlane::start(&etcd, &apiserver).await;
                        Cluster {
                            client: plane.client.clone(),
                            operator_client: plane.operator_client.clone(),
                            url: plane.url.clone(),
                            fake: None,
                            plane: Some(plane),
                            suffix: suffix(),
                            namespaces: vec![],
                        }
                    }
                    found => {
                        if let Err(why) = found {
                            assert!(
                                std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                                "no real API server under NINES_TEST_REQUIRE_ALL=1: {why}"
                            );
                            eprintln!("running against the in-process fake API server: {why}");
                        }
                        Cluster::fake().await
                    }
                }
            }
        }
    }

    /// The in-process fake, whatever is installed: for tests that read what
    /// it recorded (the requests and watches the operator made).
    pub async fn fake() -> Cluster {
        let fake = FakeKube::start().await;
        Cluster {
            client: fake.client(),
            operator_client: fake.client_as(OPERATOR_USER),
            url: fake.url(),
            fake: Some(fake),
            plane: None,
            suffix: suffix(),
            namespaces: vec![],
        }
    }

    /// Whether owner references are garbage collected: the fake and a
    /// full cluster do; a private control plane has no controller manager.
    pub fn collects_garbage(&self) -> bool {
        self.plane.is_none()
    }

    /// Running on a cluster of its own (the fake or a private control
    /// plane), where cluster-scoped writes (Nodes, CRDs) touch nobody else.
    pub fn is_private(&self) -> bool {
        self.fake.is_some() || self.plane.is_some()
    }

    pub fn is_real(&self) -> bool {
        self.fake.is_none()
    }

    /// How long to wait for a reaction: a real cluster is slower than the
    /// fake. Generous, since CI runs the suites side by side on two cores
    /// (a tenant test once took longer than 20 s there); waiting longer
    /// never lets a wrong reaction pass.
    pub fn patience(&self) -> Duration {
        if self.is_real() { Duration::from_secs(120) } else { Duration::from_secs(60) }
    }

    /// A fresh namespace named `<base>-<suffix>`.
    pub async fn namespace(&mut self, base: &str) -> String {
        let name = format!("{base}-{}", self.suffix);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(self.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
        self.namespaces.push(name.clone());
        name
    }

    pub async fn cleanup(&self) {
        for ns in &self.namespaces {
            let _ = Api::<Namespace>::all(self.client.clone()).delete(ns, &DeleteParams::default()).await;
        }
    }

    /// Poll `f` until it returns Some, for at most [`Cluster::patience`].
    pub async fn eventually<T>(&self, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + self.patience();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Read `name`, change it with `f` and replace it, again on a fresh
    /// read while another writer (the operator, writing its finalizer or
    /// metadata) came in between: a real API server refuses the stale
    /// resourceVersion with 409. Any other refusal fails the test.
    pub async fn edit<K>(&self, api: &Api<K>, name: &str, f: impl Fn(&mut K)) -> K
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    {
        self.eventually(&format!("{name} edited"), async || {
            let mut obj = api.get(name).await.unwrap();
            f(&mut obj);
            match api.replace(name, &PostParams::default(), &obj).await {
                Ok(o) => Some(o),
                Err(kube::Error::Api(e)) if e.code == 409 => None,
                Err(e) => panic!("replacing {name}: {e}"),
            }
        })
        .await
    }
}

/// A real `nines serve` on loopback (`nines_testing::server`), set up for
/// the operator: it neither runs the checks nor marks the silence of what
/// the operator declares.
pub struct Server {
    srv: Srv,
    _db: TestDb,
}

impl std::ops::Deref for Server {
    type Target = Srv;
    fn deref(&self) -> &Srv {
        &self.srv
    }
}

impl Server {
    pub async fn start(db: TestDb) -> Server {
        Server::start_with_clock(db, Arc::new(nines_server::SystemClock)).await
    }

    /// A server on `clock` (a test moves it and the operator's together).
    pub async fn start_with_clock(db: TestDb, clock: Arc<dyn Clock>) -> Server {
        let config = nines_server::ServerConfig {
            // the server never runs the checks the operator declares: their
            // hosts are not on loopback, and tests only talk to loopback
            checks_reload_every: Duration::from_secs(24 * 3600),
            // nor marks silence: what goes DOWN here, the operator reported
            stale_check_every: Duration::from_secs(24 * 3600),
            ..nines_server::ServerConfig::default()
        };
        let srv = nines_testing::server::start_with(db.store.clone(), clock, config).await;
        Server { srv, _db: db }
    }

    /// GET as the admin; the body, once it answered 200.
    pub async fn get(&self, path: &str) -> Value {
        let (code, v) = self.srv.get(path, &self.srv.admin).await;
        assert_eq!(code, 200, "GET {path}: {v}");
        v
    }

    pub async fn stop(self) {
        self.srv.stop().await;
    }
}

/// The operator's controllers running in-process.
pub struct Operator {
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub metrics: Arc<Metrics>,
}

impl Operator {
    /// Install the CRDs, write the operator key Secret and the OperatorConfig
    /// `default` (with `extra` merged into its spec) into `namespace`, start
    /// the controllers.
    pub async fn start(cluster: &Cluster, namespace: &str, api_url: &str, key: &str, extra: Value) -> Operator {
        Operator::start_with_clock(cluster, namespace, api_url, key, extra, Arc::new(nines_server::SystemClock)).await
    }

    /// [`Operator::start`] on `clock`.
    pub async fn start_with_clock(
        cluster: &Cluster,
        namespace: &str,
        api_url: &str,
        key: &str,
        extra: Value,
        clock: Arc<dyn Clock>,
    ) -> Operator {
        Operator::start_tuned(cluster, namespace, api_url, key, extra, clock, |_| {}).await
    }

    /// [`Operator::start_with_clock`] with `tune` applied to the settings
    /// last (a benchmark keeps the production resync periods).
    pub async fn start_tuned(
        cluster: &Cluster,
        namespace: &str,
        api_url: &str,
        key: &str,
        extra: Value,
        clock: Arc<dyn Clock>,
        tune: impl FnOnce(&mut Settings),
    ) -> Operator {
        nines_operator::cli::apply_crds(&cluster.client).await.unwrap();
        if let Some(plane) = &cluster.plane {
            plane.grant_namespace(namespace).await;
        }
        let secret = Secret {
            metadata: kube::api::ObjectMeta { name: Some("nines-api".into()), ..Default::default() },
            data: Some([("token".to_string(), k8s_openapi::ByteString(key.as_bytes().to_vec()))].into()),
            ..Default::default()
        };
        Api::<Secret>::namespaced(cluster.client.clone(), namespace)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let mut spec = json!({
            "api_sync": {"enabled": true, "api_url": api_url, "credentials_ref": {"secret_name": "nines-api"}},
            "hierarchy": {"platform": "k8s", "environment": "test", "cluster": format!("c-{}", cluster.suffix)},
        });
        json_patch::merge(&mut spec, &extra);
        let oc: OperatorConfig =
            serde_json::from_value(json!({"metadata": {"name": OPERATOR_CONFIG_NAME}, "spec": spec})).unwrap();
        let api = Api::<OperatorConfig>::namespaced(cluster.client.clone(), namespace);
        cluster
            .eventually("the OperatorConfig CRD to be served", async || {
                api.create(&PostParams::default(), &oc).await.ok()
            })
            .await;
        let (stop, rx) = watch::channel(false);
        let mut settings = Settings::new(namespace, "test-operator");
        settings.config_every = Duration::from_millis(300);
        settings.report_every = Duration::from_millis(300);
        settings.tenant_resync = Duration::from_secs(1);
        settings.platform_recheck = Duration::from_secs(1);
        settings.clock = clock;
        settings.api_server_url = Some(cluster.url.clone());
        tune(&mut settings);
        let metrics = Arc::new(Metrics::default());
        let task = tokio::spawn(run_controllers(cluster.operator_client.clone(), settings, metrics.clone(), rx));
        Operator { stop, task, metrics }
    }

    /// Ask for a graceful shutdown and wait for it.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("controllers stop within 30 s")
            .unwrap()
            .unwrap();
    }
}
