//! The daily SLA report: filled from the SLO engine ([`crate::slo`]) for a
//! civil day in the report time zone and the month to date, written to
//! `<reports dir>/<org>/<date>.{json,pdf}` (temp file, fsync, rename),
//! indexed in the database, pushed to the SLA portal, made every day at
//! 07:00 by the lease holder (once, even with several replicas: each
//! `(organization, date)` row is claimed first), and cleaned up by the
//! retention job together with raw observations.
//!
//! What does not live here: the arithmetic (`nines_core::slo` through
//! [`crate::slo`]: every figure here is the engine's for the same window),
//! the document's shape and its PDF (`nines-report`).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use nines_core::clock::{Clock, Millis};
use nines_core::slo::{self, Accounting, DAY_MS, Span};
use nines_core::{CertificateStatus, Status, StorageLevel};
use nines_report::{
    BackupOverdue, CertificateExpiring, DailyAvailability, DayAndMonth, DowntimeReport, ErrorBudgetRemaining,
    MaintenanceWindowReport, OrganizationReport, OverallAvailability, Period, ReportDocument, SCHEMA_VERSION,
    ServiceReport, SlaGroupReport, StorageCritical, TimeSpan,
};
use nines_store::slo::SloSubject;
use nines_store::{ServiceFilter, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::config::SloConfig;
use crate::leadership::Leadership;

/// Settings of reports and retention (the CLI fills them from flags and env).
#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// Where report files go (`<data-dir>/reports`); None: no reports are made.
    pub dir: Option<PathBuf>,
    /// IANA time zone of report days and of the daily run.
    pub time_zone: String,
    /// Local time of the daily run.
    pub run_at: Time,
    /// How often the scheduler looks whether the day's reports are due.
    pub check_every: Duration,
    /// Reports older than this many days are removed (files and rows).
    pub keep_days: i64,
    /// Raw observations older than this many days are removed.
    pub raw_retention_days: i64,
    /// How often the retention job runs.
    pub retention_every: Duration,
    /// The SLA portal; each report is POSTed there when set.
    pub portal_url: Option<String>,
    pub push_attempts: u32,
    /// First wait between push attempts; doubled after each failure.
    pub push_backoff: Duration,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            dir: None,
            time_zone: "UTC".into(),
            run_at: Time::constant(7, 0, 0, 0),
            check_every: Duration::from_secs(60),
            keep_days: 400,
            raw_retention_days: 90,
            retention_every: Duration::from_secs(3600),
            portal_url: None,
            push_attempts: 5,
            push_backoff: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] nines_store::Error),
    #[error(transparent)]
    Report(#[from] nines_report::Error),
    #[error("report files: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn zone(name: &str) -> Result<TimeZone> {
    if name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|e| Error::Invalid(format!("unknown time zone {name:?} ({e})")))
}

fn ms(z: &jiff::Zoned) -> Millis {
    z.timestamp().as_millisecond()
}

fn midnight(d: Date, tz: &TimeZone) -> Result<Millis> {
    Ok(ms(&d.to_zoned(tz.clone()).map_err(|e| Error::Invalid(e.to_string()))?))
}

/// The civil date of `now` in `tz`.
pub fn local_date(now: Millis, tz: &TimeZone) -> Date {
    jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_zoned(tz.clone()).date()
}

/// The default report day: yesterday in `tz`.
pub fn yesterday(now: Millis, tz: &TimeZone) -> Date {
    local_date(now, tz).yesterday().unwrap_or(Date::MIN)
}

/// Each day of a month up to the report day, with its span.
pub type Days = Vec<(Date, Span)>;

/// The report's windows for `date`: the day, the month to date, and each
/// day of the month up to `date`.
pub fn windows(date: Date, tz: &TimeZone) -> Result<(Span, Span, Days)> {
    let next = date.tomorrow().map_err(|e| Error::Invalid(e.to_string()))?;
    let day = Span { from: midnight(date, tz)?, to: midnight(next, tz)? };
    let first = date.first_of_month();
    let mtd = Span { from: midnight(first, tz)?, to: day.to };
    let mut days = Vec::new();
    let mut d = first;
    while d <= date {
        let n = d.tomorrow().map_err(|e| Error::Invalid(e.to_string()))?;
        days.push((d, Span { from: midnight(d, tz)?, to: midnight(n, tz)? }));
        d = n;
    }
    Ok((day, mtd, days))
}

fn percent(a: &Accounting) -> Option<f64> {
    a.availability().map(|r| r * 100.0)
}

fn met(a: Option<f64>, target: f64) -> Option<bool> {
    a.map(|x| x >= target)
}

/// The window an SLO's budget and conditions are read over at the end of
/// the report day: its calendar month so far, or its rolling days.
pub fn budget_window(s: &SloSubject, cfg: &SloConfig, day_end: Millis, mtd: Span) -> Span {
    if s.calendar_month {
        mtd
    } else {
        Span { from: day_end - crate::slo::window_days_for(s, cfg) * DAY_MS, to: day_end }
    }
}

/// The report of one organization for `date` in `tz`, as of `now`.
pub async fn build(
    store: &Store,
    cfg: &SloConfig,
    organization: &str,
    date: Date,
    time_zone: &str,
    now: Millis,
) -> Result<ReportDocument> {
    let tz = zone(time_zone)?;
    let (mut day, mut mtd, mut days) = windows(date, &tz)?;
    if day.from >= now {
        return Err(Error::Invalid(format!(
            "{date} has not begun in {time_zone}: a report covers time that has passed"
        )));
    }
    // a day not over yet is reported up to now, and says so: the rest of
    // the day has not happened (it is neither up nor down)
    let partial_until = (day.to > now).then_some(now);
    if let Some(until) = partial_until {
        day.to = until;
        mtd.to = until;
        if let Some((_, last)) = days.last_mut() {
            last.to = until;
        }
    }
    let org = organization_report(store, cfg, organization, day, mtd, &days, now).await?;
    Ok(ReportDocument {
        schema_version: SCHEMA_VERSION,
        report_date: date.to_string(),
        period: Period {
            time_zone: time_zone.to_string(),
            day: TimeSpan { start: day.from, end: day.to },
            month_to_date: TimeSpan { start: mtd.from, end: mtd.to },
            partial_until,
        },
        generated_at: now,
        organizations: vec![org],
    })
}

async fn organization_report(
    store: &Store,
    cfg: &SloConfig,
    org: &str,
    day: Span,
    mtd: Span,
    days: &[(Date, Span)],
    now: Millis,
) -> Result<OrganizationReport> {
    let mut subjects = store.slo_subjects(Some(org)).await?;
    subjects.sort_by(|a, b| (&a.node_id, &a.name, a.id).cmp(&(&b.node_id, &b.name, b.id)));
    let windows = store.list_maintenance(Some(org)).await?;
    let ex = crate::slo::Exclusions::load(store, Some(org)).await?;
    // one read of the month's timeline; every window below is inside it
    let timelines = store.timelines_since(org, mtd.from, mtd.to).await?;
    let empty = (Status::Unknown, Vec::new());
    let acc = |s: &SloSubject, w: Span| {
        let (i, t) = timelines.get(&s.id).unwrap_or(&empty);
        crate::slo::accounting_from(s, *i, t, w, cfg, &ex)
    };
    // budgets over each distinct SLO window, through the engine's bulk path
    let mut budget_accs: HashMap<i64, Accounting> = HashMap::new();
    let mut spans: Vec<Span> = subjects.iter().map(|s| budget_window(s, cfg, day.to, mtd)).collect();
    spans.sort_by_key(|w| (w.from, w.to));
    spans.dedup();
    for w in spans {
        if w == mtd {
            for s in subjects.iter().filter(|s| budget_window(s, cfg, day.to, mtd) == w) {
                budget_accs.insert(s.id, acc(s, w));
            }
            continue;
        }
        let b = crate::slo::bulk(store, Some(org), w, cfg).await?;
        for (s, a, ..) in b.items {
            if budget_window(&s, cfg, day.to, mtd) == w {
                budget_accs.insert(s.id, a);
            }
        }
    }
    let mut services = Vec::with_capacity(subjects.len());
    let (mut w_day, mut w_mtd) = (Vec::new(), Vec::new());
    for s in &subjects {
        let (a_day, a_mtd) = (acc(s, day), acc(s, mtd));
        let weight = slo::weight(s.criticality);
        w_day.push((a_day, weight));
        w_mtd.push((a_mtd, weight));
        let (slo_t, sla_t) = crate::slo::targets_for(s, cfg);
        let b = budget_accs.get(&s.id).copied().unwrap_or_default();
        let budget = slo::error_budget(&b, slo_t, cfg.thresholds);
        services.push(ServiceReport {
            id: s.id,
            name: s.name.clone(),
            node_id: s.node_id.clone(),
            sla_group: s.sla_group.clone(),
            tier: s.criticality.tier(),
            criticality: s.criticality,
            slo_target: slo_t.percent(),
            sla_target: sla_t.percent(),
            availability: DayAndMonth { day: percent(&a_day), month_to_date: percent(&a_mtd) },
            downtime_minutes: DayAndMonth {
                day: a_day.bad_ms as f64 / 60_000.0,
                month_to_date: a_mtd.bad_ms as f64 / 60_000.0,
            },
            error_budget: ErrorBudgetRemaining {
                remaining_seconds: budget.remaining_seconds,
                remaining_percent: 100.0 - budget.consumed_percent,
            },
            conditions: slo::conditions(&b, slo_t, sla_t, cfg.thresholds),
        });
    }
    let sla_target = cfg.default_sla.percent();
    let overall_av =
        DayAndMonth { day: percent(&slo::weighted(&w_day)), month_to_date: percent(&slo::weighted(&w_mtd)) };
    let overall = OverallAvailability {
        sla_target,
        availability: overall_av,
        sla_met: DayAndMonth {
            day: met(overall_av.day, sla_target),
            month_to_date: met(overall_av.month_to_date, sla_target),
        },
    };
    let daily_availability = days
        .iter()
        .map(|(d, w)| {
            let v: Vec<(Accounting, i64)> = subjects.iter().map(|s| (acc(s, *w), slo::weight(s.criticality))).collect();
            DailyAvailability { date: d.to_string(), availability: percent(&slo::weighted(&v)) }
        })
        .collect();
    let by_id: HashMap<i64, &SloSubject> = subjects.iter().map(|s| (s.id, s)).collect();
    let mut sla_groups = Vec::new();
    for g in store.sla_groups(Some(org)).await? {
        let Some((mode, quorum, ids)) = store.group(org, &g.name).await? else { continue };
        let members: Vec<&SloSubject> = ids.iter().filter_map(|id| by_id.get(id).copied()).collect();
        let classes: Vec<_> = members
            .iter()
            .map(|s| {
                let (i, t) = timelines.get(&s.id).unwrap_or(&empty);
                crate::slo::member_classes(*i, t, s.created_at, &crate::slo::policy_for(s, cfg), &ex.spans_for(s, mtd))
            })
            .collect();
        let (gi, gc) = slo::combine_group(&classes, crate::slo::group_mode(&mode, quorum));
        let owned: Vec<SloSubject> = members.iter().map(|s| (*s).clone()).collect();
        let (_, mut g_sla, _) = crate::slo::group_targets(&owned, cfg);
        if let Some(t) =
            store.group_target_overrides(org, &g.name).await?.1.and_then(nines_core::slo::Target::from_percent)
        {
            g_sla = t;
        }
        let av = DayAndMonth {
            day: percent(&slo::account_classes(gi, &gc, day, &[])),
            month_to_date: percent(&slo::account_classes(gi, &gc, mtd, &[])),
        };
        let t = g_sla.percent();
        sla_groups.push(SlaGroupReport {
            name: g.name.clone(),
            mode: match (mode.as_str(), quorum) {
                ("quorum", Some(k)) => format!("quorum:{k}"),
                (m, _) => m.to_string(),
            },
            sla_target: t,
            availability: av,
            sla_met: DayAndMonth { day: met(av.day, t), month_to_date: met(av.month_to_date, t) },
            members: members.iter().map(|s| s.id).collect(),
        });
    }
    let mut downtimes = Vec::new();
    let overlapping = nines_store::downtimes::DowntimeFilter {
        organization: Some(org),
        overlapping: Some((mtd.from, mtd.to)),
        ..Default::default()
    };
    for d in store.find_downtimes(&overlapping).await? {
        let names = match store.get_downtime(d.id).await? {
            Some((_, members, _)) => members.into_iter().map(|m| m.name).collect(),
            None => Vec::new(),
        };
        downtimes.push(DowntimeReport {
            id: d.id,
            title: d.title.clone(),
            services: names,
            start: d.started_at,
            end: d.resolved_at,
            duration_seconds: (d.resolved_at.unwrap_or(now) - d.started_at) / 1000,
            counts_towards_sla: d.counts_towards_sla,
            excluded_reason: d.excluded_reason.clone(),
            severity: d.severity.clone(),
        });
    }
    downtimes.sort_by_key(|d| (d.start, d.id));
    let mut maintenance_windows = Vec::new();
    for m in &windows {
        let spans = crate::maintenance::spans(m, mtd);
        if spans.is_empty() {
            continue;
        }
        let names: Vec<String> = subjects
            .iter()
            .filter(|s| crate::maintenance::covers(m, org, s.id, &s.node_id, s.sla_group.as_deref()))
            .map(|s| s.name.clone())
            .collect();
        for sp in spans {
            maintenance_windows.push(MaintenanceWindowReport {
                title: m.title.clone(),
                start: sp.from,
                end: sp.to,
                services: names.clone(),
            });
        }
    }
    maintenance_windows.sort_by(|a, b| (a.start, &a.title).cmp(&(b.start, &b.title)));
    let records =
        store.list_services(&ServiceFilter { organization: Some(org.to_string()), ..Default::default() }).await?;
    let mut backups_overdue = Vec::new();
    let mut storage_critical = Vec::new();
    for r in &records {
        if let Some(b) = r.backup(now).filter(|b| b.overdue) {
            backups_overdue.push(BackupOverdue {
                service: b.service.clone(),
                node_id: b.node_id.clone(),
                last_backup_at: b.last_success.as_deref().and_then(|t| nines_core::clock::parse_rfc3339(t).ok()),
                max_age_days: b.max_age_days.ceil().max(0.0) as u32,
            });
        }
        if let Some(st) = r.storage().filter(|st| st.level == StorageLevel::Critical)
            && let Some(free_percent) = st.free_percent
        {
            storage_critical.push(StorageCritical {
                service: st.service.clone(),
                node_id: st.node_id.clone(),
                free_percent,
                used_bytes: st.used_bytes,
                allocated_bytes: st.allocated_bytes,
                level: st.level,
            });
        }
    }
    let mut certificates_expiring: Vec<CertificateExpiring> = store
        .list_certificates(Some(org))
        .await?
        .into_iter()
        .filter(|c| matches!(c.status_at(now), CertificateStatus::Expired | CertificateStatus::ExpiringSoon))
        .filter_map(|c| {
            let not_after = c.not_after?;
            Some(CertificateExpiring {
                service: format!("{}/{}", c.namespace, c.name),
                subject: c.dns_names.first().cloned().unwrap_or_else(|| c.name.clone()),
                not_after,
                days_remaining: (not_after - now).div_euclid(DAY_MS),
            })
        })
        .collect();
    certificates_expiring.sort_by(|a, b| (a.not_after, &a.service).cmp(&(b.not_after, &b.service)));
    Ok(OrganizationReport {
        name: org.to_string(),
        overall,
        sla_groups,
        services,
        downtimes,
        maintenance_windows,
        backups_overdue,
        storage_critical,
        certificates_expiring,
        daily_availability,
        observability: crate::observability::report_figures(store, org, day.to.min(now)).await?,
    })
}

/// What one generation wrote.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Generated {
    pub organization: String,
    /// `YYYY-MM-DD`, the report day in the report time zone.
    pub date: String,
    pub paths: ReportPaths,
    pub json_bytes: u64,
    pub pdf_bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReportPaths {
    pub json: String,
    pub pdf: String,
}

/// The directory of an organization's reports; refuses names that would
/// leave the reports directory.
pub fn org_dir(dir: &Path, organization: &str) -> Result<PathBuf> {
    if organization.is_empty() || organization == "." || organization == ".." || organization.contains(['/', '\\']) {
        return Err(Error::Invalid(format!("organization {organization:?} cannot name a directory")));
    }
    Ok(dir.join(organization))
}

/// Write `bytes` to `path` whole or not at all: a temp file beside it,
/// fsync, rename over, fsync the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("report"),
        std::process::id()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Make, write and index the report of `organization` for `date`;
/// generating a day again overwrites it.
pub async fn generate(
    store: &Store,
    rc: &ReportConfig,
    organization: &str,
    date: Date,
    now: Millis,
    holder: &str,
) -> Result<Generated> {
    let dir = rc.dir.as_ref().ok_or_else(|| Error::Invalid("reports are off: no reports directory".into()))?;
    let odir = org_dir(dir, organization)?;
    let cfg = SloConfig::load(store).await?;
    let doc = build(store, &cfg, organization, date, &rc.time_zone, now).await?;
    let (json, pdf) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Vec<u8>)> {
        Ok((doc.to_json()?, nines_report::render_pdf(&doc)?))
    })
    .await
    .map_err(|e| Error::Invalid(format!("report task: {e}")))??;
    let d = date.to_string();
    let (jp, pp) = (odir.join(format!("{d}.json")), odir.join(format!("{d}.pdf")));
    {
        let (jp, pp, json, pdf) = (jp.clone(), pp.clone(), json.clone(), pdf.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            write_atomically(&jp, &json)?;
            write_atomically(&pp, &pdf)
        })
        .await
        .map_err(|e| Error::Invalid(format!("report task: {e}")))??;
    }
    let (js, ps) = (jp.display().to_string(), pp.display().to_string());
    store
        .report_done(
            organization,
            &d,
            holder,
            now,
            &nines_store::reports::ReportFiles {
                json_path: &js,
                pdf_path: &ps,
                json_bytes: json.len() as i64,
                pdf_bytes: pdf.len() as i64,
            },
        )
        .await?;
    tracing::info!(organization, date = %d, json = %js, pdf = %ps, pdf_bytes = pdf.len(), "SLA report written");
    Ok(Generated {
        organization: organization.to_string(),
        date: d,
        paths: ReportPaths { json: js, pdf: ps },
        json_bytes: json.len() as u64,
        pdf_bytes: pdf.len() as u64,
    })
}

/// POST a report to the SLA portal as two requests to the same URL: the
/// JSON (`application/json`), then the PDF (`application/pdf`), each with
/// `X-Nines-Organization`, `X-Nines-Report-Date` and a
/// `Content-Disposition` file name. Each request is retried with doubling
/// waits; the outcome is recorded on the report's row.
pub async fn push(store: &Store, rc: &ReportConfig, g: &Generated, clock: &dyn Clock) -> Result<bool> {
    let Some(url) = rc.portal_url.as_deref() else { return Ok(false) };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))?;
    let mut outcome: Result<(), String> = Ok(());
    for (path, ctype, ext) in [(&g.paths.json, "application/json", "json"), (&g.paths.pdf, "application/pdf", "pdf")] {
        let body = tokio::fs::read(path).await?;
        let mut wait = rc.push_backoff;
        let mut last = String::new();
        let mut ok = false;
        for attempt in 1..=rc.push_attempts.max(1) {
            let r = http
                .post(url)
                .header("Content-Type", ctype)
                .header("X-Nines-Organization", &g.organization)
                .header("X-Nines-Report-Date", &g.date)
                .header("Content-Disposition", format!("attachment; filename=\"{}-{}.{ext}\"", g.organization, g.date))
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(resp) if resp.status().is_success() => {
                    ok = true;
                    break;
                }
                Ok(resp) => last = format!("HTTP {}", resp.status()),
                Err(e) => last = e.to_string(),
            }
            tracing::warn!(organization = %g.organization, date = %g.date, attempt, error = %last, "SLA portal push failed");
            if attempt < rc.push_attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        if !ok {
            outcome = Err(format!("{ext}: {last}"));
            break;
        }
    }
    match outcome {
        Ok(()) => {
            store.report_pushed(&g.organization, &g.date, Some(clock.now_ms()), None).await?;
            tracing::info!(organization = %g.organization, date = %g.date, "SLA report pushed to the portal");
            Ok(true)
        }
        Err(e) => {
            store.report_pushed(&g.organization, &g.date, None, Some(&e)).await?;
            Ok(false)
        }
    }
}

/// One scheduler pass: once the local run time has passed, make yesterday's
/// report of every organization that has none, each claimed first so it is
/// made once across replicas. Returns what was made.
pub async fn run_due(store: &Store, rc: &ReportConfig, clock: &dyn Clock, holder: &str) -> Result<Vec<Generated>> {
    let tz = zone(&rc.time_zone)?;
    let now = clock.now_ms();
    let local = jiff::Timestamp::from_millisecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_zoned(tz.clone());
    if local.time() < rc.run_at {
        return Ok(Vec::new());
    }
    let date = yesterday(now, &tz);
    let d = date.to_string();
    let mut made = Vec::new();
    for org in store.organizations().await? {
        if store.get_report(&org, &d).await?.is_some_and(|r| r.state == "done") {
            continue;
        }
        // a claim older than this was abandoned by a replica that died
        if !store.claim_report(&org, &d, holder, now, now - 10 * 60_000).await? {
            continue;
        }
        match generate(store, rc, &org, date, now, holder).await {
            Ok(g) => {
                if let Err(e) = push(store, rc, &g, clock).await {
                    tracing::error!(error = %e, organization = %org, "SLA portal push failed");
                }
                made.push(g);
            }
            Err(e) => {
                tracing::error!(error = %e, organization = %org, date = %d, "SLA report failed");
                store.release_report_claim(&org, &d, holder).await?;
            }
        }
    }
    Ok(made)
}

/// The report scheduler: every `check_every`, while leader, [`run_due`].
pub async fn scheduler(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    rc: ReportConfig,
    stop: watch::Receiver<bool>,
) {
    if rc.dir.is_none() {
        return;
    }
    let mut ticks = me.ticks(rc.check_every, stop);
    while ticks.next().await {
        if let Err(e) = run_due(&store, &rc, clock.as_ref(), &me.replica).await {
            tracing::error!(error = %e, "report scheduler failed");
        }
    }
}

/// What one retention pass removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub observations: u64,
    pub check_failures: u64,
    pub reports: u64,
    pub audit_entries: u64,
}

/// How long the audit log keeps an entry.
pub const AUDIT_RETENTION_DAYS: i64 = 400;

/// One retention pass: raw observations and check failures older than
/// `raw_retention_days`, reports older than `keep_days` (files, then rows).
/// Transitions and period results stay. Audit entries go after
/// [`AUDIT_RETENTION_DAYS`].
pub async fn retention_pass(store: &Store, rc: &ReportConfig, now: Millis) -> Result<Removed> {
    let cutoff = now - rc.raw_retention_days.max(1) * DAY_MS;
    let mut out = Removed {
        observations: store.prune_observations(cutoff).await?,
        check_failures: store.prune_check_failures(cutoff).await?,
        reports: 0,
        audit_entries: store.prune_audit(now - AUDIT_RETENTION_DAYS * DAY_MS).await?,
    };
    let tz = zone(&rc.time_zone)?;
    let oldest = local_date(now - rc.keep_days.max(1) * DAY_MS, &tz).to_string();
    for r in store.reports_before(&oldest).await? {
        for p in [&r.json_path, &r.pdf_path].into_iter().flatten() {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        store.delete_report(&r.organization, &r.report_date).await?;
        out.reports += 1;
    }
    if out != Removed::default() {
        tracing::info!(
            observations = out.observations,
            check_failures = out.check_failures,
            reports = out.reports,
            audit_entries = out.audit_entries,
            "retention"
        );
    }
    Ok(out)
}

/// The retention job: every `retention_every`, while leader.
pub async fn retention(
    store: Store,
    clock: Arc<dyn Clock>,
    me: Leadership,
    rc: ReportConfig,
    stop: watch::Receiver<bool>,
) {
    let mut ticks = me.ticks(rc.retention_every, stop);
    while ticks.next().await {
        if let Err(e) = retention_pass(&store, &rc, clock.now_ms()).await {
            tracing::error!(error = %e, "retention failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_drawn_in_the_time_zone() {
        let tz = zone("Europe/Berlin").unwrap();
        let d: Date = "2026-03-29".parse().unwrap(); // the spring change: 23 hours
        let (day, mtd, days) = windows(d, &tz).unwrap();
        assert_eq!(day.to - day.from, 23 * 3_600_000);
        assert_eq!(nines_core::clock::rfc3339(mtd.from), "2026-02-28T23:00:00.000Z");
        assert_eq!(days.len(), 29);
        assert_eq!(days.last().unwrap().1, day);
        let now = nines_core::clock::parse_rfc3339("2026-11-20T23:30:00Z").unwrap();
        assert_eq!(yesterday(now, &tz).to_string(), "2026-11-20");
        assert_eq!(yesterday(now, &TimeZone::UTC).to_string(), "2026-11-19");
    }

    #[test]
    fn organization_names_stay_inside_the_reports_dir() {
        let d = Path::new("/r");
        assert_eq!(org_dir(d, "acme").unwrap(), Path::new("/r/acme"));
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(org_dir(d, bad).is_err(), "{bad}");
        }
    }
}
