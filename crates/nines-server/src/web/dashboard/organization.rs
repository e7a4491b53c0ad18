//! An organization's page: its SLA figure and observability accounting in
//! the header (30 days), the log and series bar charts per day, and each
//! window with how much of it the backends answered. Every figure is the
//! API's (`/api/v1/organizations/{org}/observability`, `/slo`).

use axum::extract::{Path, State};
use std::fmt::Write;
use std::time::Instant;

use super::chart::{Bar, bar_chart_svg, compact};
use super::widgets::{bytes, label, percent, time};
use super::{Head, Nav, Page, UiCaller, html, layout};
use crate::AppState;
use crate::api::observability as obs_api;
use crate::observability::{Coverage, ObservabilityView};
use crate::web::html::esc;

const LOGS: &str = "#1565c0";
const SERIES: &str = "#6a1b9a";

fn count(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_else(|| "no data".into())
}

fn size(v: Option<i64>) -> String {
    v.map(|n| bytes(n.max(0) as u64)).unwrap_or_else(|| "no data".into())
}

fn avg(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "no data".into())
}

fn cov(c: Option<&Coverage>) -> String {
    match c {
        None => "off".into(),
        Some(c) => format!("{:.1} % ({} of {})", c.ratio * 100.0, c.covered, c.expected),
    }
}

pub async fn organization(State(s): State<AppState>, ui: UiCaller, Path(org): Path<String>) -> Page {
    let t0 = Instant::now();
    let v: ObservabilityView = obs_api::organization(State(s.clone()), ui.caller.clone(), Path(org.clone())).await?.0;
    // its SLA over the default window; an organization known only by its
    // label override has no services, hence no figure
    let sla =
        crate::api::slo::org_slo(State(s.clone()), ui.caller.clone(), Path(org.clone()), axum::extract::RawQuery(None))
            .await
            .ok()
            .map(|r| r.0);
    let mut b = String::with_capacity(16 * 1024);
    let _ = write!(b, r#"<h1>Organization {}</h1>"#, esc(&org));
    let logs = v.logs.as_ref();
    let series = v.metrics.as_ref().map(|m| &m.active_series);
    let _ = write!(
        b,
        r#"<ul class="tiles" aria-label="The last 30 days"><li class="tile"><span class="big" data-figure="availability">{}</span> availability ({})</li><li class="tile"><span class="big" data-figure="logLines30d">{}</span> log lines, 30 d</li><li class="tile"><span class="big" data-figure="logBytes30d">{}</span> log bytes (messages), 30 d</li><li class="tile"><span class="big" data-figure="avgSeries30d">{}</span> active series, 30-day average</li></ul>"#,
        sla.as_ref().map(|r| percent(r.availability)).unwrap_or_else(|| "no data".into()),
        sla.as_ref().map(|r| esc(&r.window.label).to_string()).unwrap_or_else(|| "no services".into()),
        logs.map(|l| count(l.lines.w30d)).unwrap_or_else(|| "off".into()),
        logs.map(|l| size(l.bytes.w30d)).unwrap_or_else(|| "off".into()),
        series.map(|a| avg(a.avg30d)).unwrap_or_else(|| "off".into()),
    );
    // where the figures come from, and whether the last run failed
    b.push_str(r#"<p class="hint">"#);
    let _ = write!(
        b,
        "Logs from VictoriaLogs (label value <code>{}</code>), series from VictoriaMetrics (label value <code>{}</code>); windows are whole closed UTC hours up to {}. ",
        esc(&v.label_values.logs),
        esc(&v.label_values.metrics),
        time(&v.windows.w1h.to)
    );
    match &v.updated_at {
        Some(t) => {
            let _ = write!(b, "Last sampled {}.", time(t));
        }
        None => b.push_str("Not sampled yet."),
    }
    b.push_str("</p>");
    if let Some(e) = &v.last_error {
        let _ = write!(b, r#"<p role="alert">{} {}</p>"#, label("bad", "✖", "accounting failing"), esc(e));
    }
    if !v.backends.logs.enabled && !v.backends.metrics.enabled {
        b.push_str(r#"<p class="empty">Accounting is off: set <code>VICTORIALOGS_URL</code> and <code>VICTORIAMETRICS_URL</code> in SystemConfig.</p>"#);
    }

    let tip_gap = |d: &str| format!("{d}: no data (not sampled)");
    if logs.is_some() {
        b.push_str("<h2>Log ingestion per day</h2>");
        let lines: Vec<Bar> = v
            .daily
            .iter()
            .map(|p| Bar {
                label: p.date.clone(),
                value: p.log_lines.map(|n| n as f64),
                tip: match p.log_lines {
                    Some(n) => format!("{}: {n} lines ({:.0} % of its hours sampled)", p.date, p.logs_coverage * 100.0),
                    None => tip_gap(&p.date),
                },
            })
            .collect();
        let by: Vec<Bar> = v
            .daily
            .iter()
            .map(|p| Bar {
                label: p.date.clone(),
                value: p.log_bytes.map(|n| n as f64),
                tip: match p.log_bytes {
                    Some(n) => format!("{}: {} of messages", p.date, bytes(n.max(0) as u64)),
                    None => tip_gap(&p.date),
                },
            })
            .collect();
        let _ = write!(
            b,
            r#"<figure class="chart" id="chart-log-lines">{}</figure><figure class="chart" id="chart-log-bytes">{}</figure>"#,
            bar_chart_svg("Log lines per day", &lines, LOGS, 720, 170),
            bar_chart_svg("Log message bytes per day", &by, LOGS, 720, 170)
        );
    }
    if series.is_some() {
        b.push_str("<h2>Active series per day</h2>");
        let bars: Vec<Bar> = v
            .daily
            .iter()
            .map(|p| Bar {
                label: p.date.clone(),
                value: p.avg_active_series,
                tip: match p.avg_active_series {
                    Some(a) => {
                        format!("{}: {} on average ({:.0} % sampled)", p.date, compact(a), p.metrics_coverage * 100.0)
                    }
                    None => tip_gap(&p.date),
                },
            })
            .collect();
        let _ = write!(
            b,
            r#"<figure class="chart" id="chart-series">{}</figure>"#,
            bar_chart_svg("Average active series per day", &bars, SERIES, 720, 170)
        );
    }

    b.push_str(r#"<h2>Windows</h2><table><caption>Sums (logs) and averages (series) over whole closed hours, with how much of each window was sampled</caption><thead><tr><th scope="col">Window</th><th scope="col">Log lines</th><th scope="col">Log bytes</th><th scope="col">Logs sampled</th><th scope="col">Active series</th><th scope="col">Series sampled</th></tr></thead><tbody>"#);
    let (lc, mc) = (v.coverage.logs.as_ref(), v.coverage.metrics.as_ref());
    let rows = [
        (
            "1 h",
            logs.map(|l| (l.lines.w1h, l.bytes.w1h)),
            series.map(|a| a.avg1h),
            lc.map(|c| &c.w1h),
            mc.map(|c| &c.w1h),
        ),
        (
            "24 h",
            logs.map(|l| (l.lines.w24h, l.bytes.w24h)),
            series.map(|a| a.avg24h),
            lc.map(|c| &c.w24h),
            mc.map(|c| &c.w24h),
        ),
        (
            "30 d",
            logs.map(|l| (l.lines.w30d, l.bytes.w30d)),
            series.map(|a| a.avg30d),
            lc.map(|c| &c.w30d),
            mc.map(|c| &c.w30d),
        ),
    ];
    for (name, l, a, lcw, mcw) in rows {
        let _ = write!(
            b,
            "<tr><th scope=\"row\">{name}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.map(|(n, _)| count(n)).unwrap_or_else(|| "off".into()),
            l.map(|(_, x)| size(x)).unwrap_or_else(|| "off".into()),
            cov(lcw),
            a.map(avg).unwrap_or_else(|| "off".into()),
            cov(mcw),
        );
    }
    let _ = write!(
        b,
        "<tr><th scope=\"row\">now</th><td>–</td><td>–</td><td>–</td><td>{}</td><td>{}</td></tr></tbody></table>",
        series.map(|a| count(a.current)).unwrap_or_else(|| "off".into()),
        series
            .and_then(|a| a.current_at.as_deref())
            .map(|t| format!("sample of {}", time(t)))
            .unwrap_or_else(|| "–".into())
    );
    let title = format!("Organization {org}");
    let head = Head { title: &title, nav: Nav::Tree, caller: Some(&ui), live_after: None };
    Ok(html(layout(&head, &b), t0))
}
