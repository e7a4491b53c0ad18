//! The PDF: a cover page with the summary of every organization and the SLA
//! tiers, then per organization its figures, the daily chart and the tables.
//! Laid out by [`layout`] first, drawn with krilla afterwards; text is real
//! text in the embedded DejaVu Sans (subset by krilla), so it can be searched
//! and extracted.

mod fonts;
mod layout;

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla_svg::{SurfaceExt, SvgSettings};
use nines_core::clock::Millis;
use nines_core::slo::{Condition, tier};
use nines_core::{Criticality, StorageLevel};

use self::fonts::Fonts;
use self::layout::{AMBER, BLACK, CONTENT_W, GREEN, GREY, MARGIN_X, PAGE_H, PAGE_W, RED};
use self::layout::{Cell, Layout, Op, Rgb, col, num};
use crate::chart::{availability_chart_svg, percent_label};
use crate::document::{DayAndMonth, OrganizationReport, ReportDocument};
use crate::{Error, Result};

const CHART_H: f32 = 190.0;

/// Renders the report as an A4 PDF.
pub fn render_pdf(doc: &ReportDocument) -> Result<Vec<u8>> {
    let fonts = Fonts::load().ok_or_else(|| Error::Pdf("embedded font does not parse".into()))?;
    let fmt = Formatter::new(&doc.period.time_zone);
    let mut l = Layout::new(&fonts);
    cover(&mut l, doc, &fmt);
    for org in &doc.organizations {
        organization(&mut l, org, &fmt);
    }
    draw(doc, &l)
}

/// Times in the report's zone; UTC when the zone is unknown (then labelled).
struct Formatter {
    tz: TimeZone,
    label: String,
}

impl Formatter {
    fn new(name: &str) -> Formatter {
        match TimeZone::get(name) {
            Ok(tz) => Formatter { tz, label: name.to_string() },
            Err(_) => Formatter { tz: TimeZone::UTC, label: format!("UTC (unknown zone {name:?})") },
        }
    }

    fn time(&self, ms: Millis) -> String {
        match Timestamp::from_millisecond(ms) {
            Ok(t) => t.to_zoned(self.tz.clone()).strftime("%Y-%m-%d %H:%M").to_string(),
            Err(_) => "invalid".into(),
        }
    }

    fn date(&self, ms: Millis) -> String {
        match Timestamp::from_millisecond(ms) {
            Ok(t) => t.to_zoned(self.tz.clone()).strftime("%Y-%m-%d").to_string(),
            Err(_) => "invalid".into(),
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "no data".into(), |v| format!("{v:.3} %"))
}

fn met(m: Option<bool>) -> Cell {
    match m {
        Some(true) => Cell::colored("met", GREEN),
        Some(false) => Cell { text: "NOT MET".into(), color: RED, bold: true },
        None => Cell::colored("no data", GREY),
    }
}

fn avail_cell(v: Option<f64>, target: f64) -> Cell {
    match v {
        Some(a) if a < target => Cell::colored(pct(v), RED),
        Some(_) => Cell::from(pct(v)),
        None => Cell::colored(pct(v), GREY),
    }
}

fn duration(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let sign = if seconds < 0 { "-" } else { "" };
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sign}{sec}s"),
        (0, 0, _) => format!("{sign}{m}m {sec}s"),
        (0, _, _) => format!("{sign}{h}h {m}m"),
        _ => format!("{sign}{d}d {h}h {m}m"),
    }
}

fn bytes(b: Option<u64>) -> String {
    match b {
        None => "-".into(),
        Some(b) => {
            const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
            let mut v = b as f64;
            let mut u = 0;
            while v >= 1024.0 && u < UNITS.len() - 1 {
                v /= 1024.0;
                u += 1;
            }
            if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
        }
    }
}

fn condition(c: Condition) -> &'static str {
    match c {
        Condition::SloWarning => "SLO_WARNING",
        Condition::SloBreach => "SLO_BREACH",
        Condition::SlaBreach => "SLA_BREACH",
    }
}

fn cover(l: &mut Layout, doc: &ReportDocument, fmt: &Formatter) {
    l.set_running_title("Summary");
    l.new_page();
    l.heading("SLA Report", 24.0, 0.0);
    l.heading(&format!("Report date {}", doc.report_date), 14.0, 0.0);
    l.space(6.0);
    let day = match doc.period.partial_until {
        Some(until) => {
            format!("Day: {} so far (partial day, until {})", fmt.time(doc.period.day.start), fmt.time(until))
        }
        None => format!("Day: {} to {}", fmt.time(doc.period.day.start), fmt.time(doc.period.day.end)),
    };
    let lines = [
        format!("Time zone: {}", fmt.label),
        day,
        format!(
            "Month to date: {} to {}",
            fmt.time(doc.period.month_to_date.start),
            fmt.time(doc.period.month_to_date.end)
        ),
        format!("Generated: {} ({})", fmt.time(doc.generated_at), nines_core::clock::rfc3339(doc.generated_at)),
        format!("Schema version: {}", doc.schema_version),
    ];
    for line in &lines {
        l.paragraph(line, 10.0, BLACK);
    }
    l.space(14.0);
    let rows = doc.organizations.iter().map(|o| {
        let t = o.overall.sla_target;
        vec![
            Cell { text: o.name.clone(), color: BLACK, bold: true },
            Cell::from(percent_label(t)),
            avail_cell(o.overall.availability.day, t),
            met(o.overall.sla_met.day),
            avail_cell(o.overall.availability.month_to_date, t),
            met(o.overall.sla_met.month_to_date),
            Cell::from(o.services.len().to_string()),
            Cell::from(o.downtimes.len().to_string()),
        ]
    });
    l.table(
        "Organizations",
        &[
            col("Organization", 3.0),
            num("SLA target", 1.3),
            num("Day", 1.4),
            col("SLA (day)", 1.1),
            num("Month to date", 1.4),
            col("SLA (month)", 1.1),
            num("Services", 1.1),
            num("Downtimes", 1.3),
        ],
        rows,
    );
    let tiers = Criticality::ALL.into_iter().map(|c| {
        let t = tier(c);
        vec![
            Cell::from(format!("Tier {}", t.tier)),
            Cell::from(t.criticality.as_str()),
            Cell::from(percent_label(t.uptime_target)),
            Cell::from(duration(t.response_minutes as i64 * 60)),
            Cell::from(duration(t.resolution_minutes as i64 * 60)),
        ]
    });
    l.table(
        "SLA tiers",
        &[
            col("Tier", 1.0),
            col("Criticality", 1.2),
            num("Uptime target", 1.2),
            num("Response", 1.0),
            num("Resolution", 1.0),
        ],
        tiers,
    );
    l.paragraph(
        "Availability is the share of counted time a service was OPERATIONAL or DEGRADED; time in maintenance \
         windows and in downtimes excluded from the SLA does not count. Organization figures are weighted by \
         criticality (tier 1 counts 8x, tier 2 4x, tier 3 2x, tier 4 1x).",
        8.5,
        GREY,
    );
}

fn organization(l: &mut Layout, org: &OrganizationReport, fmt: &Formatter) {
    l.set_running_title(&format!("Organization {}", org.name));
    l.new_page();
    l.heading(&format!("Organization {}", org.name), 18.0, 0.0);
    let o = &org.overall;
    let windows = [
        ("Day", o.availability.day, o.sla_met.day),
        ("Month to date", o.availability.month_to_date, o.sla_met.month_to_date),
    ];
    l.table(
        "Overall availability",
        &[col("Window", 2.0), num("Availability", 1.5), num("SLA target", 1.5), col("SLA", 1.5)],
        windows.into_iter().map(|(w, a, m)| {
            vec![Cell::from(w), avail_cell(a, o.sla_target), Cell::from(percent_label(o.sla_target)), met(m)]
        }),
    );

    l.heading("Daily availability this month", 11.0, CHART_H);
    l.svg(
        availability_chart_svg(&org.chart_series(), o.sla_target, CONTENT_W as u32, CHART_H as u32),
        CONTENT_W,
        CHART_H,
    );
    l.space(12.0);

    let names: HashMap<i64, &str> = org.services.iter().map(|s| (s.id, s.name.as_str())).collect();
    l.table(
        "SLA groups",
        &[
            col("Group", 1.6),
            col("Mode", 0.7),
            num("SLA", 0.8),
            num("Day", 1.1),
            num("Month to date", 1.1),
            col("SLA (month)", 0.8),
            col("Members", 3.0),
        ],
        org.sla_groups.iter().map(|g| {
            let members: Vec<String> =
                g.members.iter().map(|id| names.get(id).map_or_else(|| format!("#{id}"), |n| n.to_string())).collect();
            vec![
                Cell { text: g.name.clone(), color: BLACK, bold: true },
                Cell::from(g.mode.as_str()),
                Cell::from(percent_label(g.sla_target)),
                avail_cell(g.availability.day, g.sla_target),
                avail_cell(g.availability.month_to_date, g.sla_target),
                met(g.sla_met.month_to_date),
                Cell::from(members.join(", ")),
            ]
        }),
    );

    l.table(
        "Services",
        &[
            col("Service", 2.1),
            col("Node", 1.9),
            col("Tier", 0.95),
            num("SLO / SLA", 0.95),
            num("Day", 1.2),
            num("Month to date", 1.2),
            num("Down min day / month", 1.0),
            num("Budget left", 1.1),
            col("Conditions", 1.4),
        ],
        org.services.iter().map(|s| {
            let DayAndMonth { day, month_to_date } = s.downtime_minutes;
            let b = &s.error_budget;
            let budget_color = if b.remaining_percent <= 0.0 {
                RED
            } else if b.remaining_percent < 50.0 {
                AMBER
            } else {
                BLACK
            };
            let conditions: Vec<&str> = s.conditions.iter().map(|c| condition(*c)).collect();
            vec![
                Cell { text: s.name.clone(), color: BLACK, bold: true },
                Cell::colored(s.node_id.as_str(), GREY),
                Cell::from(format!("{}\n{}", s.tier, s.criticality)),
                Cell::from(format!("{}\n{}", percent_label(s.slo_target), percent_label(s.sla_target))),
                avail_cell(s.availability.day, s.sla_target),
                avail_cell(s.availability.month_to_date, s.sla_target),
                Cell::from(format!("{day:.1}\n{month_to_date:.1}")),
                Cell::colored(
                    format!("{:.1} %\n{}", b.remaining_percent, duration(b.remaining_seconds.round() as i64)),
                    budget_color,
                ),
                if conditions.is_empty() {
                    Cell::colored("none", GREY)
                } else {
                    Cell::colored(conditions.join("\n"), RED)
                },
            ]
        }),
    );

    l.table(
        "Downtimes",
        &[
            col("Title", 2.2),
            col("Services", 2.0),
            col("Start", 1.3),
            col("End", 1.3),
            num("Duration", 1.0),
            col("Severity", 0.9),
            col("Counts towards SLA", 1.8),
        ],
        org.downtimes.iter().map(|d| {
            let severity_color = match d.severity.as_str() {
                "critical" => RED,
                "major" => AMBER,
                _ => BLACK,
            };
            vec![
                Cell { text: d.title.clone(), color: BLACK, bold: true },
                Cell::from(d.services.join(", ")),
                Cell::from(fmt.time(d.start)),
                Cell::from(d.end.map_or_else(|| "ongoing".into(), |e| fmt.time(e))),
                Cell::from(duration(d.duration_seconds)),
                Cell::colored(d.severity.as_str(), severity_color),
                if d.counts_towards_sla {
                    Cell::from("yes")
                } else {
                    Cell::colored(format!("no: {}", d.excluded_reason.as_deref().unwrap_or("no reason given")), GREY)
                },
            ]
        }),
    );

    l.table(
        "Maintenance windows",
        &[col("Title", 2.2), col("Start", 1.3), col("End", 1.3), num("Duration", 1.0), col("Services", 3.0)],
        org.maintenance_windows.iter().map(|m| {
            vec![
                Cell { text: m.title.clone(), color: BLACK, bold: true },
                Cell::from(fmt.time(m.start)),
                Cell::from(fmt.time(m.end)),
                Cell::from(duration((m.end - m.start) / 1000)),
                Cell::from(m.services.join(", ")),
            ]
        }),
    );

    l.table(
        "Backups overdue",
        &[col("Service", 2.0), col("Node", 2.0), col("Last successful backup", 1.6), num("Max age", 1.0)],
        org.backups_overdue.iter().map(|b| {
            vec![
                Cell { text: b.service.clone(), color: BLACK, bold: true },
                Cell::colored(b.node_id.as_str(), GREY),
                b.last_backup_at.map_or_else(|| Cell::colored("never", RED), |t| Cell::from(fmt.time(t))),
                Cell::from(format!("{} d", b.max_age_days)),
            ]
        }),
    );

    l.table(
        "Storage critical",
        &[
            col("Service", 2.0),
            col("Node", 2.0),
            num("Free", 0.9),
            num("Used", 1.0),
            num("Allocated", 1.0),
            col("Level", 0.9),
        ],
        org.storage_critical.iter().map(|s| {
            let level = match s.level {
                StorageLevel::Critical => Cell::colored("critical", RED),
                StorageLevel::Warning => Cell::colored("warning", AMBER),
                StorageLevel::Healthy => Cell::colored("healthy", GREEN),
                StorageLevel::Unknown => Cell::colored("no data", GREY),
            };
            vec![
                Cell { text: s.service.clone(), color: BLACK, bold: true },
                Cell::colored(s.node_id.as_str(), GREY),
                Cell::from(format!("{:.1} %", s.free_percent)),
                Cell::from(bytes(s.used_bytes)),
                Cell::from(bytes(s.allocated_bytes)),
                level,
            ]
        }),
    );

    l.table(
        "Certificates expiring",
        &[col("Service", 2.0), col("Subject", 2.4), col("Not after", 1.4), num("Days left", 1.0)],
        org.certificates_expiring.iter().map(|c| {
            let days = if c.days_remaining < 0 {
                Cell { text: format!("expired ({})", c.days_remaining), color: RED, bold: true }
            } else {
                Cell::colored(c.days_remaining.to_string(), if c.days_remaining < 7 { RED } else { AMBER })
            };
            vec![
                Cell { text: c.service.clone(), color: BLACK, bold: true },
                Cell::from(c.subject.as_str()),
                Cell::from(fmt.date(c.not_after)),
                days,
            ]
        }),
    );

    if let Some(o) = &org.observability {
        observability(l, o, fmt);
    }
}

/// The accounting table: one row per figure, `no data` where a window was
/// not covered (never a zero in its place).
fn observability(l: &mut Layout, o: &crate::document::ObservabilityFigures, fmt: &Formatter) {
    let gap = || Cell::colored("no data", GREY);
    let int = |v: Option<i64>| v.map(|n| Cell::from(thousands(n))).unwrap_or_else(gap);
    let avg = |v: Option<f64>| v.map(|n| Cell::from(format!("{n:.1}"))).unwrap_or_else(gap);
    let cov = |c: Option<f64>| c.map(|c| Cell::from(format!("{:.1} %", c * 100.0))).unwrap_or_else(gap);
    let mut rows = Vec::new();
    if let (Some(n), Some(b)) = (&o.log_lines, &o.log_bytes) {
        rows.push(vec![
            Cell::from("Log lines"),
            Cell::colored("–", GREY),
            int(n.h1),
            int(n.h24),
            int(n.d30),
            cov(o.logs_coverage_30d),
        ]);
        let by = |v: Option<i64>| v.map(|n| Cell::from(bytes(Some(n.max(0) as u64)))).unwrap_or_else(gap);
        rows.push(vec![
            Cell::from("Log bytes (messages)"),
            Cell::colored("–", GREY),
            by(b.h1),
            by(b.h24),
            by(b.d30),
            cov(o.logs_coverage_30d),
        ]);
    }
    if let Some(a) = &o.active_series {
        rows.push(vec![
            Cell::from("Active series (average)"),
            int(a.current),
            avg(a.avg1h),
            avg(a.avg24h),
            avg(a.avg30d),
            cov(o.metrics_coverage_30d),
        ]);
    }
    l.table(
        &format!("Observability: logs and series (whole hours up to {})", fmt.time(o.windows_end)),
        &[
            col("Figure", 2.2),
            num("Now", 0.9),
            num("1 h", 1.0),
            num("24 h", 1.0),
            num("30 d", 1.1),
            num("30 d coverage", 1.1),
        ],
        rows,
    );
    if let Some(e) = &o.last_error {
        l.paragraph(&format!("Last accounting error: {e}"), 8.0, RED);
    }
}

fn thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn paint(c: Rgb) -> Fill {
    Fill { paint: rgb::Color::new(c.0, c.1, c.2).into(), ..Fill::default() }
}

fn draw(doc: &ReportDocument, l: &Layout) -> Result<Vec<u8>> {
    let regular = Font::new(fonts::REGULAR.into(), 0).ok_or_else(|| Error::Pdf("regular font".into()))?;
    let bold = Font::new(fonts::BOLD.into(), 0).ok_or_else(|| Error::Pdf("bold font".into()))?;
    let trees = svg_trees(&l.svgs)?;
    let mut document = Document::new();
    document.set_metadata(metadata(doc));
    let total = l.pages.len();
    let settings = || PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| Error::Pdf("page size".into()));
    let footer_left = format!("nines SLA report {} ({})", doc.report_date, doc.period.time_zone);
    for (i, p) in l.pages.iter().enumerate() {
        let mut page = document.start_page_with(settings()?);
        let mut surface = page.surface();
        let page_label = format!("Page {} of {}", i + 1, total);
        let chrome = [
            Op::Text { x: MARGIN_X, y: 36.0, size: 8.0, bold: false, color: GREY, text: p.running_title.clone() },
            Op::Line { x1: MARGIN_X, y1: 42.0, x2: PAGE_W - MARGIN_X, y2: 42.0, width: 0.5, color: GREY },
            Op::Line {
                x1: MARGIN_X,
                y1: PAGE_H - 40.0,
                x2: PAGE_W - MARGIN_X,
                y2: PAGE_H - 40.0,
                width: 0.5,
                color: GREY,
            },
            Op::Text { x: MARGIN_X, y: PAGE_H - 28.0, size: 8.0, bold: false, color: GREY, text: footer_left.clone() },
            Op::Text {
                x: PAGE_W - MARGIN_X - l.width(&page_label, 8.0, false),
                y: PAGE_H - 28.0,
                size: 8.0,
                bold: false,
                color: GREY,
                text: page_label,
            },
        ];
        for op in p.ops.iter().chain(chrome.iter()) {
            match op {
                Op::Text { x, y, size, bold: b, color, text } => {
                    surface.set_stroke(None);
                    surface.set_fill(Some(paint(*color)));
                    let font = if *b { bold.clone() } else { regular.clone() };
                    surface.draw_text(Point::from_xy(*x, *y), font, *size, text, false, TextDirection::Auto);
                }
                Op::Rect { x, y, w, h, color } => {
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        let mut pb = PathBuilder::new();
                        pb.push_rect(rect);
                        if let Some(path) = pb.finish() {
                            surface.set_stroke(None);
                            surface.set_fill(Some(paint(*color)));
                            surface.draw_path(&path);
                        }
                    }
                }
                Op::Line { x1, y1, x2, y2, width, color } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(color.0, color.1, color.2).into(),
                            width: *width,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
                Op::Svg { x, y, w, h, index } => {
                    if let (Some(tree), Some(size)) = (trees.get(*index), Size::from_wh(*w, *h)) {
                        surface.push_transform(&Transform::from_translate(*x, *y));
                        surface.draw_svg(tree, size, SvgSettings::default());
                        surface.pop();
                    }
                }
            }
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| Error::Pdf(e.to_string()))
}

fn svg_trees(svgs: &[String]) -> Result<Vec<usvg::Tree>> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(fonts::REGULAR.to_vec());
    db.load_font_data(fonts::BOLD.to_vec());
    db.set_sans_serif_family(fonts::FAMILY);
    let opt = usvg::Options { font_family: fonts::FAMILY.into(), fontdb: Arc::new(db), ..usvg::Options::default() };
    svgs.iter().map(|s| usvg::Tree::from_str(s, &opt).map_err(|e| Error::Svg(e.to_string()))).collect()
}

fn metadata(doc: &ReportDocument) -> Metadata {
    let mut m = Metadata::new()
        .title(format!("SLA report {}", doc.report_date))
        .creator("nines".into())
        .producer("nines-report (krilla)".into())
        .language("en".into());
    if let Ok(t) = Timestamp::from_millisecond(doc.generated_at) {
        let z = t.to_zoned(TimeZone::UTC);
        let dt = DateTime::new(z.year() as u16)
            .month(z.month() as u8)
            .day(z.day() as u8)
            .hour(z.hour() as u8)
            .minute(z.minute() as u8)
            .second(z.second() as u8)
            .utc_offset_hour(0);
        m = m.creation_date(dt);
    }
    m
}
