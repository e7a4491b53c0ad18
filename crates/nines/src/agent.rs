//! `nines agent`: a remote prober. It fetches the checks assigned to its
//! location, runs them with the same engine as the server, and pushes the
//! results in batches with their event times. While the server is out of
//! reach it keeps probing and buffers (bounded; the oldest go first when
//! full), then delivers what it kept, so the timeline shows what happened
//! when it happened.
//!
//! Every poll it also sends a heartbeat (location, version, results held):
//! the server turns the checks of a location UNKNOWN when its agent falls
//! silent, and lists agents with their last word.

use anyhow::{Context, Result, bail};
use clap::Args;
use nines_core::clock::Clock;
use nines_server::probes::RunResult;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Args)]
pub struct AgentArgs {
    /// Base URL of the nines server.
    #[arg(long, env = "NINES_SERVER")]
    server: String,
    /// File holding an agent API key. Otherwise NINES_API_KEY.
    #[arg(long, env = "NINES_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// This agent's location: it runs the checks that list it.
    #[arg(long, env = "NINES_LOCATION")]
    location: String,
    /// Results kept at most while the server is unreachable.
    #[arg(long, env = "NINES_AGENT_BUFFER", default_value_t = 200_000)]
    buffer: usize,
    /// How often to look for changed checks and send a heartbeat, in seconds.
    #[arg(long, default_value_t = 15)]
    poll_seconds: u64,
}

/// Tell the server this agent is alive, which version it runs and how many
/// results it holds. A server without heartbeats (404) is told only once.
async fn heartbeat(http: &reqwest::Client, base: &str, key: &str, location: &str, buffered: usize, warned: &mut bool) {
    let body = serde_json::json!({
        "location": location,
        "version": env!("CARGO_PKG_VERSION"),
        "resultsBuffered": buffered,
    });
    match http.post(format!("{base}/api/v1/agent/heartbeat")).header("X-API-Key", key).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
            if !std::mem::replace(warned, true) {
                tracing::warn!("the server takes no heartbeats (an older version); it sees this agent by its requests");
            }
        }
        Ok(r) => tracing::warn!(status = %r.status(), "heartbeat refused"),
        Err(e) => tracing::warn!(error = %e, "heartbeat failed: server unreachable"),
    }
}

#[derive(serde::Deserialize)]
struct AgentChecks {
    version: String,
    checks: Vec<AgentCheck>,
}

#[derive(serde::Deserialize)]
struct AgentCheck {
    id: String,
    spec: serde_json::Value,
}

pub async fn run(args: AgentArgs) -> Result<()> {
    let key = crate::client::read_key_from(args.key_file.as_deref())?;
    nines_core::check_name(&args.location).map_err(|r| anyhow::anyhow!("--location: {r}"))?;
    let base = args.server.trim_end_matches('/').to_string();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let clock: Arc<dyn Clock> = Arc::new(nines_server::SystemClock);
    let env = Arc::new(nines_probe::ProbeEnv::system().context("setting up the resolver and trust store")?);
    let buffer: Arc<Mutex<VecDeque<RunResult>>> = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<nines_probe::ProbeEvent>(4096);
    {
        let buffer = buffer.clone();
        let cap = args.buffer.max(1);
        tokio::spawn(async move {
            let mut dropped: u64 = 0;
            while let Some(e) = rx.recv().await {
                let r = RunResult::from_probe(&e.check_id, e.started_at_ms, &e.result);
                if let Ok(mut b) = buffer.lock() {
                    if b.len() >= cap {
                        b.pop_front();
                        dropped += 1;
                        if dropped.is_power_of_two() {
                            tracing::warn!(dropped, "result buffer full: dropping the oldest results");
                        }
                    }
                    b.push_back(r);
                }
            }
        });
    }
    // deliver in batches; keep what could not be delivered
    {
        let (buffer, http, base, key, location) =
            (buffer.clone(), http.clone(), base.clone(), key.clone(), args.location.clone());
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    let batch: Vec<RunResult> = match buffer.lock() {
                        Ok(b) => b.iter().take(5000).cloned().collect(),
                        Err(_) => return,
                    };
                    if batch.is_empty() {
                        break;
                    }
                    let body = serde_json::json!({"location": location, "results": batch});
                    let sent = http
                        .post(format!("{base}/api/v1/agent/results"))
                        .header("X-API-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            if let Ok(mut b) = buffer.lock() {
                                let n = batch.len().min(b.len());
                                b.drain(..n);
                            }
                            backoff = Duration::from_secs(1);
                        }
                        Ok(r) if r.status().is_client_error() => {
                            let code = r.status();
                            let text = r.text().await.unwrap_or_default();
                            tracing::error!(%code, body = %text, "the server refused results; dropping this batch");
                            if let Ok(mut b) = buffer.lock() {
                                let n = batch.len().min(b.len());
                                b.drain(..n);
                            }
                        }
                        other => {
                            let why = match other {
                                Ok(r) => r.status().to_string(),
                                Err(e) => e.to_string(),
                            };
                            tracing::warn!(error = %why, buffered = batch.len(), "server unreachable; keeping results");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            break;
                        }
                    }
                }
            }
        });
    }
    let mut sched: Option<nines_probe::Scheduler> = None;
    let mut version = String::new();
    let mut warned = false;
    loop {
        let url = format!("{base}/api/v1/agent/checks?location={}", args.location);
        match http.get(&url).header("X-API-Key", &key).send().await {
            Ok(r) if r.status().is_success() => match r.json::<AgentChecks>().await {
                Ok(list) if list.version != version => {
                    let mut set = Vec::new();
                    for c in list.checks {
                        match serde_json::from_value::<nines_probe::CheckSpec>(c.spec) {
                            Ok(spec) => set.push((Arc::from(c.id.as_str()), spec)),
                            Err(e) => {
                                tracing::error!(check = %c.id, error = %e, "skipping a check this agent cannot read")
                            }
                        }
                    }
                    tracing::info!(checks = set.len(), version = %list.version, "checks for this location");
                    match &sched {
                        Some(s) => {
                            s.reload(set).await;
                        }
                        None => {
                            sched = Some(nines_probe::Scheduler::start(
                                env.clone(),
                                clock.clone(),
                                nines_probe::SchedulerConfig::default(),
                                set,
                                tx.clone(),
                            ))
                        }
                    }
                    version = list.version;
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "unreadable check list"),
            },
            Ok(r)
                if r.status() == reqwest::StatusCode::UNAUTHORIZED || r.status() == reqwest::StatusCode::FORBIDDEN =>
            {
                let text = r.text().await.unwrap_or_default();
                bail!("the server refused this key: {text}");
            }
            Ok(r) => tracing::warn!(status = %r.status(), "fetching checks failed; keeping the current ones"),
            Err(e) => tracing::warn!(error = %e, "server unreachable; keeping the current checks"),
        }
        let buffered = buffer.lock().map(|b| b.len()).unwrap_or(0);
        heartbeat(&http, &base, &key, &args.location, buffered, &mut warned).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.poll_seconds.max(1))) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}
