//! Maintenance windows: one-off or recurring (cron, duration, time zone),
//! scoped to services, SLA groups or hierarchy nodes. Their services show
//! MAINTENANCE, open no downtime (so nothing is notified), and — unless the
//! window says it counts — their time is excluded from SLO/SLA figures.

use nines_core::clock::Millis;
use nines_core::slo::Span;
use nines_core::{FieldError, FieldErrors};
use nines_store::maintenance::MaintenanceRow;
use nines_store::slo::SloSubject;

/// Does the window apply to the service?
pub fn covers(m: &MaintenanceRow, organization: &str, id: i64, node_id: &str, sla_group: Option<&str>) -> bool {
    if m.organization != organization {
        return false;
    }
    m.service_ids.contains(&id)
        || sla_group.is_some_and(|g| m.sla_groups.iter().any(|x| x == g))
        || m.node_ids.iter().any(|n| {
            let n = n.trim_end_matches('/');
            n == organization || node_id == n || node_id.starts_with(&format!("{n}/"))
        })
}

fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    expr.parse::<croner::Cron>().map_err(|e| format!("{expr:?} is not a cron expression ({e})"))
}

fn zone(name: Option<&str>) -> Result<jiff::tz::TimeZone, String> {
    match name {
        None | Some("UTC") => Ok(jiff::tz::TimeZone::UTC),
        Some(n) => jiff::tz::TimeZone::get(n).map_err(|e| format!("unknown time zone {n:?} ({e})")),
    }
}

/// The spans of a window inside `w`, in order.
pub fn spans(m: &MaintenanceRow, w: Span) -> Vec<Span> {
    let clip = |s: Millis, e: Millis| (e > w.from && s < w.to).then(|| Span { from: s.max(w.from), to: e.min(w.to) });
    if let (Some(s), Some(e)) = (m.starts_at, m.ends_at) {
        return clip(s, e).into_iter().collect();
    }
    let (Some(expr), Some(minutes)) = (&m.cron, m.duration_minutes) else { return Vec::new() };
    let (Ok(cron), Ok(tz)) = (parse_cron(expr), zone(m.time_zone.as_deref())) else { return Vec::new() };
    let len = minutes * 60_000;
    let Ok(start) = jiff::Timestamp::from_millisecond(w.from - len) else { return Vec::new() };
    let mut at = start.to_zoned(tz);
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let Ok(next) = cron.find_next_occurrence(&at, false) else { break };
        let s = next.timestamp().as_millisecond();
        if s >= w.to {
            break;
        }
        if let Some(sp) = clip(s, s + len) {
            match out.last_mut() {
                Some(Span { to, .. }) if *to >= sp.from => *to = (*to).max(sp.to),
                _ => out.push(sp),
            }
        }
        at = next;
    }
    out
}

/// Time of `w` the windows exclude from the service's figures (those that
/// do not count towards the SLA), merged and sorted.
pub fn excluded_spans(windows: &[MaintenanceRow], s: &SloSubject, w: Span) -> Vec<Span> {
    nines_core::slo::merge_spans(
        windows
            .iter()
            .filter(|m| !m.counts_towards_sla && covers(m, &s.organization, s.id, &s.node_id, s.sla_group.as_deref()))
            .flat_map(|m| spans(m, w))
            .collect(),
    )
}

/// The window putting the service in maintenance at `at`, if any.
pub fn active<'a>(
    windows: &'a [MaintenanceRow],
    organization: &str,
    id: i64,
    node_id: &str,
    sla_group: Option<&str>,
    at: Millis,
) -> Option<&'a MaintenanceRow> {
    windows
        .iter()
        .filter(|m| covers(m, organization, id, node_id, sla_group))
        .find(|m| !spans(m, Span { from: at, to: at + 1 }).is_empty())
}

/// Check a window's timing fields; every problem at once.
pub fn validate(m: &MaintenanceRow) -> Result<(), FieldErrors> {
    let mut errs = FieldErrors::default();
    if m.title.trim().is_empty() || m.title.len() > 300 {
        errs.push(FieldError::invalid("title", "1 to 300 characters"));
    }
    match (m.starts_at, m.ends_at, &m.cron) {
        (Some(s), Some(e), None) => {
            if e <= s {
                errs.push(FieldError::invalid("endsAt", "must be after startsAt"));
            }
        }
        (None, None, Some(expr)) => {
            if let Err(r) = parse_cron(expr) {
                errs.push(FieldError::invalid("cron", r));
            }
            match m.duration_minutes {
                Some(d) if (1..=7 * 24 * 60).contains(&d) => {}
                _ => errs.push(FieldError::invalid(
                    "durationMinutes",
                    "a recurring window needs a duration from 1 minute to 7 days",
                )),
            }
            if let Err(r) = zone(m.time_zone.as_deref()) {
                errs.push(FieldError::invalid("timeZone", r));
            }
        }
        _ => errs.push(FieldError::invalid(
            "startsAt",
            "give startsAt and endsAt (one-off) or cron with durationMinutes (recurring)",
        )),
    }
    if m.service_ids.is_empty() && m.sla_groups.is_empty() && m.node_ids.is_empty() {
        errs.push(FieldError::invalid("serviceIds", "scope the window: serviceIds, slaGroups or nodeIds"));
    }
    // a window covers its own organization only: a node path starts with it
    for (i, n) in m.node_ids.iter().enumerate() {
        if n.split('/').next() != Some(m.organization.as_str()) {
            errs.push(FieldError::invalid(
                format!("nodeIds[{i}]"),
                format!("{n:?} is not a node of organization {:?}", m.organization),
            ));
        }
    }
    if let Some(d) = &m.description
        && d.chars().count() > 2000
    {
        errs.push(FieldError::invalid("description", "at most 2000 characters"));
    }
    errs.into_result(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> MaintenanceRow {
        MaintenanceRow {
            id: 1,
            organization: "o".into(),
            title: "patching".into(),
            description: None,
            service_ids: vec![],
            sla_groups: vec!["pay".into()],
            node_ids: vec!["o/p/prod".into()],
            starts_at: None,
            ends_at: None,
            cron: Some("0 2 * * *".into()),
            duration_minutes: Some(60),
            time_zone: Some("Europe/Berlin".into()),
            counts_towards_sla: false,
            created_at: 0,
            public_title: None,
            public_description: None,
        }
    }

    #[test]
    fn recurring_windows_follow_their_time_zone() {
        let m = row();
        let from = nines_core::clock::parse_rfc3339("2026-07-01T00:00:00Z").unwrap();
        let sp = spans(&m, Span { from, to: from + 3 * 86_400_000 });
        assert_eq!(sp.len(), 3);
        // 02:00 in Berlin in summer is 00:00 UTC
        assert_eq!(nines_core::clock::rfc3339(sp[0].from), "2026-07-01T00:00:00.000Z");
        assert_eq!(sp[0].to - sp[0].from, 3_600_000);
        let winter = nines_core::clock::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let sp = spans(&m, Span { from: winter, to: winter + 86_400_000 });
        assert_eq!(nines_core::clock::rfc3339(sp[0].from), "2026-12-01T01:00:00.000Z");
    }

    #[test]
    fn scope_and_validation() {
        let m = row();
        assert!(covers(&m, "o", 9, "o/p/prod/c1", None));
        assert!(covers(&m, "o", 9, "o/x/y/z", Some("pay")));
        assert!(!covers(&m, "o", 9, "o/p/production/c1", None));
        assert!(!covers(&m, "other", 9, "o/p/prod/c1", Some("pay")));
        let mut bad = row();
        bad.cron = Some("every night".into());
        bad.duration_minutes = None;
        bad.time_zone = Some("Mars/Olympus".into());
        let fields: Vec<String> = validate(&bad).unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["cron", "durationMinutes", "timeZone"]);
    }
}
