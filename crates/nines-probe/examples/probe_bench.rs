//! Benchmark driver for `bench/probes/run.sh`.
//!
//! - `probe_bench target <port>`: a tiny HTTP target on 127.0.0.1 (200 "ok").
//! - `probe_bench throughput <url> <seconds> <concurrency>`: http probes as
//!   fast as they go, each on a fresh connection; prints probes/s.
//! - `probe_bench scheduler <url> <checks> <interval_s> <seconds> <concurrency>`:
//!   that many checks on the scheduler; prints lateness percentiles and RSS.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use nines_probe::{CheckId, CheckSpec, HttpCheck, Outcome, ProbeEnv, Scheduler, SchedulerConfig, SystemClock, probe};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("argument {i} ({name}) missing or invalid"))
}

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("target") => target(arg(&args, 2, "port")).await,
        Some("throughput") => throughput(&args[2], arg(&args, 3, "seconds"), arg(&args, 4, "concurrency")).await,
        Some("scheduler") => {
            scheduler(
                &args[2],
                arg(&args, 3, "checks"),
                arg(&args, 4, "interval"),
                arg(&args, 5, "seconds"),
                arg(&args, 6, "concurrency"),
            )
            .await
        }
        _ => eprintln!("usage: probe_bench target|throughput|scheduler ..."),
    }
}

async fn target(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let svc = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn check(url: &str) -> HttpCheck {
    let mut c = HttpCheck::new(url);
    c.timeout_seconds = Some(5.0);
    c
}

async fn throughput(url: &str, seconds: u64, concurrency: usize) {
    let env = ProbeEnv::system().expect("probe env");
    let spec = Arc::new(CheckSpec::Http(check(url)));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (env, spec, ok, failed) = (env.clone(), spec.clone(), ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let r = probe(&spec, &env).await;
                if r.outcome == Outcome::Up { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "nines_probes_per_second {:.0} (ok {ok}, failed {failed}, {secs:.1} s, concurrency {concurrency})",
        ok as f64 / secs
    );
}

async fn scheduler(url: &str, n: usize, interval: u32, seconds: u64, concurrency: usize) {
    let env = Arc::new(ProbeEnv::system().expect("probe env"));
    let checks: Vec<(CheckId, Arc<CheckSpec>)> = (0..n)
        .map(|i| {
            let mut c = check(&format!("{url}?check={i}"));
            c.interval_seconds = interval;
            (CheckId::from(format!("bench/{i}")), Arc::new(CheckSpec::Http(c)))
        })
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(65_536);
    let cfg = SchedulerConfig { max_concurrency: concurrency, ..Default::default() };
    let sched = Scheduler::start(env, Arc::new(SystemClock), cfg, checks, tx);
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut lateness_ms: Vec<u32> = Vec::with_capacity(n * 4);
    let (mut up, mut down) = (0u64, 0u64);
    let mut first_down: Option<String> = None;
    while let Ok(Some(e)) = tokio::time::timeout_at(end.into(), rx.recv()).await {
        lateness_ms.push(u32::try_from(e.lateness.as_millis()).unwrap_or(u32::MAX));
        if e.result.outcome == Outcome::Down {
            down += 1;
            first_down.get_or_insert(e.result.message);
        } else {
            up += 1;
        }
    }
    lateness_ms.sort_unstable();
    let pct = |p: f64| lateness_ms.get(((lateness_ms.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0);
    let stats = sched.stats();
    println!(
        "nines_scheduler checks {n} interval {interval}s ran {seconds}s: runs {} (up {up}, down {down}), lateness p50 {} ms p99 {} ms max {} ms, late(>1s) {}, skipped {}, rss {} MiB, peak rss {} MiB",
        lateness_ms.len(),
        pct(0.5),
        pct(0.99),
        lateness_ms.last().copied().unwrap_or(0),
        stats.runs_late,
        stats.runs_skipped,
        rss_kib("VmRSS:") / 1024,
        rss_kib("VmHWM:") / 1024,
    );
    if let Some(m) = first_down {
        println!("nines_scheduler first failure: {m}");
    }
}
