//! Real VictoriaMetrics (Debian's `victoria-metrics`) and VictoriaLogs (built
//! from its Go module by `.ci/run`) on loopback, each with a scratch data
//! directory, for the accounting tests; and Mailpit (an SMTP receiver with
//! an HTTP API, built from its Go module by `.ci/run`, found through
//! `NINES_MAILPIT_BIN`) for the status page subscribers. Found through
//! `NINES_VICTORIAMETRICS_BIN` (default `/usr/bin/victoria-metrics`) and
//! `NINES_VICTORIALOGS_BIN`; absent, the tests skip with a reason, or fail
//! under `NINES_TEST_REQUIRE_ALL=1`.
#![allow(dead_code)]

use nines_store::testing::ScratchDir;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary, or None (after saying why) when the test should skip.
fn binary(env: &str, default: Option<&str>, what: &str) -> Option<PathBuf> {
    let p = std::env::var(env).ok().filter(|s| !s.is_empty()).or(default.map(str::to_string)).map(PathBuf::from);
    match p {
        Some(p) if p.is_file() => Some(p),
        other => {
            let why = format!(
                "{what} not found ({env}={}): .ci/run installs it",
                other.map(|p| p.display().to_string()).unwrap_or_else(|| "unset".into())
            );
            if nines_store::testing::require_all() {
                panic!("NINES_TEST_REQUIRE_ALL=1 but {why}");
            }
            eprintln!("SKIP: {why}");
            None
        }
    }
}

/// A backend process on a loopback port; killed when dropped.
pub struct Proc {
    pub url: String,
    bin: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    _dir: ScratchDir,
    log: PathBuf,
    health: &'static str,
    /// A second port the process listens on (Mailpit's SMTP).
    pub port2: u16,
}

impl Proc {
    async fn start(bin: PathBuf, label: &str, args: impl Fn(&std::path::Path, u16) -> Vec<String>) -> Proc {
        let dir = ScratchDir::new(label);
        let port = free_port();
        let args = args(&dir.0, port);
        let log = dir.0.join("log.txt");
        let mut p = Proc {
            url: format!("http://127.0.0.1:{port}"),
            bin,
            args,
            child: None,
            _dir: dir,
            log,
            health: "/health",
            port2: 0,
        };
        p.restart().await;
        p
    }

    /// Start (again, on the same port and data).
    pub async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(&self.bin)
            .args(&self.args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}{}", self.url, self.health)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not come up: {}", self.bin.display(), std::fs::read_to_string(&self.log).unwrap_or_default());
    }

    /// Stop it (an outage); its data stays for a restart. SIGTERM, so it
    /// writes what it holds in memory first, as a restarted pod would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            for _ in 0..200 {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Mailpit: SMTP on `port2` (no TLS, any or no login), its API at `url`.
pub async fn mailpit() -> Option<Proc> {
    let bin = binary("NINES_MAILPIT_BIN", None, "Mailpit")?;
    let smtp = free_port();
    let dir = ScratchDir::new("mailpit");
    let port = free_port();
    let args = vec![
        format!("--smtp=127.0.0.1:{smtp}"),
        format!("--listen=127.0.0.1:{port}"),
        format!("--database={}", dir.0.join("mail.db").display()),
        "--smtp-auth-accept-any".into(),
        "--smtp-auth-allow-insecure".into(),
        "--disable-version-check".into(),
        "--quiet".into(),
    ];
    let log = dir.0.join("log.txt");
    let mut p = Proc {
        url: format!("http://127.0.0.1:{port}"),
        bin,
        args,
        child: None,
        _dir: dir,
        log,
        health: "/readyz",
        port2: smtp,
    };
    p.restart().await;
    Some(p)
}

/// Mailpit's messages to `to`, oldest first: (subject, text, headers).
pub async fn mails_to(mp: &Proc, to: &str) -> Vec<(String, String, serde_json::Value)> {
    let http = reqwest::Client::new();
    let list: serde_json::Value =
        http.get(format!("{}/api/v1/messages?limit=500", mp.url)).send().await.unwrap().json().await.unwrap();
    let mut out = Vec::new();
    let mut msgs: Vec<&serde_json::Value> = list["messages"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    msgs.reverse(); // the API lists the newest first
    for m in msgs {
        let rcpt = m["To"].as_array().map(|a| a.iter().any(|x| x["Address"] == to)).unwrap_or(false);
        if !rcpt {
            continue;
        }
        let id = m["ID"].as_str().unwrap();
        let full: serde_json::Value =
            http.get(format!("{}/api/v1/message/{id}", mp.url)).send().await.unwrap().json().await.unwrap();
        let headers: serde_json::Value =
            http.get(format!("{}/api/v1/message/{id}/headers", mp.url)).send().await.unwrap().json().await.unwrap();
        out.push((
            m["Subject"].as_str().unwrap_or("").to_string(),
            full["Text"].as_str().unwrap_or("").to_string(),
            headers,
        ));
    }
    out
}

pub async fn victoria_metrics() -> Option<Proc> {
    let bin = binary("NINES_VICTORIAMETRICS_BIN", Some("/usr/bin/victoria-metrics"), "VictoriaMetrics")?;
    Some(
        Proc::start(bin, "vm", |dir, port| {
            vec![
                format!("-storageDataPath={}", dir.join("data").display()),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-retentionPeriod=1y".into(),
                // series imported with past timestamps must be seen at once
                "-search.disableCache".into(),
                "-loggerLevel=ERROR".into(),
            ]
        })
        .await,
    )
}

pub async fn victoria_logs() -> Option<Proc> {
    let bin = binary("NINES_VICTORIALOGS_BIN", None, "VictoriaLogs")?;
    Some(
        Proc::start(bin, "vl", |dir, port| {
            vec![
                format!("-storageDataPath={}", dir.join("data").display()),
                format!("-httpListenAddr=127.0.0.1:{port}"),
                "-retentionPeriod=100d".into(),
                "-loggerLevel=ERROR".into(),
            ]
        })
        .await,
    )
}

/// `/api/v1/import` JSON lines, then a flush so queries see them.
pub async fn vm_import(vm: &Proc, lines: &[serde_json::Value]) {
    let http = reqwest::Client::new();
    for chunk in lines.chunks(500) {
        let body: String = chunk.iter().map(|l| format!("{l}\n")).collect();
        let r = http.post(format!("{}/api/v1/import", vm.url)).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "import: {}", r.text().await.unwrap());
    }
    let r = http.get(format!("{}/internal/force_flush", vm.url)).send().await.unwrap();
    assert!(r.status().is_success());
}

/// `/insert/jsonline` (each line a JSON object with `_time` and `_msg`),
/// then a flush so queries see them.
pub async fn vl_ingest(vl: &Proc, lines: &[serde_json::Value]) {
    let http = reqwest::Client::new();
    for chunk in lines.chunks(2000) {
        let body: String = chunk.iter().map(|l| format!("{l}\n")).collect();
        let r = http
            .post(format!("{}/insert/jsonline?_time_field=_time&_msg_field=_msg&_stream_fields=app", vl.url))
            .header("Content-Type", "application/stream+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "ingest: {}", r.text().await.unwrap());
    }
    let r = http.get(format!("{}/internal/force_flush", vl.url)).send().await.unwrap();
    assert!(r.status().is_success());
}
