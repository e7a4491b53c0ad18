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
    let base = crate::client::url(&args.server, "")?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let clock: Arc<dyn Clock> = Arc::new(nines_server::SystemClock);
    let env = Arc::new(nines_probe::ProbeEnv::system().context("setting up the resolver and trust store")?);
    let buffer: Arc<Mutex<Buffer>> = Arc::new(Mutex::new(Buffer::default()));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<nines_probe::ProbeEvent>(4096);
    {
        let buffer = buffer.clone();
        let cap = args.buffer.max(1);
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let r = RunResult::from_probe(&e.check_id, e.started_at_ms, &e.result);
                if let Ok(mut b) = buffer.lock() {
                    b.push(r, cap);
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
            let mut max_batch = 5000;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                loop {
                    let (first, batch) = match buffer.lock() {
                        Ok(b) => b.peek(max_batch),
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
                    let answer = match sent {
                        Ok(r) => {
                            let code = r.status();
                            let text = r.text().await.unwrap_or_default();
                            Ok((code, text))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    match delivery(&answer, batch.len()) {
                        Delivery::Done => {
                            if let Ok(mut b) = buffer.lock() {
                                b.remove_through(first + batch.len() as u64);
                            }
                            backoff = Duration::from_secs(1);
                        }
                        Delivery::DropOne(i, why) => {
                            // the server named one result as bad: it can never be delivered
                            let r = &batch[i];
                            tracing::error!(check = %r.check_id, at = r.at, reason = %why, "the server refused a result; dropping it");
                            if let Ok(mut b) = buffer.lock() {
                                b.remove_one(first + i as u64);
                            }
                        }
                        Delivery::Smaller => {
                            max_batch = (max_batch / 2).max(1);
                            tracing::warn!(max_batch, "the server found the batch too large; sending smaller ones");
                        }
                        Delivery::Retry(why) => {
                            tracing::warn!(error = %why, buffered = batch.len(), "results not delivered; keeping them and retrying");
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
                            Ok(spec) => set.push((Arc::from(c.id.as_str()), Arc::new(spec))),
                            Err(e) => {
                                tracing::error!(check = %c.id, error = %e, "skipping a check this agent cannot read")
                            }
                        }
                    }
                    tracing::info!(checks = set.len(), version = %list.version, "checks for this location");
                    nines_probe::Scheduler::run_or_reload(&mut sched, &env, &clock, set, &tx).await;
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
        let buffered = buffer.lock().map(|b| b.items.len()).unwrap_or(0);
        heartbeat(&http, &base, &key, &args.location, buffered, &mut warned).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(args.poll_seconds.max(1))) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(())
}

/// Results waiting for delivery, each with a sequence number, so a batch in
/// flight is removed exactly even when the oldest results were dropped
/// meanwhile (the buffer is full) or one was refused.
#[derive(Default)]
struct Buffer {
    items: VecDeque<(u64, RunResult)>,
    next: u64,
    dropped: u64,
}

impl Buffer {
    fn push(&mut self, r: RunResult, cap: usize) {
        if self.items.len() >= cap {
            self.items.pop_front();
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::warn!(dropped = self.dropped, "result buffer full: dropping the oldest results");
            }
        }
        self.items.push_back((self.next, r));
        self.next += 1;
    }
    /// The sequence number of the oldest result and up to `n` results.
    fn peek(&self, n: usize) -> (u64, Vec<RunResult>) {
        let first = self.items.front().map(|(i, _)| *i).unwrap_or(self.next);
        (first, self.items.iter().take(n).map(|(_, r)| r.clone()).collect())
    }
    /// Remove every result numbered below `end`.
    fn remove_through(&mut self, end: u64) {
        while self.items.front().is_some_and(|(i, _)| *i < end) {
            self.items.pop_front();
        }
    }
    fn remove_one(&mut self, seq: u64) {
        if let Some(pos) = self.items.iter().position(|(i, _)| *i == seq) {
            self.items.remove(pos);
        }
    }
}

/// What to do with a batch after the server's answer.
#[derive(Debug, PartialEq)]
enum Delivery {
    /// Delivered: forget it.
    Done,
    /// The server named result `i` as bad (a 4xx with `results[i]…`): drop that one, send the rest.
    DropOne(usize, String),
    /// 413: send smaller batches.
    Smaller,
    /// Connection errors, 5xx, and any 4xx that names no result (a key
    /// refused, a route missing, too many requests): keep everything, back off.
    Retry(String),
}

fn delivery(answer: &Result<(reqwest::StatusCode, String), String>, batch: usize) -> Delivery {
    let (code, text) = match answer {
        Ok(a) => a,
        Err(e) => return Delivery::Retry(e.clone()),
    };
    if code.is_success() {
        return Delivery::Done;
    }
    if *code == reqwest::StatusCode::PAYLOAD_TOO_LARGE && batch > 1 {
        return Delivery::Smaller;
    }
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let message = v["error"]["message"].as_str().unwrap_or(text).to_string();
    if code.is_client_error() {
        let index = v["error"]["field"]
            .as_str()
            .and_then(|f| f.strip_prefix("results["))
            .and_then(|f| f.split(']').next())
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < batch);
        if let Some(i) = index {
            return Delivery::DropOne(i, message);
        }
    }
    Delivery::Retry(format!("{code}: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn result(check: &str, at: i64) -> RunResult {
        serde_json::from_value(
            serde_json::json!({"checkId": check, "at": at, "outcome": "up", "message": "", "totalMs": 1.0}),
        )
        .unwrap()
    }

    #[test]
    fn only_a_named_result_is_dropped() {
        let ans = |c: u16, body: &str| Ok((StatusCode::from_u16(c).unwrap(), body.to_string()));
        assert_eq!(delivery(&ans(200, "{}"), 3), Delivery::Done);
        let bad = r#"{"error":{"code":"invalid","message":"in the future","field":"results[2].at"}}"#;
        assert_eq!(delivery(&ans(422, bad), 3), Delivery::DropOne(2, "in the future".into()));
        // an index past the batch, or a field that is not a result: keep all
        assert!(matches!(delivery(&ans(422, bad), 2), Delivery::Retry(_)));
        let loc = r#"{"error":{"code":"invalid","message":"bad","field":"location"}}"#;
        assert!(matches!(delivery(&ans(422, loc), 3), Delivery::Retry(_)));
        for c in [401, 403, 404, 408, 409, 429, 500, 502, 503] {
            assert!(matches!(delivery(&ans(c, "{}"), 3), Delivery::Retry(_)), "{c}");
        }
        assert_eq!(delivery(&ans(413, "{}"), 3), Delivery::Smaller);
        assert!(matches!(delivery(&Err("connection refused".into()), 3), Delivery::Retry(_)));
    }

    #[test]
    fn a_batch_in_flight_is_removed_exactly_when_old_results_were_dropped_meanwhile() {
        let mut b = Buffer::default();
        for i in 0..4 {
            b.push(result("1/a", i), 4);
        }
        let (first, batch) = b.peek(3);
        assert_eq!((first, batch.len()), (0, 3));
        // meanwhile the buffer overflows: results 0 and 1 go
        b.push(result("1/a", 4), 4);
        b.push(result("1/a", 5), 4);
        b.remove_through(first + batch.len() as u64);
        let left: Vec<i64> = b.items.iter().map(|(_, r)| r.at).collect();
        assert_eq!(left, vec![3, 4, 5], "nothing sent is kept, nothing unsent is lost");
        b.remove_one(4);
        assert_eq!(b.items.iter().map(|(_, r)| r.at).collect::<Vec<_>>(), vec![3, 5]);
    }
}
