//! The binary as users run it: `nines serve` with zero config, the seed's
//! curl commands, `nines push` and `nines apply`, `nines apikey`, and an
//! acknowledged report surviving `kill -9`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nines_store::testing::{ScratchDir, postgres_url};

const BIN: &str = env!("CARGO_BIN_EXE_nines");

struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path, db_url: Option<&str>) -> Server {
        Server::start_on(dir, db_url, "127.0.0.1:0")
    }

    fn start_on(dir: &Path, db_url: Option<&str>, listen: &str) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", listen, "--data-dir"]).arg(dir);
        if let Some(u) = db_url {
            cmd.args(["--database-url", u]);
        }
        cmd.env_remove("NINES_DATABASE_URL").env("NINES_LOG", "warn");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn nines serve");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().expect("banner").expect("banner line");
        let base = first.strip_prefix("nines is running at ").expect("banner names the address").trim().to_string();
        // keep draining stdout so the child never blocks on a full pipe
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Server { child, base, dir: dir.to_path_buf() }
    }

    fn admin_key(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin-api-key")).unwrap().trim().to_string()
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn term(mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(base: &str, key: &str, path: &str) -> (u16, Value) {
    let r = ::reqwest::Client::new().get(format!("{base}{path}")).header("X-API-Key", key).send().await.unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

async fn post(base: &str, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = ::reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("X-API-Key", key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn nines(args: &[&str]) -> std::process::Output {
    nines_on(args, None)
}

/// The CLI against a database: `NINES_DATABASE_URL` set for PostgreSQL,
/// removed for the data directory's SQLite.
fn nines_on(args: &[&str], db_url: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("NINES_API_KEY").env("NINES_LOG", "warn");
    match db_url {
        Some(u) => cmd.env("NINES_DATABASE_URL", u),
        None => cmd.env_remove("NINES_DATABASE_URL"),
    };
    cmd.output().unwrap()
}

/// Every backend a store-touching CLI test runs on: the data directory's
/// SQLite, and a fresh PostgreSQL schema when a server answers (required
/// under `NINES_TEST_REQUIRE_ALL=1`).
async fn backends() -> Vec<Option<String>> {
    let mut v = vec![None];
    if let Some(url) = postgres_url().await {
        v.push(Some(url));
    }
    v
}

/// The admin key from a file (a Kubernetes Secret): accepted, never written
/// to the data dir, the same after a restart; a malformed one stops the
/// start-up with a message naming the file.
#[tokio::test]
async fn an_admin_key_file_is_the_admin_key() {
    let dir = ScratchDir::new("keyfile");
    let key = format!("nines_{}_{}", "0123456789abcdef", "ab".repeat(32));
    let file = dir.0.join("mounted-key");
    std::fs::write(&file, format!("{key}\n")).unwrap();
    let start = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(&dir.0).arg("--admin-key-file").arg(&file);
        cmd.env_remove("NINES_DATABASE_URL").env("NINES_LOG", "warn");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first.strip_prefix("nines is running at ").unwrap().trim().to_string();
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        Server { child, base, dir: dir.0.clone() }
    };
    let srv = start();
    let (code, v) = get(&srv.base, &key, "/api/v1/services").await;
    assert_eq!(code, 200, "{v}");
    let other = format!("nines_{}_{}", "0123456789abcdef", "cd".repeat(32));
    assert_eq!(get(&srv.base, &other, "/api/v1/services").await.0, 401, "same id, another secret");
    assert!(!dir.0.join("admin-api-key").exists(), "no key of its own in the data dir");
    assert!(srv.term().success());
    let srv = start();
    assert_eq!(get(&srv.base, &key, "/api/v1/services").await.0, 200);
    let out = nines(&["apikey", "list", "--data-dir", dir.0.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "imported once");
    drop(srv);
    std::fs::write(&file, "not-a-key").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .arg("--admin-key-file")
        .arg(&file)
        .env_remove("NINES_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin key file") && err.contains("mounted-key") && !err.contains("not-a-key"), "{err}");
}

#[tokio::test]
async fn zero_config_serve_prints_where_to_look_and_writes_a_private_admin_key() {
    let dir = ScratchDir::new("serve");
    let srv = Server::start(&dir.0, None);
    let key_file = dir.0.join("admin-api-key");
    let meta = std::fs::metadata(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the admin key is readable only by its owner");
    }
    assert!(meta.len() > 60);
    let key = srv.admin_key();
    let (code, v) = get(&srv.base, &key, "/api/v1/services").await;
    assert_eq!(code, 200, "{v}");
    assert!(dir.0.join("nines.db").exists());
    // a restart does not mint another key
    let status = srv.term();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");
    let srv = Server::start(&dir.0, None);
    assert_eq!(srv.admin_key(), key);
    let out = nines(&["apikey", "list", "--data-dir", dir.0.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    drop(srv);
}

async fn survives_kill9(db_url: Option<String>) {
    let dir = ScratchDir::new("kill9");
    let srv = Server::start(&dir.0, db_url.as_deref());
    let key = srv.admin_key();
    let base = srv.base.clone();
    // 40 concurrent cron jobs, 10 reports each; every 2xx must survive
    let mut tasks = Vec::new();
    for j in 0..40 {
        let (base, key) = (base.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..10 {
                let status = if i % 3 == 0 { "DOWN" } else { "OPERATIONAL" };
                let body = json!({"service": format!("job-{j}"), "status": status, "nodeId": "myorg/p/prod/c1", "message": format!("run {i}")});
                let (code, _) = post(&base, &key, "/api/v1/health/report", &body).await;
                if code / 100 == 2 {
                    acked.push((j, i, status));
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    assert_eq!(acked.len(), 400);
    srv.kill9();
    let srv = Server::start(&dir.0, db_url.as_deref());
    let (_, list) = get(&srv.base, &key, "/api/v1/services").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 40);
    for it in items {
        // the last acknowledged report (run 9: DOWN) decided the status
        assert_eq!(it["status"], "DOWN", "{it}");
        assert_eq!(it["message"], "run 9");
        let (_, detail) = get(&srv.base, &key, &format!("/api/v1/services/{}", it["id"])).await;
        // UNKNOWN→DOWN at run 0, then DOWN/OPERATIONAL changes at runs 1,3,4,6,7,9
        assert_eq!(detail["timeline"].as_array().unwrap().len(), 7, "{detail}");
    }
    drop(srv);
}

#[tokio::test]
async fn acknowledged_reports_survive_kill_9_on_sqlite() {
    survives_kill9(None).await;
}

#[tokio::test]
async fn acknowledged_reports_survive_kill_9_on_postgres() {
    if let Some(url) = postgres_url().await {
        survives_kill9(Some(url)).await;
    }
}

fn sh(script: &str) -> String {
    let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn the_seed_curl_commands_work_as_written() {
    for db in backends().await {
        seed_curl_commands(db.as_deref()).await;
    }
}

async fn seed_curl_commands(db_url: Option<&str>) {
    let dir = ScratchDir::new("seed");
    let srv = Server::start(&dir.0, db_url);
    let env = format!(
        "API_URL={}; OPERATOR_API_KEY=$(cat {}); API_KEY=$OPERATOR_API_KEY; ",
        srv.base,
        dir.0.join("admin-api-key").display()
    );
    // health push (External Service Health)
    let out = sh(&format!(
        r#"{env}curl -sf -X POST $API_URL/api/v1/health/report \
-H "X-API-Key: $OPERATOR_API_KEY" \
-H "Content-Type: application/json" \
-d '{{
"service": "galera-node1",
"status": "OPERATIONAL",
"message": "wsrep_cluster_size=3, wsrep_ready=ON",
"nodeId": "myorg/infra/prod/baremetal",
"criticality": "critical",
"slaGroup": "database-cluster",
"serviceType": "database",
"tags": ["database", "storage", "galera"]
}}'"#
    ));
    assert!(out.contains("\"created\":true"), "{out}");
    // the bare-metal cron script's final curl, with its variables
    sh(&format!(
        r#"{env}NODE_ID="myorg/infra/prod/dc1"; STATUS="DEGRADED"; MSG="cluster degraded: size=2"
curl -s -X POST "$API_URL/api/v1/health/report" \
-H "X-API-Key: $API_KEY" \
-H "Content-Type: application/json" \
-d "{{\"service\":\"galera-node1\",\"status\":\"$STATUS\",\"message\":\"$MSG\",\"nodeId\":\"$NODE_ID\"}}""#
    ));
    // backup: service level, then group and namespace (without a JSON content type)
    sh(&format!(
        r#"{env}curl -sf -X POST $API_URL/api/v1/backup/report \
-H "X-API-Key: $OPERATOR_API_KEY" \
-H "Content-Type: application/json" \
-d '{{"service":"my-database","nodeId":"myorg/platform/prod/cluster1","status":"success","sizeBytes":5242880}}'"#
    ));
    let out = sh(&format!(
        r#"{env}curl -s -X POST $API_URL/api/v1/backup/report \
-H "X-API-Key: $OPERATOR_API_KEY" \
-d '{{"slaGroup":"database-cluster","status":"success"}}'"#
    ));
    assert!(out.contains("no service with a backup expected"), "the group has no member expecting backups: {out}");
    // storage: the seed's push and the CronJob's curl line as awk renders numbers
    sh(&format!(
        r#"{env}curl -sf -X POST $API_URL/api/v1/storage/report \
-H "X-API-Key: $OPERATOR_API_KEY" \
-H "Content-Type: application/json" \
-d '{{
"service": "postgresql",
"nodeId": "myorg/platform/prod/cluster1",
"allocatedBytes": 107374182400,
"usedBytes": 53687091200,
"storageType": "pvc",
"mountPath": "/var/lib/postgresql"
}}'"#
    ));
    sh(&format!(
        r#"{env}NODE_ID="myorg/platform/prod/cluster1"; NAME=redis-0; USAGE="/dev/sdb 10255636 9755636 500000 96% /data"
TOTAL=$(echo $USAGE | awk '{{print $2*1024}}'); USED=$(echo $USAGE | awk '{{print $3*1024}}')
curl -sf -X POST "$API_URL/api/v1/storage/report" \
-H "X-API-Key: $API_KEY" \
-H "Content-Type: application/json" \
-d "{{\"service\":\"$NAME\",\"nodeId\":\"$NODE_ID\",\"allocatedBytes\":$TOTAL,\"usedBytes\":$USED,\"storageType\":\"pvc\"}}""#
    ));
    let key = srv.admin_key();
    let (_, st) = get(&srv.base, &key, "/api/v1/storage").await;
    let names: Vec<&str> = st["items"].as_array().unwrap().iter().map(|i| i["service"].as_str().unwrap()).collect();
    assert!(names.contains(&"postgresql") && names.contains(&"redis-0") && names.contains(&"galera-node1"), "{st}");
    let redis = st["items"].as_array().unwrap().iter().find(|i| i["service"] == "redis-0").unwrap();
    assert_eq!(redis["level"], "critical");
    let (_, b) = get(&srv.base, &key, "/api/v1/backups").await;
    assert_eq!(b["items"][0]["service"], "my-database");
    assert_eq!(b["items"][0]["sizeBytes"], 5242880);
    let (_, list) = get(&srv.base, &key, "/api/v1/services?nodeId=myorg/infra/prod/dc1").await;
    assert_eq!(list["items"][0]["status"], "DEGRADED");
}

#[tokio::test]
async fn push_and_apply_commands_for_cron_jobs() {
    for db in backends().await {
        push_and_apply(db.as_deref()).await;
    }
}

async fn push_and_apply(db_url: Option<&str>) {
    let dir = ScratchDir::new("cli");
    let srv = Server::start(&dir.0, db_url);
    let data = dir.0.to_str().unwrap();
    // apikey create prints the key as its last line
    let out = nines_on(&["apikey", "create", "--data-dir", data, "--org", "myorg", "--role", "operator"], db_url);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("nines_"));
    let key_file = dir.0.join("op-key");
    std::fs::write(&key_file, format!("{key}\n")).unwrap();
    let kf = key_file.to_str().unwrap();
    let out = nines(&[
        "push",
        "health",
        "--server",
        &srv.base,
        "--key-file",
        kf,
        "--service",
        "cron-a",
        "--status",
        "OPERATIONAL",
        "--node-id",
        "myorg/p/e/c",
        "--tags",
        "batch,nightly",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(BIN)
        .args([
            "push",
            "storage",
            "--server",
            &srv.base,
            "--service",
            "disk",
            "--node-id",
            "myorg/p/e/c",
            "--free-percent",
            "25",
        ])
        .env("NINES_API_KEY", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"level\":\"warning\""));
    let out = nines(&[
        "push",
        "backup",
        "--server",
        &srv.base,
        "--key-file",
        kf,
        "--service",
        "cron-a",
        "--node-id",
        "myorg/p/e/c",
        "--status",
        "success",
        "--size-bytes",
        "42",
    ]);
    assert!(out.status.success());
    // errors say why, and there is no key on the command line
    let out = nines(&["push", "health", "--server", &srv.base, "--service", "x", "--status", "DOWN"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NINES_API_KEY"));
    let out = nines(&["push", "health", "--server", &srv.base, "--key-file", kf, "--service", "x", "--status", "UP"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown status"));
    let out = nines(&["push", "health", "--key", &key]);
    assert!(!out.status.success(), "--key is not an option");
    // apply, twice
    let doc = dir.0.join("it-ops.yaml");
    std::fs::write(&doc, "version: \"1\"\nhierarchy: {organization: myorg, platform: p, environment: e, cluster: c}\nservice: {name: api, criticality: high}\n---\nversion: \"1\"\nhierarchy: {organization: myorg, platform: p, environment: e, cluster: c}\nservice: {name: db}\n").unwrap();
    let out = nines(&["apply", "--server", &srv.base, "--key-file", kf, "-f", doc.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("created").count(), 2);
    let out = nines(&["apply", "--server", &srv.base, "--key-file", kf, "-f", doc.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("unchanged").count(), 2);
    std::fs::write(&doc, "version: \"1\"\nhierarchy: {organization: myorg, platform: p, environment: e, cluster: c}\nservice: {name: api, criticality: urgent}\n").unwrap();
    let out = nines(&["apply", "--server", &srv.base, "--key-file", kf, "-f", doc.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it-ops.yaml: service.criticality: unknown criticality \"urgent\""), "{err}");
    let (_, list) = get(&srv.base, &key, "/api/v1/services").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn an_agent_buffers_while_the_server_is_away_and_delivers_event_times() {
    for db in backends().await {
        agent_buffers(db.as_deref()).await;
    }
}

async fn agent_buffers(db_url: Option<&str>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};
    let code = Arc::new(AtomicU16::new(200));
    let c = code.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let c = c.clone();
            async move { axum::http::StatusCode::from_u16(c.load(Ordering::SeqCst)).unwrap() }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let dir = ScratchDir::new("agent");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let srv = Server::start_on(&dir.0, db_url, &listen);
    let admin = srv.admin_key();
    let data = dir.0.to_str().unwrap();
    let out = nines_on(&["apikey", "create", "--data-dir", data, "--org", "acme", "--role", "agent"], db_url);
    let agent_key = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string();
    let key_file = dir.0.join("agent-key");
    std::fs::write(&key_file, &agent_key).unwrap();
    let doc = format!(
        "version: \"1\"\nhierarchy: {{organization: acme, platform: p, environment: prod, cluster: c1}}\nservice: {{name: shop}}\nchecks:\n  - {{type: http, name: home, url: '{target}', intervalSeconds: 1, timeoutSeconds: 0.5, failureThreshold: 1, locations: [lab]}}\n"
    );
    let r = ::reqwest::Client::new()
        .post(format!("{}/api/v1/services/apply", srv.base))
        .header("X-API-Key", &admin)
        .body(doc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut agent = Command::new(BIN)
        .args([
            "agent",
            "--server",
            &srv.base,
            "--key-file",
            key_file.to_str().unwrap(),
            "--location",
            "lab",
            "--poll-seconds",
            "1",
        ])
        .env("NINES_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = srv.base.clone();
    let status = async |admin: &str| -> (String, Value) {
        let (_, list) = get(&base, admin, "/api/v1/services").await;
        let id = list["items"][0]["id"].clone();
        let (_, d) = get(&base, admin, &format!("/api/v1/services/{id}")).await;
        (d["status"].as_str().unwrap_or("").to_string(), d)
    };
    let mut ok = false;
    for _ in 0..100 {
        if status(&admin).await.0 == "OPERATIONAL" {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ok, "the agent's results reached the server");
    // the server goes away; the target fails meanwhile
    srv.kill9();
    let outage_start = jiff::Timestamp::now().as_millisecond();
    code.store(503, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let restart = jiff::Timestamp::now().as_millisecond();
    let srv = Server::start_on(&dir.0, db_url, &listen);
    let mut down = None;
    for _ in 0..150 {
        let (s, d) = status(&admin).await;
        if s == "DOWN" {
            down = Some(d);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let d = down.expect("the buffered results were delivered");
    let last = d["timeline"].as_array().unwrap().last().unwrap().clone();
    let at = nines_core::clock::parse_rfc3339(last["at"].as_str().unwrap()).unwrap();
    assert!(at >= outage_start && at < restart, "DOWN placed during the outage ({at} in {outage_start}..{restart})");
    assert_eq!(last["cause"], "probe");
    drop(srv);
}

/// What a new user meets when something is in the way: each failure names
/// the thing and the fix, and nothing is written before it.
#[tokio::test]
async fn start_up_and_cli_errors_name_the_thing_and_write_nothing() {
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    // a busy port: refused before the database or a key exists
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let dir = ScratchDir::new("busy");
    // RUST_BACKTRACE set in the user's shell: still one line, no stack trace
    let out = Command::new(BIN)
        .args(["serve", "--listen", &addr, "--data-dir", dir.0.to_str().unwrap()])
        .env("RUST_BACKTRACE", "1")
        .env("NINES_LOG", "warn")
        .env_remove("NINES_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("in use") && stderr(&out).contains(&addr), "{}", stderr(&out));
    assert!(!stderr(&out).contains("backtrace") && stderr(&out).trim().lines().count() == 1, "{}", stderr(&out));
    assert!(!dir.0.join("nines.db").exists() && !dir.0.join("admin-api-key").exists(), "nothing written");
    drop(busy);

    // a second server on a data directory in use
    let dir = ScratchDir::new("twice");
    let first = Server::start(&dir.0, None);
    let out = nines(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.0.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("another nines server is using this data directory"), "{}", stderr(&out));
    drop(first);

    // a SQLite file in a directory that does not exist
    let dir = ScratchDir::new("nodir");
    let url = format!("sqlite://{}/missing/sub/nines.db", dir.0.display());
    let out =
        nines(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.0.to_str().unwrap(), "--database-url", &url]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("does not exist") && e.contains("missing/sub"), "{e}");

    // PostgreSQL not listening: its address and "refused"
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{closed}/test");
    let out =
        nines(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.0.to_str().unwrap(), "--database-url", &url]);
    let e = stderr(&out);
    assert!(e.contains(&format!("PostgreSQL at 127.0.0.1:{closed}")) && e.contains("refused"), "{e}");
    assert!(!e.contains("pool timed out"), "{e}");

    // a server address without its scheme
    let out = Command::new(BIN)
        .args(["push", "health", "--server", "127.0.0.1:8080", "--service", "a", "--status", "DOWN"])
        .env("NINES_API_KEY", "nines_x_y")
        .output()
        .unwrap();
    let e = stderr(&out);
    assert!(e.contains("--server") && e.contains("http://127.0.0.1:8080"), "{e}");

    // output cut short: no panic
    let dir = ScratchDir::new("pipe");
    let err = dir.0.join("stderr");
    sh(&format!("{BIN} operator crds 2>{} | head -c 10 > /dev/null", err.display()));
    let e = std::fs::read_to_string(&err).unwrap();
    assert!(!e.contains("panicked") && !e.contains("Broken pipe"), "{e}");

    // logs to a file carry no colour codes
    let dir = ScratchDir::new("nocolour");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.0.to_str().unwrap()])
        .env_remove("NINES_DATABASE_URL")
        .env("NINES_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if dir.0.join("admin-api-key").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let _ = child.wait();
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("created the first admin API key"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in a log file: {logs:?}");
}
