//! Observability accounting per organization: log lines and message bytes
//! from VictoriaLogs, active metric series from VictoriaMetrics.
//!
//! The worker (on the leader, every 5 minutes) asks each backend one
//! question for all organizations at once, never one per organization:
//!
//! - VictoriaMetrics: `count by (LABEL) (last_over_time({LABEL!=""}[1h]))`,
//!   the series with a sample in the hour before each 5-minute evaluation
//!   time, over the slots not yet sampled (a `query_range` with a 5-minute
//!   step, at most a day per query). Each slot's counts are added to its
//!   hour's row, once.
//! - VictoriaLogs: `stats by (_time:1h, LABEL) count(), sum_len(_msg)` over
//!   the last three closed hours (late logs are absorbed: those hours are
//!   replaced) and any closed hour of the last 30 days not yet covered.
//!
//! Rows are kept per label value. An interval a backend did not answer in
//! full (an error, a refused or partial answer) is not recorded at all: it
//! is a gap, reported as such, never a zero. Every figure is a sum or an
//! average over the rows of whole closed UTC hours: "1h" is the last closed
//! hour, "24h" the last 24, "30d" the last 720. "Bytes" are the bytes of the
//! log messages (`_msg`, UTF-8), not of the other fields or of storage.

use nines_core::clock::{Clock, Millis};
use nines_store::Store;
use nines_store::observability::{HOUR_MS, LabelOverride, LogHour, SLOT_MS, SeriesSample, Sums3, Windows};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use utoipa::ToSchema;

use crate::leadership::Leadership;

pub const DAY_MS: i64 = 86_400_000;
/// The widest window: 30 days of hours.
pub const WINDOW_30D_MS: i64 = 720 * HOUR_MS;
/// Closed hours asked again on every run, so logs that arrive late count.
pub const LOG_LOOKBACK_HOURS: i64 = 3;
/// At most this many 5-minute slots per VictoriaMetrics query (one day).
pub const SLOTS_PER_QUERY: i64 = 288;
/// Queries per backend and run: the recent interval plus gap filling, a
/// day per query. A first run fills a week; 30 days take five runs.
pub const MAX_QUERIES_PER_RUN: usize = 8;
/// The newest sample counts as current for this long.
pub const CURRENT_MAX_AGE_MS: i64 = 3 * SLOT_MS;
/// Rows older than this are dropped.
const KEEP_MS: i64 = 32 * DAY_MS;

/// The settings of SystemConfig that concern accounting.
#[derive(Debug, Clone, PartialEq)]
pub struct ObsConfig {
    pub logs_url: Option<String>,
    pub logs_label: String,
    pub metrics_url: Option<String>,
    pub metrics_label: String,
    pub metrics_cluster: bool,
    pub metrics_tenant: String,
    /// How far back missing intervals are filled (`OBSERVABILITY_BACKFILL_DAYS`).
    pub backfill_days: i64,
}

impl ObsConfig {
    pub fn from_map(stored: &HashMap<String, String>) -> ObsConfig {
        let get = |k: &str| -> String {
            let def = crate::config::key(k).map(|d| d.default).unwrap_or("");
            stored.get(k).cloned().unwrap_or_else(|| def.to_string())
        };
        let url = |k: &str| Some(get(k).trim().trim_end_matches('/').to_string()).filter(|u| !u.is_empty());
        ObsConfig {
            logs_url: url("VICTORIALOGS_URL"),
            logs_label: get("VICTORIALOGS_ORG_LABEL"),
            metrics_url: url("VICTORIAMETRICS_URL"),
            metrics_label: get("VICTORIAMETRICS_ORG_LABEL"),
            metrics_cluster: get("VICTORIAMETRICS_IS_CLUSTER") == "true",
            metrics_tenant: get("VICTORIAMETRICS_TENANT"),
            backfill_days: get("OBSERVABILITY_BACKFILL_DAYS").parse().unwrap_or(30),
        }
    }

    pub async fn load(store: &Store) -> nines_store::Result<ObsConfig> {
        Ok(ObsConfig::from_map(&store.system_config().await?))
    }

    /// The Prometheus query API's base: `/select/{tenant}/prometheus/api/v1`
    /// on a cluster's vmselect, `/api/v1` on a single node.
    pub fn metrics_api(&self) -> Option<String> {
        let u = self.metrics_url.as_deref()?;
        Some(if self.metrics_cluster {
            format!("{u}/select/{}/prometheus/api/v1", self.metrics_tenant)
        } else {
            format!("{u}/api/v1")
        })
    }
}

/// The label values an organization's rows are found under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LabelValues {
    /// The value of `VICTORIALOGS_ORG_LABEL` that marks its logs.
    pub logs: String,
    /// The value of `VICTORIAMETRICS_ORG_LABEL` that marks its series.
    pub metrics: String,
}

pub fn label_values(org: &str, overrides: &HashMap<String, LabelOverride>) -> LabelValues {
    let o = overrides.get(org);
    LabelValues {
        logs: o.and_then(|o| o.logs.clone()).unwrap_or_else(|| org.to_string()),
        metrics: o.and_then(|o| o.metrics.clone()).unwrap_or_else(|| org.to_string()),
    }
}

// ---------------------------------------------------------------- sampling

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client")
    })
}

/// One backend's part of a run.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendRun {
    /// False when the backend's URL is not set (accounting for it is off).
    pub enabled: bool,
    pub queries: i64,
    /// Intervals recorded: closed hours (logs) or 5-minute slots (metrics).
    pub intervals: i64,
    pub error: Option<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub logs: BackendRun,
    pub metrics: BackendRun,
    pub at: String,
}

/// One run over both backends; each backend's outcome is noted in the store.
pub async fn run_once(store: &Store, now: Millis) -> nines_store::Result<RunReport> {
    // one run at a time in this process (the worker and a refresh)
    static RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = RUN.lock().await;
    let cfg = ObsConfig::load(store).await?;
    let mut report = RunReport { at: nines_core::clock::rfc3339(now), ..Default::default() };
    if cfg.metrics_url.is_some() {
        let t0 = Instant::now();
        let mut queries = 0;
        let r = sample_metrics(store, &cfg, now, &mut queries).await;
        report.metrics = noted(store, "metrics", now, r, queries, t0).await?;
    }
    if cfg.logs_url.is_some() {
        let t0 = Instant::now();
        let mut queries = 0;
        let r = sample_logs(store, &cfg, now, &mut queries).await;
        report.logs = noted(store, "logs", now, r, queries, t0).await?;
    }
    store.obs_prune(now - KEEP_MS).await?;
    Ok(report)
}

/// A sampling failure: the backend's (a message) or the store's.
enum Fail {
    Backend(String),
    Store(nines_store::Error),
}

impl From<nines_store::Error> for Fail {
    fn from(e: nines_store::Error) -> Self {
        Fail::Store(e)
    }
}

async fn noted(
    store: &Store,
    backend: &str,
    now: Millis,
    r: Result<i64, Fail>,
    queries: i64,
    t0: Instant,
) -> nines_store::Result<BackendRun> {
    let duration_ms = t0.elapsed().as_millis() as i64;
    match r {
        Ok(n) => {
            store.obs_note_run(backend, now, None, queries, duration_ms).await?;
            Ok(BackendRun { enabled: true, queries, intervals: n, error: None, duration_ms })
        }
        Err(Fail::Backend(e)) => {
            tracing::warn!(backend, error = %e, "observability accounting: nothing recorded for this run");
            store.obs_note_run(backend, now, Some(&e), queries, duration_ms).await?;
            Ok(BackendRun { enabled: true, queries, intervals: 0, error: Some(e), duration_ms })
        }
        Err(Fail::Store(e)) => Err(e),
    }
}

/// A form POST (the query can be long for a URL).
fn form(url: String, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    http()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap_or_default())
}

/// A POST to a backend's query API, its JSON body or why not.
async fn fetch(req: reqwest::RequestBuilder, what: &str) -> Result<Vec<u8>, Fail> {
    let resp = req.send().await.map_err(|e| Fail::Backend(format!("{what}: {}", transport(&e))))?;
    let status = resp.status();
    let body =
        resp.bytes().await.map_err(|e| Fail::Backend(format!("{what}: reading the answer: {}", transport(&e))))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(300).collect();
        return Err(Fail::Backend(format!("{what}: HTTP {}: {text}", status.as_u16())));
    }
    Ok(body.to_vec())
}

/// A transport error without the URL's query (it may be long), with its cause.
fn transport(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Contiguous runs of the `missing` intervals (ascending, `step` apart),
/// cut into chunks of at most `max` intervals: `(first, last)`, newest first.
fn chunks(missing: &[i64], step: i64, max: usize) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < missing.len() {
        let mut j = i;
        while j + 1 < missing.len() && missing[j + 1] == missing[j] + step && j + 1 - i < max {
            j += 1;
        }
        out.push((missing[i], missing[j]));
        i = j + 1;
    }
    out.reverse();
    out
}

/// Where gap filling stops: `OBSERVABILITY_BACKFILL_DAYS` back from the
/// current hour, never beyond the 30-day window.
fn horizon(cfg: &ObsConfig, now: Millis) -> Millis {
    let h0 = now.div_euclid(HOUR_MS) * HOUR_MS;
    h0 - cfg.backfill_days.clamp(1, 30) * DAY_MS
}

/// The slots not sampled yet (within the backfill horizon), newest first,
/// at most [`MAX_QUERIES_PER_RUN`] queries of a day each; a failure stops
/// the run, what was answered before it stays.
async fn sample_metrics(store: &Store, cfg: &ObsConfig, now: Millis, queries: &mut i64) -> Result<i64, Fail> {
    let api = cfg.metrics_api().unwrap_or_default();
    let newest = now.div_euclid(SLOT_MS) * SLOT_MS;
    let oldest = horizon(cfg, now);
    let covered: std::collections::HashSet<i64> =
        store.obs_series_covered(oldest, newest + 1).await?.into_iter().collect();
    let missing: Vec<i64> =
        (0..).map(|i| oldest + i * SLOT_MS).take_while(|t| *t <= newest).filter(|t| !covered.contains(t)).collect();
    let label = &cfg.metrics_label;
    let query = format!("count by ({label}) (last_over_time({{{label}!=\"\"}}[1h]) keep_metric_names)");
    let mut recorded = 0;
    for (start, end) in chunks(&missing, SLOT_MS, SLOTS_PER_QUERY as usize).into_iter().take(MAX_QUERIES_PER_RUN) {
        *queries += 1;
        let req = form(
            format!("{api}/query_range"),
            &[
                ("query", query.as_str()),
                ("start", &secs(start)),
                ("end", &secs(end)),
                ("step", "300s"),
                ("nocache", "1"),
            ],
        );
        let body = fetch(req, "VictoriaMetrics query_range").await?;
        let points = parse_matrix(&body, label)?;
        let samples: Vec<SeriesSample> = (0..)
            .map(|i| start + i * SLOT_MS)
            .take_while(|t| *t <= end)
            .map(|t| SeriesSample { at: t, counts: points.get(&t).cloned().unwrap_or_default() })
            .collect();
        recorded += store.obs_add_series_samples(&samples, now).await? as i64;
    }
    Ok(recorded)
}

fn secs(ms: Millis) -> String {
    (ms / 1000).to_string()
}

/// A `query_range` answer as slot → [(label value, count)]; a partial or
/// malformed answer is an error.
fn parse_matrix(body: &[u8], label: &str) -> Result<HashMap<i64, Vec<(String, i64)>>, Fail> {
    let bad = |why: String| Fail::Backend(format!("VictoriaMetrics query_range: {why}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    if v["status"] != "success" {
        return Err(bad(format!("status {}: {}", v["status"], v["error"])));
    }
    if v["isPartial"] == true {
        return Err(bad("a partial answer (some storage nodes did not answer)".into()));
    }
    let result = v["data"]["result"].as_array().ok_or_else(|| bad("no data.result".into()))?;
    let mut out: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for series in result {
        let Some(value) = series["metric"][label].as_str() else { continue };
        for p in series["values"].as_array().ok_or_else(|| bad("a series without values".into()))? {
            let t = p[0].as_f64().ok_or_else(|| bad("a point without a time".into()))?;
            let n: f64 = p[1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(format!("a count that is not a number: {}", p[1])))?;
            out.entry((t * 1000.0).round() as i64).or_default().push((value.to_string(), n.round() as i64));
        }
    }
    Ok(out)
}

/// A LogsQL field name, quoted.
fn logsql_field(name: &str) -> String {
    serde_json::to_string(name).unwrap_or_else(|_| format!("{name:?}"))
}

fn utc_second(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

/// The last three closed hours (asked again every run: late logs), then
/// the closed hours not covered yet within the backfill horizon, newest
/// first, a day per query, at most [`MAX_QUERIES_PER_RUN`] queries in all.
/// Covered hours outside the three are never asked again or replaced.
async fn sample_logs(store: &Store, cfg: &ObsConfig, now: Millis, queries: &mut i64) -> Result<i64, Fail> {
    let to = now.div_euclid(HOUR_MS) * HOUR_MS;
    let recent = to - LOG_LOOKBACK_HOURS * HOUR_MS;
    let oldest = horizon(cfg, now).min(recent);
    let covered: std::collections::HashSet<i64> = store.obs_log_covered(oldest, recent).await?.into_iter().collect();
    let missing: Vec<i64> =
        (0..).map(|i| oldest + i * HOUR_MS).take_while(|h| *h < recent).filter(|h| !covered.contains(h)).collect();
    let mut ranges = vec![(recent, to)];
    ranges.extend(chunks(&missing, HOUR_MS, 24).into_iter().map(|(a, b)| (a, b + HOUR_MS)));
    let mut hours = 0;
    for (from, to) in ranges.into_iter().take(MAX_QUERIES_PER_RUN) {
        *queries += 1;
        let rows = logs_query(cfg, from, to).await?;
        store.obs_put_log_hours(from, to, &rows, now).await?;
        hours += (to - from) / HOUR_MS;
    }
    Ok(hours)
}

/// One stats query over the closed hours `[from, to)`.
async fn logs_query(cfg: &ObsConfig, from: Millis, to: Millis) -> Result<Vec<LogHour>, Fail> {
    let url = cfg.logs_url.as_deref().unwrap_or_default();
    let field = logsql_field(&cfg.logs_label);
    let query = format!(
        "_time:[{}, {}) {field}:* | stats by (_time:1h, {field}) count() as lines, sum_len(_msg) as bytes",
        utc_second(from),
        utc_second(to)
    );
    let req = form(format!("{url}/select/logsql/query"), &[("query", query.as_str())]);
    let body = fetch(req, "VictoriaLogs query").await?;
    parse_log_stats(&body, &cfg.logs_label, from, to)
}

/// VictoriaLogs' JSON lines of the stats query, every line checked.
fn parse_log_stats(body: &[u8], label: &str, from: Millis, to: Millis) -> Result<Vec<LogHour>, Fail> {
    let bad = |why: String| Fail::Backend(format!("VictoriaLogs query: {why}"));
    let mut out = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| bad(format!("line {}: not JSON ({e})", i + 1)))?;
        let num = |k: &str| -> Result<i64, Fail> {
            match &v[k] {
                serde_json::Value::String(s) => s.parse::<i64>().ok(),
                serde_json::Value::Number(n) => n.as_i64(),
                _ => None,
            }
            .ok_or_else(|| bad(format!("line {}: {k} is not a whole number", i + 1)))
        };
        let t = v["_time"].as_str().ok_or_else(|| bad(format!("line {}: no _time", i + 1)))?;
        let hour = nines_core::clock::parse_rfc3339(t).map_err(|e| bad(format!("line {}: _time {t:?}: {e}", i + 1)))?;
        if hour % HOUR_MS != 0 || hour < from || hour >= to {
            return Err(bad(format!("line {}: hour {t} outside the hours asked for", i + 1)));
        }
        let Some(value) = v[label].as_str() else { continue };
        out.push(LogHour { label_value: value.to_string(), hour, lines: num("lines")?, bytes: num("bytes")? });
    }
    Ok(out)
}

/// The `nines_org_*` series of `/metrics`, as last computed: shared by
/// `/metrics` (which reads it) and the accounting worker (which refreshes it
/// after each run).
#[derive(Clone, Default)]
pub struct ObsSeries(std::sync::Arc<std::sync::RwLock<String>>);

impl ObsSeries {
    /// Recompute the series from the accounting rows.
    pub async fn refresh(&self, store: &Store, now: Millis) -> nines_store::Result<()> {
        let text = metrics_text(store, now).await?;
        if let Ok(mut g) = self.0.write() {
            *g = text;
        }
        Ok(())
    }

    pub fn text(&self) -> String {
        self.0.read().map(|g| g.clone()).unwrap_or_default()
    }
}

/// The accounting worker: every `every`, while leader.
pub async fn worker(
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    me: Leadership,
    series: ObsSeries,
    every: Duration,
    stop: watch::Receiver<bool>,
) {
    let mut ticks = me.ticks(every, stop);
    while ticks.next().await {
        let now = clock.now_ms();
        if let Err(e) = run_once(&store, now).await {
            tracing::error!(error = %e, "observability accounting failed");
        }
        if let Err(e) = series.refresh(&store, now).await {
            tracing::error!(error = %e, "cannot refresh the accounting series of /metrics");
        }
    }
}

// ---------------------------------------------------------------- figures

/// The windows ending at the current hour's start.
pub fn windows(now: Millis) -> Windows {
    let to = now.div_euclid(HOUR_MS) * HOUR_MS;
    Windows { from_1h: to - HOUR_MS, from_24h: to - 24 * HOUR_MS, from_30d: to - WINDOW_30D_MS, to }
}

/// A figure over the 1 h, 24 h and 30 d windows; `null` where nothing of the
/// window was covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Windowed<T> {
    #[serde(rename = "1h")]
    pub w1h: Option<T>,
    #[serde(rename = "24h")]
    pub w24h: Option<T>,
    #[serde(rename = "30d")]
    pub w30d: Option<T>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogFigures {
    /// Log lines in the covered hours of each window.
    pub lines: Windowed<i64>,
    /// Message bytes (`_msg`, UTF-8) in the covered hours of each window.
    pub bytes: Windowed<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveSeries {
    /// Series with a sample in the hour before the newest sample; `null`
    /// when that sample is older than 15 minutes.
    pub current: Option<i64>,
    /// When the newest sample was taken.
    pub current_at: Option<String>,
    pub avg1h: Option<f64>,
    pub avg24h: Option<f64>,
    pub avg30d: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricFigures {
    pub active_series: ActiveSeries,
}

/// How much of a window the figures cover.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Coverage {
    /// Intervals answered in full: hours (logs) or 5-minute samples (metrics).
    pub covered: i64,
    /// Intervals in the window.
    pub expected: i64,
    /// covered / expected.
    pub ratio: f64,
}

impl Coverage {
    fn of(covered: i64, expected: i64) -> Coverage {
        Coverage { covered, expected, ratio: if expected > 0 { covered as f64 / expected as f64 } else { 0.0 } }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WindowCoverage {
    #[serde(rename = "1h")]
    pub w1h: Coverage,
    #[serde(rename = "24h")]
    pub w24h: Coverage,
    #[serde(rename = "30d")]
    pub w30d: Coverage,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CoverageView {
    pub logs: Option<WindowCoverage>,
    pub metrics: Option<WindowCoverage>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackendView {
    /// False when its URL is not set in SystemConfig.
    pub enabled: bool,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Queries of the last run (a constant, not one per organization).
    pub last_queries: Option<i64>,
    pub last_duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BackendsView {
    pub logs: BackendView,
    pub metrics: BackendView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Span {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WindowSpans {
    #[serde(rename = "1h")]
    pub w1h: Span,
    #[serde(rename = "24h")]
    pub w24h: Span,
    #[serde(rename = "30d")]
    pub w30d: Span,
}

/// One UTC day of the charts (closed hours only).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyPoint {
    pub date: String,
    /// `null` when no hour of the day was covered.
    pub log_lines: Option<i64>,
    pub log_bytes: Option<i64>,
    pub logs_coverage: f64,
    /// Average active series over the day's covered samples.
    pub avg_active_series: Option<f64>,
    pub metrics_coverage: f64,
}

/// `GET /api/v1/organizations/{org}/observability`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilityView {
    pub organization: String,
    pub label_values: LabelValues,
    /// `null` when VictoriaLogs is not configured.
    pub logs: Option<LogFigures>,
    /// `null` when VictoriaMetrics is not configured.
    pub metrics: Option<MetricFigures>,
    pub coverage: CoverageView,
    /// The windows: whole closed UTC hours.
    pub windows: WindowSpans,
    /// The newest successful run of either backend.
    pub updated_at: Option<String>,
    /// The newest error of a backend whose last run failed.
    pub last_error: Option<String>,
    pub backends: BackendsView,
    /// The last 30 UTC days, oldest first.
    pub daily: Vec<DailyPoint>,
}

/// What every organization's figures are computed from: one read of each
/// table for all label values.
pub struct Snapshot {
    /// The label values read, when one organization's were.
    pub only: Option<LabelValues>,
    pub now: Millis,
    pub cfg: ObsConfig,
    pub w: Windows,
    pub overrides: HashMap<String, LabelOverride>,
    pub logs: HashMap<String, (Sums3, Sums3)>,
    pub series: HashMap<String, Sums3>,
    pub current: (Option<Millis>, HashMap<String, i64>),
    pub log_cov: Sums3,
    pub series_cov: Sums3,
    pub backends: HashMap<String, nines_store::observability::BackendState>,
}

impl Snapshot {
    /// All label values (`only` = None) or one organization's.
    /// Every label value's rows (`org` = None), or only those of one
    /// organization's label values (then in [`Snapshot::only`]).
    pub async fn read(store: &Store, now: Millis, org: Option<&str>) -> nines_store::Result<Snapshot> {
        let cfg = ObsConfig::load(store).await?;
        let w = windows(now);
        let (log_cov, series_cov) = store.obs_coverage(w).await?;
        let overrides = store.obs_overrides().await?;
        let only = org.map(|o| label_values(o, &overrides));
        Ok(Snapshot {
            now,
            w,
            logs: store.obs_log_sums(w, only.as_ref().map(|l| l.logs.as_str())).await?,
            series: store.obs_series_sums(w, only.as_ref().map(|l| l.metrics.as_str())).await?,
            only,
            overrides,
            current: store.obs_series_current().await?,
            log_cov,
            series_cov,
            backends: store.obs_backends().await?,
            cfg,
        })
    }

    pub fn logs_of(&self, lv: &LabelValues) -> Option<LogFigures> {
        self.cfg.logs_url.as_ref()?;
        let (l, b) = self.logs.get(&lv.logs).copied().unwrap_or_default();
        let c = self.log_cov;
        let win = |s: Sums3| Windowed {
            w1h: (c.w1h > 0).then_some(s.w1h),
            w24h: (c.w24h > 0).then_some(s.w24h),
            w30d: (c.w30d > 0).then_some(s.w30d),
        };
        Some(LogFigures { lines: win(l), bytes: win(b) })
    }

    pub fn metrics_of(&self, lv: &LabelValues) -> Option<MetricFigures> {
        self.cfg.metrics_url.as_ref()?;
        let s = self.series.get(&lv.metrics).copied().unwrap_or_default();
        let c = self.series_cov;
        let avg = |sum: i64, n: i64| (n > 0).then(|| sum as f64 / n as f64);
        let (at, counts) = &self.current;
        Some(MetricFigures {
            active_series: ActiveSeries {
                // a sample older than three slots is not "current" (the
                // backend has not answered since): no figure, its time stays
                current: at
                    .filter(|t| *t <= self.now && self.now - t <= CURRENT_MAX_AGE_MS)
                    .map(|_| counts.get(&lv.metrics).copied().unwrap_or(0)),
                current_at: at.map(nines_core::clock::rfc3339),
                avg1h: avg(s.w1h, c.w1h),
                avg24h: avg(s.w24h, c.w24h),
                avg30d: avg(s.w30d, c.w30d),
            },
        })
    }

    pub fn spans(&self) -> WindowSpans {
        let w = self.w;
        let span = |from: Millis| Span { from: nines_core::clock::rfc3339(from), to: nines_core::clock::rfc3339(w.to) };
        WindowSpans { w1h: span(w.from_1h), w24h: span(w.from_24h), w30d: span(w.from_30d) }
    }

    pub fn coverage(&self) -> CoverageView {
        let wc = |c: Sums3, per_hour: i64| WindowCoverage {
            w1h: Coverage::of(c.w1h, per_hour),
            w24h: Coverage::of(c.w24h, 24 * per_hour),
            w30d: Coverage::of(c.w30d, 720 * per_hour),
        };
        CoverageView {
            logs: self.cfg.logs_url.as_ref().map(|_| wc(self.log_cov, 1)),
            metrics: self.cfg.metrics_url.as_ref().map(|_| wc(self.series_cov, HOUR_MS / SLOT_MS)),
        }
    }

    fn backend(&self, name: &str, enabled: bool) -> BackendView {
        let b = self.backends.get(name).cloned().unwrap_or_default();
        BackendView {
            enabled,
            last_success: b.last_success.map(nines_core::clock::rfc3339),
            last_error: b.last_error,
            last_error_at: b.last_error_at.map(nines_core::clock::rfc3339),
            last_queries: b.last_queries,
            last_duration_ms: b.last_duration_ms,
        }
    }

    /// The newest success, and the newest error not followed by a success.
    pub fn status(&self) -> (Option<String>, Option<String>) {
        let mut updated: Option<Millis> = None;
        let mut error: Option<(Millis, String)> = None;
        for (name, on) in [("logs", self.cfg.logs_url.is_some()), ("metrics", self.cfg.metrics_url.is_some())] {
            let Some(b) = self.backends.get(name).filter(|_| on) else { continue };
            updated = updated.max(b.last_success);
            if let (Some(at), Some(e)) = (b.last_error_at, &b.last_error)
                && b.last_success.is_none_or(|s| s < at)
                && error.as_ref().is_none_or(|(t, _)| *t < at)
            {
                let which = if name == "logs" { "VictoriaLogs" } else { "VictoriaMetrics" };
                error = Some((at, format!("{which} at {}: {e}", nines_core::clock::rfc3339(at))));
            }
        }
        (updated.map(nines_core::clock::rfc3339), error.map(|(_, e)| e))
    }
}

/// What a key of one organization reads instead of a backend's error text
/// (which can name internal hosts and the query).
pub const REDACTED: &str = "accounting failing: the platform team sees the reason";

impl ObservabilityView {
    /// Backend error texts replaced by [`REDACTED`], times kept.
    pub fn redact(&mut self) {
        for e in [&mut self.last_error, &mut self.backends.logs.last_error, &mut self.backends.metrics.last_error] {
            if e.is_some() {
                *e = Some(REDACTED.to_string());
            }
        }
    }
}

/// One organization's figures and its daily series.
pub async fn organization(store: &Store, org: &str, now: Millis) -> nines_store::Result<ObservabilityView> {
    let snap = Snapshot::read(store, now, Some(org)).await?;
    let lv = snap.only.clone().unwrap_or_else(|| label_values(org, &snap.overrides));
    let w = snap.w;
    // the last day is the one holding the newest closed hour
    let day0 = (w.to - 1).div_euclid(DAY_MS) * DAY_MS - 29 * DAY_MS;
    let (log_days, slot_days) = store.obs_daily_coverage(day0, w.to).await?;
    let logs = store.obs_daily_logs(&lv.logs, day0, w.to).await?;
    let series = store.obs_daily_series(&lv.metrics, day0, w.to).await?;
    let mut daily = Vec::with_capacity(30);
    for d in 0..30 {
        let day = day0 + d * DAY_MS;
        // the hours of the day that have closed
        let hours = ((w.to - day) / HOUR_MS).clamp(0, 24);
        let lc = log_days.get(&day).copied().unwrap_or(0);
        let sc = slot_days.get(&day).copied().unwrap_or(0);
        let (lines, bytes) = logs.get(&day).copied().unwrap_or((0, 0));
        let ratio = |c: i64, n: i64| if n > 0 { c as f64 / n as f64 } else { 0.0 };
        let on_logs = snap.cfg.logs_url.is_some() && lc > 0;
        let on_series = snap.cfg.metrics_url.is_some() && sc > 0;
        daily.push(DailyPoint {
            date: jiff::Timestamp::from_millisecond(day)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            log_lines: on_logs.then_some(lines),
            log_bytes: on_logs.then_some(bytes),
            logs_coverage: ratio(lc, hours),
            avg_active_series: on_series.then(|| series.get(&day).copied().unwrap_or(0) as f64 / sc as f64),
            metrics_coverage: ratio(sc, hours * (HOUR_MS / SLOT_MS)),
        });
    }
    let (updated_at, last_error) = snap.status();
    Ok(ObservabilityView {
        organization: org.to_string(),
        logs: snap.logs_of(&lv),
        metrics: snap.metrics_of(&lv),
        coverage: snap.coverage(),
        windows: snap.spans(),
        updated_at,
        last_error,
        backends: BackendsView {
            logs: snap.backend("logs", snap.cfg.logs_url.is_some()),
            metrics: snap.backend("metrics", snap.cfg.metrics_url.is_some()),
        },
        label_values: lv,
        daily,
    })
}

/// The daily report's section: the figures of [`organization`] as of `at`
/// (the end of the reported day, or now while it lasts); `None` when
/// neither backend is configured.
pub async fn report_figures(
    store: &Store,
    org: &str,
    at: Millis,
) -> nines_store::Result<Option<nines_report::document::ObservabilityFigures>> {
    let now = at;
    use nines_report::document::{ActiveSeriesFigures, ObservabilityFigures, Windowed as W};
    let snap = Snapshot::read(store, now, Some(org)).await?;
    let lv = snap.only.clone().unwrap_or_else(|| label_values(org, &snap.overrides));
    if snap.cfg.logs_url.is_none() && snap.cfg.metrics_url.is_none() {
        return Ok(None);
    }
    let logs = snap.logs_of(&lv);
    let metrics = snap.metrics_of(&lv);
    let cov = snap.coverage();
    let w = |x: &Windowed<i64>| W { h1: x.w1h, h24: x.w24h, d30: x.w30d };
    Ok(Some(ObservabilityFigures {
        windows_end: snap.w.to,
        log_lines: logs.as_ref().map(|l| w(&l.lines)),
        log_bytes: logs.as_ref().map(|l| w(&l.bytes)),
        active_series: metrics.map(|m| ActiveSeriesFigures {
            current: m.active_series.current,
            avg1h: m.active_series.avg1h,
            avg24h: m.active_series.avg24h,
            avg30d: m.active_series.avg30d,
        }),
        logs_coverage_30d: cov.logs.map(|c| c.w30d.ratio),
        metrics_coverage_30d: cov.metrics.map(|c| c.w30d.ratio),
        // the report goes to the organization: no backend error text
        last_error: snap.status().1.map(|_| REDACTED.to_string()),
    }))
}

/// One organization's 30-day figures, for tables and billing.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgSummary {
    pub organization: String,
    pub log_lines_30d: Option<i64>,
    pub log_bytes_30d: Option<i64>,
    pub active_series_current: Option<i64>,
    pub avg_active_series_30d: Option<f64>,
}

/// Every listed organization's 30-day figures, from one snapshot.
pub fn summaries(snap: &Snapshot, orgs: &[String]) -> Vec<OrgSummary> {
    orgs.iter()
        .map(|o| {
            let lv = label_values(o, &snap.overrides);
            let l = snap.logs_of(&lv);
            let m = snap.metrics_of(&lv);
            OrgSummary {
                organization: o.clone(),
                log_lines_30d: l.as_ref().and_then(|l| l.lines.w30d),
                log_bytes_30d: l.as_ref().and_then(|l| l.bytes.w30d),
                active_series_current: m.as_ref().and_then(|m| m.active_series.current),
                avg_active_series_30d: m.as_ref().and_then(|m| m.active_series.avg30d),
            }
        })
        .collect()
}

/// The organizations accounting knows: those with a service or an override.
pub async fn known_organizations(store: &Store) -> nines_store::Result<Vec<String>> {
    known_with(store, &store.obs_overrides().await?).await
}

/// [`known_organizations`] with the overrides already read.
pub async fn known_with(store: &Store, overrides: &HashMap<String, LabelOverride>) -> nines_store::Result<Vec<String>> {
    let mut all: std::collections::BTreeSet<String> = store.organizations().await?.into_iter().collect();
    all.extend(overrides.keys().cloned());
    Ok(all.into_iter().collect())
}

/// `/metrics` series of every organization (refreshed with the SLO series).
pub async fn metrics_text(store: &Store, now: Millis) -> nines_store::Result<String> {
    use std::fmt::Write;
    let snap = Snapshot::read(store, now, None).await?;
    let orgs = known_with(store, &snap.overrides).await?;
    let mut lines = BTreeMap::new();
    let esc = crate::esc;
    for o in &orgs {
        let lv = label_values(o, &snap.overrides);
        let org = esc(o);
        if let Some(l) = snap.logs_of(&lv) {
            for (w, lines_v, bytes_v) in [
                ("1h", l.lines.w1h, l.bytes.w1h),
                ("24h", l.lines.w24h, l.bytes.w24h),
                ("30d", l.lines.w30d, l.bytes.w30d),
            ] {
                if let (Some(n), Some(b)) = (lines_v, bytes_v) {
                    lines
                        .entry("nines_org_log_lines")
                        .or_insert_with(Vec::new)
                        .push(format!("nines_org_log_lines{{organization=\"{org}\",window=\"{w}\"}} {n}"));
                    lines
                        .entry("nines_org_log_bytes")
                        .or_insert_with(Vec::new)
                        .push(format!("nines_org_log_bytes{{organization=\"{org}\",window=\"{w}\"}} {b}"));
                }
            }
        }
        if let Some(m) = snap.metrics_of(&lv) {
            let a = &m.active_series;
            for (w, v) in
                [("current", a.current.map(|c| c as f64)), ("1h", a.avg1h), ("24h", a.avg24h), ("30d", a.avg30d)]
            {
                if let Some(v) = v {
                    lines
                        .entry("nines_org_active_series")
                        .or_insert_with(Vec::new)
                        .push(format!("nines_org_active_series{{organization=\"{org}\",window=\"{w}\"}} {v}"));
                }
            }
        }
    }
    let help = [
        ("nines_org_log_lines", "Log lines of the organization in VictoriaLogs over the window (closed UTC hours)."),
        ("nines_org_log_bytes", "Message bytes (_msg) of the organization's logs in VictoriaLogs over the window."),
        (
            "nines_org_active_series",
            "Active series of the organization in VictoriaMetrics: the newest sample (current) or the average over the window.",
        ),
    ];
    let mut out = String::new();
    for (name, h) in help {
        if let Some(ls) = lines.get(name) {
            let _ = writeln!(out, "# HELP {name} {h}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            for l in ls {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_and_single_node_paths() {
        let mut m = HashMap::new();
        m.insert("VICTORIAMETRICS_URL".to_string(), "http://vm:8481/".to_string());
        let c = ObsConfig::from_map(&m);
        assert_eq!(c.metrics_api().as_deref(), Some("http://vm:8481/select/0/prometheus/api/v1"));
        m.insert("VICTORIAMETRICS_IS_CLUSTER".into(), "false".into());
        assert_eq!(ObsConfig::from_map(&m).metrics_api().as_deref(), Some("http://vm:8481/api/v1"));
        m.insert("VICTORIAMETRICS_IS_CLUSTER".into(), "true".into());
        m.insert("VICTORIAMETRICS_TENANT".into(), "7:3".into());
        assert_eq!(
            ObsConfig::from_map(&m).metrics_api().as_deref(),
            Some("http://vm:8481/select/7:3/prometheus/api/v1")
        );
        assert_eq!(ObsConfig::from_map(&HashMap::new()).metrics_api(), None);
    }

    #[test]
    fn a_partial_or_malformed_answer_is_refused() {
        let ok = br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"customer":"a"},"values":[[1700000100,"3"],[1700000400,"4"]]}]}}"#;
        let m = parse_matrix(ok, "customer").ok().unwrap();
        assert_eq!(m[&1_700_000_100_000], vec![("a".to_string(), 3)]);
        assert_eq!(m[&1_700_000_400_000], vec![("a".to_string(), 4)]);
        let partial = br#"{"status":"success","isPartial":true,"data":{"resultType":"matrix","result":[]}}"#;
        assert!(parse_matrix(partial, "customer").is_err());
        assert!(parse_matrix(b"<html>", "customer").is_err());
        let odd = br#"{"status":"success","data":{"result":[{"metric":{"customer":"a"},"values":[[1,"x"]]}]}}"#;
        assert!(parse_matrix(odd, "customer").is_err());
    }

    #[test]
    fn log_stats_lines_are_checked() {
        let body = b"{\"_time\":\"2026-12-06T19:00:00Z\",\"o\":\"be\\\"ta\",\"lines\":\"2\",\"bytes\":\"11\"}\n";
        let from = nines_core::clock::parse_rfc3339("2026-12-06T18:00:00Z").unwrap();
        let rows = parse_log_stats(body, "o", from, from + 3 * HOUR_MS).ok().unwrap();
        assert_eq!(rows, vec![LogHour { label_value: "be\"ta".into(), hour: from + HOUR_MS, lines: 2, bytes: 11 }]);
        // an hour outside the range asked for, or a truncated line
        assert!(parse_log_stats(body, "o", from + 2 * HOUR_MS, from + 3 * HOUR_MS).is_err());
        assert!(
            parse_log_stats(b"{\"_time\":\"2026-12-06T19:00:00Z\",\"o\":\"a\",\"li", "o", from, from + 3 * HOUR_MS)
                .is_err()
        );
    }

    #[test]
    fn gaps_are_cut_into_chunks_newest_first() {
        assert_eq!(chunks(&[], 5, 3), vec![]);
        // 0 5 10 15 | 30 35: two runs, the first cut at three
        assert_eq!(chunks(&[0, 5, 10, 15, 30, 35], 5, 3), vec![(30, 35), (15, 15), (0, 10)]);
        assert_eq!(chunks(&[7], 5, 3), vec![(7, 7)]);
    }

    #[test]
    fn logsql_field_names_are_quoted() {
        assert_eq!(logsql_field("organizations.polycrate.io/name"), "\"organizations.polycrate.io/name\"");
        assert_eq!(logsql_field("a\"b"), "\"a\\\"b\"");
    }
}
