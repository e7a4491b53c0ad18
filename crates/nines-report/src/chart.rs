//! The daily availability chart as hand-written SVG, shared by the PDF and
//! the dashboard: no scripts, no external fonts or stylesheets, only
//! attributes usvg and browsers both understand.

use std::fmt::Write;

const GOOD: &str = "#2e7d32";
const BAD: &str = "#c62828";
const NO_DATA: &str = "#9e9e9e";
const AXIS: &str = "#424242";
const GRID: &str = "#e0e0e0";
const TARGET: &str = "#1565c0";
/// Font stack: the PDF registers DejaVu Sans; browsers fall back.
pub const FONT_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";

/// Bars of daily availability in percent against the `target` line.
///
/// `series` holds `(label, availability)` per day; a label that is an ISO
/// date (`2026-11-05`) is shown as the day of the month. Days without data
/// get a grey marker. The y axis starts at a round value below the lowest
/// figure and the target, so 99.9 and 99.99 stay distinguishable.
pub fn availability_chart_svg(series: &[(String, Option<f64>)], target: f64, width: u32, height: u32) -> String {
    let (w, h) = (width.max(120) as f64, height.max(80) as f64);
    let (left, right, top, bottom) = (52.0, 12.0, 22.0, 28.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let lo = axis_floor(series.iter().filter_map(|(_, v)| *v).chain([target]).fold(100.0, f64::min));
    let y_of = |v: f64| top + plot_h * (1.0 - ((v.clamp(lo, 100.0) - lo) / (100.0 - lo)));

    let mut s = String::with_capacity(4096 + series.len() * 256);
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="Daily availability against the SLA target of {t}" font-family="{FONT_FAMILY}" font-size="9">"#,
        t = percent_label(target),
    );
    let _ = write!(s, r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(s, r#"<text x="{left}" y="13" font-size="10" fill="{AXIS}">Daily availability (%)</text>"#);

    // y axis: five ticks from the floor to 100 %
    for i in 0..=4 {
        let v = lo + (100.0 - lo) * i as f64 / 4.0;
        let y = y_of(v);
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{y:.2}" x2="{x2:.2}" y2="{y:.2}" stroke="{GRID}" stroke-width="0.5"/><text x="{tx:.2}" y="{ty:.2}" text-anchor="end" fill="{AXIS}">{label}</text>"#,
            x2 = left + plot_w,
            tx = left - 4.0,
            ty = y + 3.0,
            label = axis_label(v, lo),
        );
    }

    // bars
    let n = series.len().max(1) as f64;
    let slot = plot_w / n;
    let bar_w = (slot * 0.7).max(1.0);
    let base = top + plot_h;
    let label_every = ((series.len() as f64 * 14.0 / plot_w).ceil() as usize).max(1);
    for (i, (label, value)) in series.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar_w) / 2.0;
        match value {
            Some(v) => {
                let y = y_of(*v).min(base - 1.0);
                let fill = if *v >= target { GOOD } else { BAD };
                let _ = write!(
                    s,
                    r#"<rect x="{x:.2}" y="{y:.2}" width="{bar_w:.2}" height="{bh:.2}" fill="{fill}"><title>{t}: {p}</title></rect>"#,
                    bh = base - y,
                    t = xml_escape(label),
                    p = percent_label(*v),
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<rect x="{x:.2}" y="{y:.2}" width="{bar_w:.2}" height="2" fill="{NO_DATA}"><title>{t}: no data</title></rect>"#,
                    y = base - 2.0,
                    t = xml_escape(label),
                );
            }
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r#"<text x="{cx:.2}" y="{ty:.2}" text-anchor="middle" fill="{AXIS}">{l}</text>"#,
                cx = x + bar_w / 2.0,
                ty = base + 12.0,
                l = xml_escape(short_label(label)),
            );
        }
    }

    // axes and target
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/><line x1="{left}" y1="{base}" x2="{x2}" y2="{base}" stroke="{AXIS}" stroke-width="0.8"/>"#,
        x2 = left + plot_w,
    );
    // the target line, and its legend above the plot where no bar reaches
    let ty = y_of(target);
    let x2 = left + plot_w;
    let label = format!("SLA target {}", percent_label(target));
    let lx = x2 - 6.0 * label.len() as f64;
    let _ = write!(
        s,
        r#"<line x1="{left}" y1="{ty:.2}" x2="{x2:.2}" y2="{ty:.2}" stroke="{TARGET}" stroke-width="1.2" stroke-dasharray="4 3"/><line x1="{l1:.2}" y1="10" x2="{l2:.2}" y2="10" stroke="{TARGET}" stroke-width="1.2" stroke-dasharray="4 3"/><text x="{x2:.2}" y="13" text-anchor="end" fill="{TARGET}">{label}</text>"#,
        l1 = lx - 26.0,
        l2 = lx - 4.0,
    );
    let _ = write!(
        s,
        r#"<text x="{cx:.2}" y="{y:.2}" text-anchor="middle" fill="{AXIS}">Day of month</text>"#,
        cx = left + plot_w / 2.0,
        y = h - 3.0,
    );
    s.push_str("</svg>");
    s
}

/// A round value below `min` so the interesting range fills the plot.
fn axis_floor(min: f64) -> f64 {
    const FLOORS: [f64; 9] = [99.9, 99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0, 0.0];
    FLOORS.into_iter().find(|f| *f < min).unwrap_or(0.0)
}

fn axis_label(v: f64, lo: f64) -> String {
    let decimals = if lo >= 99.9 {
        3
    } else if lo >= 99.0 {
        2
    } else {
        1
    };
    format!("{v:.decimals$}")
}

/// A percentage with as many decimals as it needs, at most four.
pub fn percent_label(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} %")
}

fn short_label(label: &str) -> &str {
    let b = label.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' { label[8..].trim_start_matches('0') } else { label }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series() -> Vec<(String, Option<f64>)> {
        vec![
            ("2026-11-01".into(), Some(100.0)),
            ("2026-11-02".into(), Some(99.95)),
            ("2026-11-03".into(), None),
            ("2026-11-04".into(), Some(98.2)),
        ]
    }

    #[test]
    fn floor_is_round_and_below_every_value() {
        assert_eq!(axis_floor(99.95), 99.9);
        assert_eq!(axis_floor(99.9), 99.5);
        assert_eq!(axis_floor(98.2), 98.0);
        assert_eq!(axis_floor(12.0), 0.0);
        assert_eq!(axis_floor(0.0), 0.0);
    }

    #[test]
    fn svg_has_bars_labels_target_and_no_external_resources() {
        let svg = availability_chart_svg(&series(), 99.9, 600, 200);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert_eq!(svg.matches("<rect").count(), 1 + 4, "background + one bar or marker per day");
        assert!(svg.contains("SLA target 99.9 %"));
        assert!(svg.contains(">4</text>"), "day-of-month labels");
        assert!(svg.contains("2026-11-03: no data"));
        assert!(svg.contains(BAD) && svg.contains(GOOD));
        assert!(!svg.contains("<script") && !svg.contains("href") && !svg.contains("@import"));
    }

    #[test]
    fn labels_are_escaped_and_empty_series_renders() {
        let svg = availability_chart_svg(&[("<a&b>".into(), Some(50.0))], 99.0, 300, 120);
        assert!(svg.contains("&lt;a&amp;b&gt;") && !svg.contains("<a&b>"));
        let empty = availability_chart_svg(&[], 99.0, 300, 120);
        assert!(empty.ends_with("</svg>"));
    }

    #[test]
    fn percent_labels_trim_zeros() {
        assert_eq!(percent_label(99.99), "99.99 %");
        assert_eq!(percent_label(100.0), "100 %");
        assert_eq!(percent_label(99.12345), "99.1235 %");
    }
}
