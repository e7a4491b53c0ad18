//! Small pieces of HTML the pages share: status labels (icon + word +
//! colour, never colour alone), count badges, times, sizes, durations.

use nines_core::wire::StatusCounts;
use nines_core::{Status, StorageLevel};
use std::fmt::Write;

use crate::web::html::esc;

pub fn status_class(s: Status) -> &'static str {
    match s {
        Status::Operational => "st-ok",
        Status::Degraded => "st-degraded",
        Status::Down => "st-down",
        Status::Maintenance => "st-maint",
        Status::Unknown => "st-unknown",
    }
}

fn status_icon(s: Status) -> &'static str {
    match s {
        Status::Operational => "✔",
        Status::Degraded => "▲",
        Status::Down => "✖",
        Status::Maintenance => "⚒",
        Status::Unknown => "?",
    }
}

/// A square label with the status word.
pub fn status_label(s: Status) -> String {
    format!(
        r#"<span class="lbl {}"><span aria-hidden="true">{}</span> {}</span>"#,
        status_class(s),
        status_icon(s),
        s.as_str()
    )
}

/// A status label that live updates replace (`svc:<id>`).
pub fn live_status(id: i64, s: Status) -> String {
    format!(r#"<span data-live="svc:{id}">{}</span>"#, status_label(s))
}

/// Non-zero counts per status, worst first, and the total.
pub fn counts(c: &StatusCounts) -> String {
    let mut s = String::new();
    for (n, st, word) in [
        (c.down, Status::Down, "down"),
        (c.degraded, Status::Degraded, "degraded"),
        (c.unknown, Status::Unknown, "unknown"),
        (c.maintenance, Status::Maintenance, "maintenance"),
        (c.operational, Status::Operational, "operational"),
    ] {
        if n > 0 {
            let _ = write!(
                s,
                r#"<span class="lbl {}"><span aria-hidden="true">{}</span> {n} {word}</span>"#,
                status_class(st),
                status_icon(st)
            );
        }
    }
    let _ = write!(s, r#"<span class="total">{} service{}</span>"#, c.total, if c.total == 1 { "" } else { "s" });
    s
}

/// A generic square label: `kind` picks the colour (ok, warn, bad, info, muted).
pub fn label(kind: &str, icon: &str, text: &str) -> String {
    format!(r#"<span class="lbl lbl-{kind}"><span aria-hidden="true">{icon}</span> {}</span>"#, esc(text))
}

/// Storage level as the SLA seed's table: > 30 % free Healthy (green),
/// 10–30 % Warning (yellow), < 10 % Critical (red).
pub fn storage_label(l: StorageLevel) -> String {
    match l {
        StorageLevel::Healthy => label("ok", "✔", "Healthy"),
        StorageLevel::Warning => label("warn", "▲", "Warning"),
        StorageLevel::Critical => label("bad", "✖", "Critical"),
        StorageLevel::Unknown => label("muted", "?", "No data"),
    }
}

/// A free share as `42.0 %`, or `—` without a figure.
pub fn free_percent(free: Option<f64>) -> String {
    free.map_or_else(|| "—".into(), |f| format!("{f:.1} %"))
}

/// An RFC 3339 instant as `<time>` showing `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time(rfc: &str) -> String {
    let shown = if rfc.len() >= 19 { format!("{} UTC", rfc[..19].replace('T', " ")) } else { rfc.to_string() };
    format!(r#"<time datetime="{}">{}</time>"#, esc(rfc), esc(&shown))
}

pub fn opt_time(rfc: Option<&str>) -> String {
    rfc.map(time).unwrap_or_else(|| "—".into())
}

/// Seconds as `3 d 4 h`, `2 h 5 min`, `4 min 10 s`, `12 s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "—".into();
    }
    let neg = secs < 0.0;
    let t = secs.abs().round() as i64;
    let (d, h, m, s) = (t / 86_400, t % 86_400 / 3600, t % 3600 / 60, t % 60);
    let pair =
        |a: i64, ua: &str, b: i64, ub: &str| if b == 0 { format!("{a} {ua}") } else { format!("{a} {ua} {b} {ub}") };
    let body = if d > 0 {
        pair(d, "d", h, "h")
    } else if h > 0 {
        pair(h, "h", m, "min")
    } else if m > 0 {
        pair(m, "min", s, "s")
    } else {
        format!("{s} s")
    };
    if neg { format!("−{body}") } else { body }
}

pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

pub fn percent(v: Option<f64>) -> String {
    match v {
        // the report's label, so UI and PDF print a figure alike
        Some(v) if v.is_finite() => nines_report::chart::percent_label(v),
        Some(_) => "∞ %".into(),
        None => "no data".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(12.0), "12 s");
        assert_eq!(duration(250.0), "4 min 10 s");
        assert_eq!(duration(7500.0), "2 h 5 min");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3 d 4 h");
        assert_eq!(duration(-60.0), "−1 min");
        assert_eq!(duration(3600.0), "1 h");
        assert_eq!(percent(Some(99.9)), "99.9 %");
        assert_eq!(bytes(53_687_091_200), "50.0 GiB");
    }

    #[test]
    fn labels_carry_words_not_only_colour() {
        assert!(status_label(Status::Down).contains("DOWN"));
        let c = StatusCounts { down: 2, operational: 1, total: 3, ..Default::default() };
        let h = counts(&c);
        assert!(h.contains("2 down") && h.contains("1 operational") && h.contains("3 services"), "{h}");
        assert!(storage_label(StorageLevel::Warning).contains("Warning"));
        assert!(time("2026-11-21T06:34:10.123Z").contains("2026-11-21 06:34:10 UTC"));
    }
}
