//! The client side of the CLI: `nines push …` for cron jobs and `nines apply`.
//! The key comes from `--key-file` or `NINES_API_KEY`, never from the command
//! line, where it would show in `ps` and shell history.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct Conn {
    /// Base URL of the nines server.
    #[arg(long, env = "NINES_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// File holding the API key (chmod 600). Otherwise NINES_API_KEY.
    #[arg(long, env = "NINES_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// How long to keep retrying while the server is unreachable or answers
    /// 5xx (backoff 1 s, 2 s, 4 s … at most 30 s apart), in seconds.
    #[arg(long, env = "NINES_RETRY_SECONDS", default_value_t = 120)]
    retry_seconds: u64,
}

#[derive(Subcommand)]
pub enum PushCommand {
    /// Report a service's health.
    Health {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        service: String,
        /// OPERATIONAL, DEGRADED, DOWN, MAINTENANCE or UNKNOWN.
        #[arg(long)]
        status: String,
        #[arg(long)]
        message: Option<String>,
        /// organization/platform/environment/cluster
        #[arg(long, env = "NINES_NODE_ID")]
        node_id: Option<String>,
        #[arg(long)]
        criticality: Option<String>,
        #[arg(long)]
        sla_group: Option<String>,
        #[arg(long)]
        service_type: Option<String>,
        /// Comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Event time (RFC 3339), for late delivery.
        #[arg(long)]
        timestamp: Option<String>,
    },
    /// Report a finished backup (one of --service, --sla-group, --namespace).
    Backup {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        service: Option<String>,
        #[arg(long)]
        sla_group: Option<String>,
        #[arg(long)]
        namespace: Option<String>,
        #[arg(long, env = "NINES_NODE_ID")]
        node_id: Option<String>,
        /// success or failed.
        #[arg(long)]
        status: String,
        #[arg(long)]
        size_bytes: Option<u64>,
        #[arg(long)]
        message: Option<String>,
        #[arg(long)]
        timestamp: Option<String>,
    },
    /// Report storage usage.
    Storage {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        service: String,
        #[arg(long, env = "NINES_NODE_ID")]
        node_id: Option<String>,
        #[arg(long)]
        allocated_bytes: Option<u64>,
        #[arg(long)]
        used_bytes: Option<u64>,
        #[arg(long)]
        free_percent: Option<f64>,
        #[arg(long)]
        storage_type: Option<String>,
        #[arg(long)]
        mount_path: Option<String>,
    },
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    conn: Conn,
    /// File with one or more it-ops.yaml documents ('-' for stdin).
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
}

fn read_key(conn: &Conn) -> Result<String> {
    read_key_from(conn.key_file.as_deref())
}

/// The API key from a file, or from NINES_API_KEY — never from the command line.
pub fn read_key_from(key_file: Option<&std::path::Path>) -> Result<String> {
    let key = match key_file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading key file {}", p.display()))?,
        None => std::env::var("NINES_API_KEY").context("no API key: pass --key-file FILE or set NINES_API_KEY")?,
    };
    let key = key.trim().to_string();
    if key.is_empty() {
        bail!("the API key is empty");
    }
    Ok(key)
}

fn put(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

/// Whether an answer (or a failure to get one) is worth another try: no
/// connection, a timeout, 5xx, 408 and 429. Any other 4xx is final.
fn transient(answer: &Result<(reqwest::StatusCode, String), String>) -> bool {
    match answer {
        Err(_) => true,
        Ok((code, _)) => code.is_server_error() || *code == 408 || *code == 429,
    }
}

async fn send(conn: &Conn, path: &str, content_type: &str, body: Vec<u8>) -> Result<()> {
    let key = read_key(conn)?;
    let url = crate::client::url(&conn.server, path)?;
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build()?;
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(conn.retry_seconds);
    let mut backoff = std::time::Duration::from_secs(1);
    loop {
        let sent = http
            .post(&url)
            .header("X-API-Key", &key)
            .header("Content-Type", content_type)
            .body(body.clone())
            .send()
            .await;
        let answer = match sent {
            Ok(r) => {
                let code = r.status();
                Ok((code, r.text().await.unwrap_or_default()))
            }
            Err(e) => {
                // reqwest's own words name the URL only; the cause says why
                let mut why = e.to_string();
                let mut cur = std::error::Error::source(&e);
                while let Some(c) = cur {
                    why = format!("{why}: {c}");
                    cur = c.source();
                }
                Err(why)
            }
        };
        if transient(&answer) && std::time::Instant::now() + backoff < give_up {
            let why = match &answer {
                Ok((code, _)) => code.to_string(),
                Err(e) => e.clone(),
            };
            eprintln!("nines: {url}: {why}; retrying in {} s", backoff.as_secs());
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
            continue;
        }
        let (status, text) = answer.map_err(|e| anyhow::anyhow!("sending to {url}: {e}"))?;
        if status.is_success() {
            println!("{text}");
            return Ok(());
        }
        let v = serde_json::from_str::<Value>(&text).unwrap_or_default();
        let msg = v["error"]["message"].as_str().map(str::to_string).unwrap_or(text);
        match v["error"]["field"].as_str() {
            Some(f) => bail!("{status}: {f}: {msg}"),
            None => bail!("{status}: {msg}"),
        }
    }
}

/// `server` + `path`, with a clear word when `server` is not an http(s) URL.
pub fn url(server: &str, path: &str) -> Result<String> {
    let base = server.trim_end_matches('/');
    match reqwest::Url::parse(base) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(format!("{base}{path}")),
        _ => bail!(
            "--server {server:?} is not a URL: write it with its scheme, like http://{}",
            base.trim_start_matches("//")
        ),
    }
}

pub async fn push(cmd: PushCommand) -> Result<()> {
    let (conn, path, body) = match cmd {
        PushCommand::Health {
            conn,
            service,
            status,
            message,
            node_id,
            criticality,
            sla_group,
            service_type,
            tags,
            timestamp,
        } => {
            let mut m = Map::new();
            m.insert("service".into(), json!(service));
            m.insert("status".into(), json!(status));
            put(&mut m, "message", message);
            put(&mut m, "nodeId", node_id);
            put(&mut m, "criticality", criticality);
            put(&mut m, "slaGroup", sla_group);
            put(&mut m, "serviceType", service_type);
            if !tags.is_empty() {
                m.insert("tags".into(), json!(tags));
            }
            put(&mut m, "timestamp", timestamp);
            (conn, "/api/v1/health/report", m)
        }
        PushCommand::Backup {
            conn,
            service,
            sla_group,
            namespace,
            node_id,
            status,
            size_bytes,
            message,
            timestamp,
        } => {
            let mut m = Map::new();
            put(&mut m, "service", service);
            put(&mut m, "slaGroup", sla_group);
            put(&mut m, "namespace", namespace);
            put(&mut m, "nodeId", node_id);
            m.insert("status".into(), json!(status));
            put(&mut m, "sizeBytes", size_bytes);
            put(&mut m, "message", message);
            put(&mut m, "timestamp", timestamp);
            (conn, "/api/v1/backup/report", m)
        }
        PushCommand::Storage {
            conn,
            service,
            node_id,
            allocated_bytes,
            used_bytes,
            free_percent,
            storage_type,
            mount_path,
        } => {
            let mut m = Map::new();
            m.insert("service".into(), json!(service));
            put(&mut m, "nodeId", node_id);
            put(&mut m, "allocatedBytes", allocated_bytes);
            put(&mut m, "usedBytes", used_bytes);
            put(&mut m, "freePercent", free_percent);
            put(&mut m, "storageType", storage_type);
            put(&mut m, "mountPath", mount_path);
            (conn, "/api/v1/storage/report", m)
        }
    };
    send(&conn, path, "application/json", serde_json::to_vec(&Value::Object(body))?).await
}

pub async fn apply(args: ApplyArgs) -> Result<()> {
    let text = if args.file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    // Validate locally first (documents and their checks) so errors name the file.
    let (specs, mut errs) = nines_core::apply::parse_documents_lenient(&text);
    errs.0.extend(nines_server::probes::parse_checks(&specs).1.0);
    if !errs.is_empty() {
        for e in &errs.0 {
            eprintln!("{}: {e}", args.file.display());
        }
        bail!("{} problem(s) in {}; nothing applied", errs.0.len(), args.file.display());
    }
    send(&args.conn, "/api/v1/services/apply", "application/yaml", text.into_bytes()).await
}
