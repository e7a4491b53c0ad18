//! A private Kubernetes control plane for one test: `etcd` and
//! `kube-apiserver` on loopback, as `.ci/build-kube.sh` builds them from
//! their Go modules (`NINES_ETCD_BIN`, `NINES_KUBE_APISERVER_BIN`).
//!
//! No kubelet and no controller manager: nothing runs Pods, deleted
//! namespaces stay `Terminating`, and owner references are not garbage
//! collected (the operator's own cleanup is what removes its objects).
//! The server signs its own serving certificate; the test's client trusts
//! it and authenticates with a static token of `system:masters`, the
//! operator's with a token of its own user, bound to the ClusterRole and
//! Role of the operator's chart (deploy/helm/nines-operator): the real
//! authorizer refuses what the chart does not grant.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADMIN_TOKEN: &str = "nines-test-admin-token";
pub const OPERATOR_TOKEN: &str = "nines-test-operator-token";

pub struct ControlPlane {
    etcd: Child,
    apiserver: Child,
    pub dir: PathBuf,
    pub url: String,
    pub client: kube::Client,
    pub operator_client: kube::Client,
}

/// Where the binaries are, or why there are none.
pub fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let find = |var: &str| -> Result<PathBuf, String> {
        let v = std::env::var(var).map_err(|_| format!("{var} is not set (see .ci/build-kube.sh)"))?;
        let p = PathBuf::from(v);
        if p.is_file() { Ok(p) } else { Err(format!("{var}={} is not a file", p.display())) }
    };
    Ok((find("NINES_ETCD_BIN")?, find("NINES_KUBE_APISERVER_BIN")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The child dies with the test process, even when the test is killed.
fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    cmd.stdout(out.try_clone().unwrap()).stderr(out).stdin(Stdio::null());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl only sets this process' parent-death signal; it
        // allocates nothing and is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    cmd.spawn().unwrap_or_else(|e| panic!("starting {:?}: {e}", cmd.get_program()))
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

async fn client(dir: &Path, url: &str, user: &str, token: &str) -> kube::Client {
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
         users:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: envtest\n  context:\n    cluster: envtest\n    user: {user}\n\
         current-context: envtest\n",
        ca = dir.join("certs/apiserver.crt").display(),
    );
    let kc: kube::config::Kubeconfig = serde_yaml_ng::from_str(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.unwrap();
    kube::Client::try_from(config).unwrap()
}

impl ControlPlane {
    pub async fn start(etcd_bin: &Path, apiserver_bin: &Path) -> ControlPlane {
        let dir = std::env::temp_dir().join(format!(
            "nines-envtest-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        ));
        std::fs::create_dir_all(dir.join("certs")).unwrap();
        let (client_port, peer_port, api_port) = (free_port(), free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = spawn(
            Command::new(etcd_bin).args([
                "--name=envtest",
                &format!("--data-dir={}", dir.join("etcd").display()),
                &format!("--listen-client-urls={etcd_url}"),
                &format!("--advertise-client-urls={etcd_url}"),
                &format!("--listen-peer-urls={peer_url}"),
                &format!("--initial-advertise-peer-urls={peer_url}"),
                &format!("--initial-cluster=envtest={peer_url}"),
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]),
            &dir.join("etcd.log"),
        );
        std::fs::write(
            dir.join("tokens.csv"),
            format!(
                "{ADMIN_TOKEN},envtest-admin,admin-uid,system:masters\n{OPERATOR_TOKEN},nines-operator,operator-uid\n"
            ),
        )
        .unwrap();
        // the service-account signing key: an RSA key in PKCS#8 PEM
        let key = dir.join("sa.key");
        let made = Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&key)
            .stderr(Stdio::null())
            .status()
            .expect("openssl, for the service-account key");
        assert!(made.success(), "openssl genpkey failed");
        let url = format!("https://127.0.0.1:{api_port}");
        let apiserver = spawn(
            Command::new(apiserver_bin).args([
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                // with no endpoint reconciler a loopback advertise address is allowed
                "--endpoint-reconciler-type=none",
                &format!("--secure-port={api_port}"),
                &format!("--cert-dir={}", dir.join("certs").display()),
                &format!("--etcd-servers={etcd_url}"),
                &format!("--token-auth-file={}", dir.join("tokens.csv").display()),
                "--authorization-mode=RBAC",
                &format!("--service-account-issuer={url}"),
                &format!("--service-account-key-file={}", key.display()),
                &format!("--service-account-signing-key-file={}", key.display()),
                "--service-cluster-ip-range=10.0.0.0/24",
                // no controller manager makes a `default` ServiceAccount
                "--disable-admission-plugins=ServiceAccount",
            ]),
            &dir.join("apiserver.log"),
        );
        let mut plane = ControlPlane {
            etcd,
            apiserver,
            dir: dir.clone(),
            url: url.clone(),
            client: kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap(),
            operator_client: kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap(),
        };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = plane.apiserver.try_wait() {
                panic!("kube-apiserver exited ({status}):\n{}", tail(&dir.join("apiserver.log")));
            }
            if let Ok(Some(status)) = plane.etcd.try_wait() {
                panic!("etcd exited ({status}):\n{}", tail(&dir.join("etcd.log")));
            }
            if dir.join("certs/apiserver.crt").is_file() {
                let c = client(&dir, &url, "envtest-admin", ADMIN_TOKEN).await;
                let ready = c
                    .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
                    .await
                    .is_ok_and(|t| t.trim() == "ok");
                if ready {
                    plane.client = c;
                    eprintln!("kube-apiserver ready at {url} ({} ms)", started.elapsed().as_millis());
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready within 90 s:\n{}",
                tail(&dir.join("apiserver.log"))
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // the operator's user may do what the chart's ClusterRole grants
        // (the Role of its namespace comes with [`ControlPlane::grant_namespace`])
        let api = kube::Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(plane.client.clone());
        let role = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nines-operator-chart"},
            "rules": policy(&super::rbac::chart().cluster),
        }))
        .unwrap();
        api.create(&Default::default(), &role).await.unwrap();
        let binding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nines-operator-chart"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "nines-operator-chart"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nines-operator"}],
        }))
        .unwrap();
        kube::Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(plane.client.clone())
            .create(&Default::default(), &binding)
            .await
            .unwrap();
        plane.operator_client = client(&dir, &url, "nines-operator", OPERATOR_TOKEN).await;
        plane
    }
}

impl ControlPlane {
    /// The chart's Role in the operator's (release) namespace, bound to the
    /// operator's user.
    pub async fn grant_namespace(&self, namespace: &str) {
        let role = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nines-operator-chart", "namespace": namespace},
            "rules": policy(&super::rbac::chart().release_namespace),
        }))
        .unwrap();
        kube::Api::<k8s_openapi::api::rbac::v1::Role>::namespaced(self.client.clone(), namespace)
            .create(&Default::default(), &role)
            .await
            .unwrap();
        let binding = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nines-operator-chart", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "nines-operator-chart"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nines-operator"}],
        }))
        .unwrap();
        kube::Api::<k8s_openapi::api::rbac::v1::RoleBinding>::namespaced(self.client.clone(), namespace)
            .create(&Default::default(), &binding)
            .await
            .unwrap();
    }
}

/// Rules as the RBAC API takes them.
fn policy(rules: &[super::rbac::Rule]) -> serde_json::Value {
    rules
        .iter()
        .map(|r| {
            let mut v = serde_json::json!({"verbs": r.verbs});
            if r.non_resource_urls.is_empty() {
                v["apiGroups"] = serde_json::json!(r.api_groups);
                v["resources"] = serde_json::json!(r.resources);
            } else {
                v["nonResourceURLs"] = serde_json::json!(r.non_resource_urls);
            }
            if !r.resource_names.is_empty() {
                v["resourceNames"] = serde_json::json!(r.resource_names);
            }
            v
        })
        .collect()
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // the API server first: stopped after etcd it retries for minutes
        let _ = self.apiserver.kill();
        let _ = self.apiserver.wait();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        if std::env::var_os("NINES_ENVTEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("envtest logs kept in {}", self.dir.display());
        }
    }
}
