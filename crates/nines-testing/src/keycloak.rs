//! A real Keycloak for the provisioning tests (the operator's) and the
//! dashboard's sign-in tests (the server's): `kc.sh start-dev` from the
//! distribution `.ci/keycloak.sh` unpacks (`NINES_KEYCLOAK_HOME`, run with
//! the JDK of `NINES_KEYCLOAK_JAVA_HOME`), on free loopback ports, with an
//! in-memory database and a bootstrap admin client in `master`.
//!
//! Without `NINES_KEYCLOAK_HOME` the tests say `SKIP keycloak: ...` and pass,
//! unless `NINES_TEST_REQUIRE_ALL=1` (CI), when they fail.
//!
//! A JVM start costs ~25 s on two cores, so a test binary shares one server
//! ([`Keycloak::shared`]) and each test works in a realm of its own
//! ([`Keycloak::create_realm`]). The server dies with the test process
//! however that ends: it runs under a shell that waits for its standard
//! input, whose other end only the test process holds, to close.
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nines_store::testing::{ScratchDir, require_all};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// The client in `master` the server creates at its first start, with the
/// admin role of every realm.
pub const BOOTSTRAP_CLIENT_ID: &str = "nines-test-bootstrap";

/// The client [`Keycloak::create_realm`] makes for nines in each realm.
pub const NINES_CLIENT_ID: &str = "nines-operator";

/// How long a start may take before the test fails (a cold JVM on a busy
/// two-core machine takes 25 to 60 s).
const START_PATIENCE: Duration = Duration::from_secs(180);

/// Keeps the server alive while its standard input is open: end of file
/// means the test process dropped the handle or exited, and the whole
/// process group (kc.sh and its JVM) is stopped, killed if slow to stop.
/// TERM is ignored by this shell only after kc.sh is forked, so Keycloak
/// keeps its own graceful handling. The scratch directory (log, transaction
/// log) goes with the server: the shared one is never dropped.
const WATCHDOG: &str = r#"
"$0" "$@" </dev/null &
kc=$!
trap '' TERM
cat >/dev/null
kill -TERM 0 2>/dev/null
i=0
while kill -0 "$kc" 2>/dev/null && [ "$i" -lt 40 ]; do sleep 0.25; i=$((i+1)); done
[ -n "$NINES_KEYCLOAK_SCRATCH" ] && rm -rf "$NINES_KEYCLOAK_SCRATCH"
kill -KILL 0
"#;

/// A running Keycloak.
pub struct Keycloak {
    /// `http://127.0.0.1:<port>`: the base URL for clients.
    pub base: String,
    /// The management interface (health).
    pub management: String,
    /// The server's output, there while it runs.
    pub log: PathBuf,
    bootstrap_secret: String,
    child: Mutex<Option<Child>>,
    /// Held while a realm is created or deleted: both write hundreds of
    /// rows, and tests running side by side would contend on the in-memory
    /// database's locks.
    realms: tokio::sync::Mutex<()>,
    _dir: ScratchDir,
}

static SHARED: OnceCell<Keycloak> = OnceCell::const_new();

/// `bin/kc.sh` and the JDK to run it with, or why the tests cannot.
fn installation() -> Result<(PathBuf, Option<PathBuf>), String> {
    let home = std::env::var("NINES_KEYCLOAK_HOME")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or("NINES_KEYCLOAK_HOME is not set (eval \"$(bash .ci/keycloak.sh)\" sets it)")?;
    let kc = Path::new(&home).join("bin/kc.sh");
    if !kc.is_file() {
        return Err(format!("NINES_KEYCLOAK_HOME={home} holds no bin/kc.sh"));
    }
    let java = match std::env::var("NINES_KEYCLOAK_JAVA_HOME").ok().filter(|v| !v.is_empty()) {
        Some(j) if Path::new(&j).join("bin/java").is_file() => Some(PathBuf::from(j)),
        Some(j) => return Err(format!("NINES_KEYCLOAK_JAVA_HOME={j} holds no bin/java")),
        None => None,
    };
    Ok((kc, java))
}

fn skip(reason: &str) {
    if require_all() {
        panic!("keycloak: {reason} (NINES_TEST_REQUIRE_ALL=1)");
    }
    eprintln!("SKIP keycloak: {reason}");
}

fn free_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port")
}

/// Not secret beyond this test run: a value no other run guesses.
fn run_secret() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(f) = std::fs::File::open(path) else { return String::new() };
    let all: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Keycloak {
    /// A server of this test's own, or None (after saying why) when
    /// Keycloak is not installed.
    pub async fn start() -> Option<Keycloak> {
        match installation() {
            Ok((kc, java)) => Some(Keycloak::launch(&kc, java.as_deref()).await),
            Err(reason) => {
                skip(&reason);
                None
            }
        }
    }

    /// The server of this test binary, started by the first test that asks.
    pub async fn shared() -> Option<&'static Keycloak> {
        if let Err(reason) = installation() {
            skip(&reason);
            return None;
        }
        Some(SHARED.get_or_init(|| async { Keycloak::start().await.expect("installation checked above") }).await)
    }

    async fn launch(kc: &Path, java: Option<&Path>) -> Keycloak {
        let dir = ScratchDir::new("keycloak");
        let log = dir.0.join("keycloak.log");
        let out = std::fs::File::create(&log).expect("create the Keycloak log");
        let (http, management) = (free_port(), free_port());
        let (port, mport) = (http.local_addr().unwrap().port(), management.local_addr().unwrap().port());
        drop((http, management));
        let secret = run_secret();

        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(WATCHDOG).arg(kc);
        // the build-time options (--db, --health-enabled) are the ones
        // .ci/keycloak.sh primed the installation with: others would make
        // every start re-augment the server for 30 s
        cmd.args([
            "start-dev",
            "--db=dev-mem",
            "--health-enabled=true",
            "--http-host=127.0.0.1",
            &format!("--http-port={port}"),
            &format!("--http-management-port={mport}"),
        ]);
        for (k, _) in std::env::vars() {
            if k.starts_with("KC_") || k.starts_with("QUARKUS_") || k == "JAVA_OPTS" {
                cmd.env_remove(k);
            }
        }
        if let Some(j) = java {
            cmd.env("JAVA_HOME", j);
        }
        cmd.env("NINES_KEYCLOAK_SCRATCH", &dir.0)
            .env("KC_BOOTSTRAP_ADMIN_CLIENT_ID", BOOTSTRAP_CLIENT_ID)
            .env("KC_BOOTSTRAP_ADMIN_CLIENT_SECRET", &secret)
            // the transaction log otherwise lands in the installation,
            // shared by every server started from it
            .env(
                "JAVA_OPTS_APPEND",
                format!("-Dquarkus.transaction-manager.object-store.directory={}", dir.0.join("tx").display()),
            )
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0);
        let child = cmd.spawn().expect("spawn sh for kc.sh");
        eprintln!("keycloak: starting on 127.0.0.1:{port} (management {mport}), log {}", log.display());

        let kc = Keycloak {
            base: format!("http://127.0.0.1:{port}"),
            management: format!("http://127.0.0.1:{mport}"),
            log,
            bootstrap_secret: secret,
            child: Mutex::new(Some(child)),
            realms: tokio::sync::Mutex::new(()),
            _dir: dir,
        };
        kc.wait_ready().await;
        kc
    }

    /// Until the health check says ready and the bootstrap client gets a
    /// token, for at most [`START_PATIENCE`].
    async fn wait_ready(&self) {
        let started = Instant::now();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        loop {
            if let Some(status) = self.child.lock().unwrap().as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!(
                    "keycloak exited during start ({status}); log {}:\n{}",
                    self.log.display(),
                    log_tail(&self.log, 40)
                );
            }
            let ready = match http.get(format!("{}/health/ready", self.management)).send().await {
                Ok(r) => r.status().is_success(),
                Err(_) => false,
            };
            if ready && self.try_master_token().await.is_ok() {
                eprintln!("keycloak: ready after {:.1} s", started.elapsed().as_secs_f64());
                return;
            }
            if started.elapsed() > START_PATIENCE {
                panic!(
                    "keycloak not ready after {} s; log {}:\n{}",
                    START_PATIENCE.as_secs(),
                    self.log.display(),
                    log_tail(&self.log, 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn try_master_token(&self) -> Result<String, String> {
        // a client per call: tests run on runtimes of their own, and a
        // pooled connection does not outlive the runtime that opened it
        let resp = reqwest::Client::new()
            .post(format!("{}/realms/master/protocol/openid-connect/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={BOOTSTRAP_CLIENT_ID}&client_secret={}",
                self.bootstrap_secret
            ))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        match v["access_token"].as_str() {
            Some(t) if status.is_success() => Ok(t.to_string()),
            _ => Err(format!("{status}: {v}")),
        }
    }

    /// A token of the bootstrap admin client.
    pub async fn master_token(&self) -> String {
        self.try_master_token().await.expect("bootstrap admin token")
    }

    /// The bootstrap admin client's credentials (client id, secret), to test
    /// a client that lives in `master`.
    pub fn bootstrap_credentials(&self) -> (&str, &str) {
        (BOOTSTRAP_CLIENT_ID, &self.bootstrap_secret)
    }

    /// One Admin API call as the bootstrap admin: (status, JSON body or
    /// null, Location header). `path` follows `/admin/realms`.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value, Option<String>) {
        let token = self.master_token().await;
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}/admin/realms{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null), location)
    }

    pub async fn admin_ok(&self, method: &str, path: &str, body: Option<Value>) -> (Value, Option<String>) {
        let (status, v, location) = self.admin(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}; the server's log ends:\n{}",
            log_tail(&self.log, 30)
        );
        (v, location)
    }

    /// Creates `realm` and in it nines' client ([`NINES_CLIENT_ID`]) as a
    /// platform team would: confidential, service account only, holding the
    /// `realm-admin` role of the realm's own `realm-management` client.
    /// Returns (client id, secret).
    pub async fn create_realm(&self, realm: &str) -> (String, String) {
        self.create_realm_with(realm, json!({})).await
    }

    /// [`Keycloak::create_realm`] with `extra` merged into the realm
    /// representation (`{"accessTokenLifespan": 10}`).
    pub async fn create_realm_with(&self, realm: &str, extra: Value) -> (String, String) {
        let mut rep = json!({"realm": realm, "enabled": true});
        json_patch::merge(&mut rep, &extra);
        let guard = self.realms.lock().await;
        self.admin_ok("POST", "", Some(rep)).await;
        drop(guard);
        let secret = self.create_client(realm, NINES_CLIENT_ID, true).await;
        (NINES_CLIENT_ID.to_string(), secret)
    }

    /// A confidential client with a service account in `realm`, holding
    /// the realm's `realm-admin` role if `realm_admin`. Returns its secret.
    pub async fn create_client(&self, realm: &str, client_id: &str, realm_admin: bool) -> String {
        let client = json!({
            "clientId": client_id,
            "enabled": true,
            "publicClient": false,
            "serviceAccountsEnabled": true,
            "standardFlowEnabled": false,
            "directAccessGrantsEnabled": false,
        });
        let (_, location) = self.admin_ok("POST", &format!("/{realm}/clients"), Some(client)).await;
        let id = location.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("client Location");
        let (secret, _) = self.admin_ok("GET", &format!("/{realm}/clients/{id}/client-secret"), None).await;
        if realm_admin {
            let (user, _) = self.admin_ok("GET", &format!("/{realm}/clients/{id}/service-account-user"), None).await;
            let (rm, _) = self.admin_ok("GET", &format!("/{realm}/clients?clientId=realm-management"), None).await;
            let rm_id = rm[0]["id"].as_str().expect("realm-management client").to_string();
            let (role, _) = self.admin_ok("GET", &format!("/{realm}/clients/{rm_id}/roles/realm-admin"), None).await;
            let user_id = user["id"].as_str().unwrap();
            self.admin_ok(
                "POST",
                &format!("/{realm}/users/{user_id}/role-mappings/clients/{rm_id}"),
                Some(json!([role])),
            )
            .await;
        }
        secret["value"].as_str().expect("client secret").to_string()
    }

    /// An empty, enabled realm (nothing of nines' in it).
    pub async fn create_empty_realm(&self, realm: &str) {
        let _guard = self.realms.lock().await;
        self.admin_ok("POST", "", Some(json!({"realm": realm, "enabled": true}))).await;
    }

    /// A user in `realm`; returns its id.
    pub async fn create_user(&self, realm: &str, username: &str, email: &str) -> String {
        let user = json!({"username": username, "email": email, "enabled": true});
        let (_, location) = self.admin_ok("POST", &format!("/{realm}/users"), Some(user)).await;
        location.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("user Location")
    }

    /// A top-level group made directly, as someone other than nines would.
    pub async fn create_group(&self, realm: &str, rep: Value) -> String {
        let (_, location) = self.admin_ok("POST", &format!("/{realm}/groups"), Some(rep)).await;
        location.and_then(|l| l.rsplit('/').next().map(str::to_string)).expect("group Location")
    }

    pub async fn delete_realm(&self, realm: &str) {
        let _guard = self.realms.lock().await;
        let _ = self.admin("DELETE", &format!("/{realm}"), None).await;
    }

    /// Stops the server (the shared one is stopped when the process exits).
    fn stop(&self) {
        let Some(mut child) = self.child.lock().unwrap().take() else { return };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // the watchdog did not get it done: the whole group, by force
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
        let _ = child.wait();
    }
}

impl Drop for Keycloak {
    fn drop(&mut self) {
        self.stop();
    }
}
