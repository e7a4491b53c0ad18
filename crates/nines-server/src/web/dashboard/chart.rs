//! The response-time chart of a check as hand-written SVG, drawn on the
//! server like `nines_report::availability_chart_svg` (same font stack, no
//! script, presentation attributes only, so it also renders through usvg).

use std::fmt::Write;

use crate::web::html::esc;

const LINE: &str = "#1565c0";
const FIRST_BYTE: &str = "#6a1b9a";
const BAD: &str = "#c62828";
const AXIS: &str = "#424242";
const GRID: &str = "#e0e0e0";

/// One probe run.
#[derive(Debug, Clone)]
pub struct RtPoint {
    /// Shown in the tooltip (a time).
    pub label: String,
    pub total_ms: f64,
    pub first_byte_ms: Option<f64>,
    /// False for a failed run: marked with a red cross.
    pub up: bool,
}

/// A round axis maximum at or above `v`.
fn nice_max(v: f64) -> f64 {
    let v = v.max(1.0);
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|m| *m >= v).unwrap_or(10.0 * mag)
}

/// Total time (line) and time to first byte (dashed) of runs, oldest first;
/// failed runs get a red cross. The y axis starts at 0 ms.
pub fn response_time_chart_svg(points: &[RtPoint], width: u32, height: u32) -> String {
    let (w, h) = (width.max(160) as f64, height.max(90) as f64);
    let (left, right, top, bottom) = (52.0, 12.0, 22.0, 22.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let max = nice_max(points.iter().map(|p| p.total_ms).fold(0.0, f64::max));
    let y_of = |v: f64| top + ph * (1.0 - (v.clamp(0.0, max) / max));
    let n = points.len();
    let x_of = |i: usize| if n <= 1 { left + pw / 2.0 } else { left + pw * i as f64 / (n - 1) as f64 };
    let mut sorted: Vec<f64> = points.iter().map(|p| p.total_ms).collect();
    sorted.sort_by(f64::total_cmp);
    let summary = if n == 0 {
        "Response time: no runs recorded yet".to_string()
    } else {
        format!(
            "Response time of the last {n} runs: median {:.0} ms, slowest {:.0} ms, {} failed",
            sorted[n / 2],
            sorted[n - 1],
            points.iter().filter(|p| !p.up).count()
        )
    };
    let mut s = String::with_capacity(2048 + n * 160);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}" font-family="{}" font-size="9">"#,
        esc(&summary),
        nines_report::chart::FONT_FAMILY
    );
    let _ = write!(s, r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(s, r#"<text x="{left}" y="13" font-size="10" fill="{AXIS}">Response time (ms)</text>"#);
    let _ = write!(
        s,
        r#"<line x1="{a:.2}" y1="10" x2="{b:.2}" y2="10" stroke="{LINE}" stroke-width="1.5"/><text x="{c:.2}" y="13" fill="{AXIS}">total</text><line x1="{d:.2}" y1="10" x2="{e:.2}" y2="10" stroke="{FIRST_BYTE}" stroke-width="1.2" stroke-dasharray="3 2"/><text x="{f:.2}" y="13" fill="{AXIS}">first byte</text>"#,
        a = w - right - 150.0,
        b = w - right - 132.0,
        c = w - right - 128.0,
        d = w - right - 92.0,
        e = w - right - 74.0,
        f = w - right - 70.0,
    );
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{y:.2}" x2="{x2:.2}" y2="{y:.2}" stroke="{GRID}" stroke-width="0.5"/><text x="{tx:.2}" y="{ty:.2}" text-anchor="end" fill="{AXIS}">{v:.0}</text>"#,
            x2 = left + pw,
            tx = left - 4.0,
            ty = y + 3.0,
        );
    }
    let base = top + ph;
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/><line x1="{left}" y1="{base}" x2="{x2}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/>"#,
        x2 = left + pw
    );
    if n == 0 {
        let _ = write!(
            s,
            r#"<text x="{:.2}" y="{:.2}" text-anchor="middle" fill="{AXIS}">no runs recorded yet</text></svg>"#,
            left + pw / 2.0,
            top + ph / 2.0
        );
        return s;
    }
    let poly = |f: &dyn Fn(&RtPoint) -> Option<f64>| {
        let mut p = String::new();
        for (i, pt) in points.iter().enumerate() {
            if let Some(v) = f(pt) {
                let _ = write!(p, "{:.2},{:.2} ", x_of(i), y_of(v));
            }
        }
        p
    };
    let fb = poly(&|p| p.first_byte_ms);
    if !fb.is_empty() {
        let _ = write!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{FIRST_BYTE}" stroke-width="1" stroke-dasharray="3 2"/>"#,
            fb.trim_end()
        );
    }
    let _ = write!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{LINE}" stroke-width="1.5"/>"#,
        poly(&|p| Some(p.total_ms)).trim_end()
    );
    for (i, p) in points.iter().enumerate() {
        let (x, y) = (x_of(i), y_of(p.total_ms));
        let tip = format!("{}: {:.1} ms{}", p.label, p.total_ms, if p.up { "" } else { ", failed" });
        if p.up {
            let _ = write!(
                s,
                r#"<circle cx="{x:.2}" cy="{y:.2}" r="2" fill="{LINE}"><title>{}</title></circle>"#,
                esc(&tip)
            );
        } else {
            let _ = write!(
                s,
                r#"<g stroke="{BAD}" stroke-width="1.8"><title>{}</title><line x1="{a:.2}" y1="{b:.2}" x2="{c:.2}" y2="{d:.2}"/><line x1="{a:.2}" y1="{d:.2}" x2="{c:.2}" y2="{b:.2}"/></g>"#,
                esc(&tip),
                a = x - 3.5,
                b = y - 3.5,
                c = x + 3.5,
                d = y + 3.5
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="{left}" y="{:.2}" fill="{AXIS}">oldest</text><text x="{:.2}" y="{:.2}" text-anchor="end" fill="{AXIS}">newest</text></svg>"#,
        h - 6.0,
        left + pw,
        h - 6.0
    );
    s
}

/// One bar: its day, its value (`None`: the day was not covered, drawn as
/// a grey "no data" mark, never as a zero bar) and its tooltip text.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub tip: String,
}

/// A bar chart of days, oldest first, with a y axis from 0 and a title.
pub fn bar_chart_svg(title: &str, bars: &[Bar], color: &str, width: u32, height: u32) -> String {
    let (w, h) = (width.max(200) as f64, height.max(100) as f64);
    let (left, right, top, bottom) = (60.0, 10.0, 22.0, 24.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let max = nice_max(bars.iter().filter_map(|b| b.value).fold(0.0, f64::max));
    let y_of = |v: f64| top + ph * (1.0 - (v.clamp(0.0, max) / max));
    let n = bars.len().max(1);
    let slot = pw / n as f64;
    let gaps = bars.iter().filter(|b| b.value.is_none()).count();
    let summary = format!(
        "{title}: {} days{}",
        bars.len(),
        if gaps > 0 { format!(", {gaps} without data") } else { String::new() }
    );
    let mut s = String::with_capacity(1024 + bars.len() * 200);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}" font-family="{}" font-size="9">"#,
        esc(&summary),
        nines_report::chart::FONT_FAMILY
    );
    let _ = write!(s, r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(s, r#"<text x="{left}" y="13" font-size="10" fill="{AXIS}">{}</text>"#, esc(title));
    for i in 0..=4 {
        let v = max * i as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{y:.2}" x2="{x2:.2}" y2="{y:.2}" stroke="{GRID}" stroke-width="0.5"/><text x="{tx:.2}" y="{ty:.2}" text-anchor="end" fill="{AXIS}">{}</text>"#,
            compact(v),
            x2 = left + pw,
            tx = left - 4.0,
            ty = y + 3.0,
        );
    }
    let base = top + ph;
    for (i, b) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.15;
        let bw = (slot * 0.7).max(1.0);
        match b.value {
            Some(v) => {
                let y = y_of(v);
                let _ = write!(
                    s,
                    r#"<rect class="bar" x="{x:.2}" y="{y:.2}" width="{bw:.2}" height="{:.2}" fill="{color}"><title>{}</title></rect>"#,
                    (base - y).max(0.0),
                    esc(&b.tip)
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<rect class="gap" x="{x:.2}" y="{:.2}" width="{bw:.2}" height="{:.2}" fill="none" stroke="{GRID}" stroke-dasharray="2 2"><title>{}</title></rect>"#,
                    top,
                    ph,
                    esc(&b.tip)
                );
            }
        }
    }
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/><line x1="{left}" y1="{base}" x2="{x2}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/>"#,
        x2 = left + pw
    );
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            s,
            r#"<text x="{left}" y="{y:.2}" fill="{AXIS}">{}</text><text x="{x:.2}" y="{y:.2}" text-anchor="end" fill="{AXIS}">{}</text>"#,
            esc(&first.label),
            esc(&last.label),
            y = h - 8.0,
            x = left + pw,
        );
    }
    s.push_str("</svg>");
    s
}

/// 1234567 → "1.2M": axis labels.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_gaps() {
        let bars = vec![
            Bar { label: "2026-12-01".into(), value: Some(120.0), tip: "a<b".into() },
            Bar { label: "2026-12-02".into(), value: None, tip: "no data".into() },
            Bar { label: "2026-12-03".into(), value: Some(0.0), tip: "zero".into() },
        ];
        let svg = bar_chart_svg("Log lines per day", &bars, "#1565c0", 600, 160);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert_eq!(svg.matches(r#"class="gap""#).count(), 1);
        assert!(svg.contains("1 without data") && svg.contains("a&lt;b"), "{svg}");
        assert!(svg.contains(">200</text>"), "axis rounded up: {svg}");
        assert_eq!(compact(1_234_567.0), "1.2M");
        assert_eq!(compact(12_345.0), "12k");
    }

    fn pt(ms: f64, up: bool) -> RtPoint {
        RtPoint { label: "t<1>".into(), total_ms: ms, first_byte_ms: Some(ms / 2.0), up }
    }

    #[test]
    fn draws_runs_marks_failures_and_escapes_labels() {
        let svg = response_time_chart_svg(&[pt(12.0, true), pt(340.0, false), pt(20.0, true)], 600, 180);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("1 failed") && svg.contains("t&lt;1&gt;: 340.0 ms, failed"), "{svg}");
        assert!(!svg.contains("t<1>"));
        // the axis is rounded up above the slowest run
        assert!(svg.contains(">500</text>"), "{svg}");
    }

    #[test]
    fn empty_series_says_so() {
        let svg = response_time_chart_svg(&[], 300, 100);
        assert!(svg.contains("no runs recorded yet"));
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(101.0), 200.0);
    }
}
