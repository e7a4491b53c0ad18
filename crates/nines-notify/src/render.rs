//! Events → text. One renderer builds a small document (paragraphs and list
//! items made of text and link spans) per event; the document is then written
//! out as Markdown (webhook, email), Slack-style text (`<url|text>` links,
//! for Slack, Mattermost and Rocket.Chat), plain text and HTML (email).
//! Building spans rather than Markdown means each output escapes correctly.
//!
//! Messages carry no boilerplate ("Downtime Alert", "View Downtime"): the
//! downtime name and each service are themselves the links. A downtime
//! without services renders to nothing.

use nines_core::clock::Millis;
use serde::{Deserialize, Serialize};

use crate::event::{Agent, AlertState, Backup, BurnRate, Certificate, Downtime, Event, ServiceRef, Storage};

/// One piece of a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Span {
    Text { text: String },
    Link { text: String, url: String },
}

/// A paragraph or a list item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "spans", rename_all = "camelCase")]
pub enum Block {
    Para(Vec<Span>),
    Item(Vec<Span>),
}

/// A rendered message: the title (email subject, Alertmanager summary) and
/// the body. `link` is the page the event is about (generatorURL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    pub title: String,
    pub body: Vec<Block>,
    pub link: String,
}

/// What a channel sends: the event, its rendering, and an id that stays the
/// same across retries (receivers deduplicate by it; the webhook sends it as
/// `X-Nines-Delivery`).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub event: Event,
    pub rendered: Rendered,
    /// The base URL links were built from.
    pub base_url: String,
}

impl Message {
    /// Render `event`; `None` when it must not be sent (a downtime without
    /// services).
    pub fn new(id: impl Into<String>, event: Event, base_url: &str) -> Option<Message> {
        let rendered = render(&event, base_url)?;
        Some(Message { id: id.into(), event, rendered, base_url: base_url.trim_end_matches('/').to_string() })
    }
}

/// Where links point. Keeping the paths in one place lets the UI move them.
pub struct Links<'a> {
    base: &'a str,
}

impl<'a> Links<'a> {
    pub fn new(base_url: &'a str) -> Self {
        Links { base: base_url.trim_end_matches('/') }
    }
    pub fn downtime(&self, d: &Downtime) -> String {
        d.url.clone().unwrap_or_else(|| format!("{}/ui/downtimes/{}", self.base, encode_segment(&d.id)))
    }
    pub fn service(&self, s: &ServiceRef) -> String {
        s.url.clone().unwrap_or_else(|| format!("{}/ui/services/{}", self.base, encode_segment(&s.id)))
    }
    /// The dashboard's list of agents.
    pub fn agents(&self) -> String {
        format!("{}/ui/agents", self.base)
    }
    /// A certificate's row on the dashboard's list of certificates.
    pub fn certificate(&self, id: i64) -> String {
        format!("{}/ui/certificates#cert-{id}", self.base)
    }
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn text(s: impl Into<String>) -> Span {
    Span::Text { text: s.into() }
}

fn link(t: impl Into<String>, url: String) -> Span {
    Span::Link { text: t.into(), url }
}

/// Render an event; `None` for a downtime without services.
pub fn render(event: &Event, base_url: &str) -> Option<Rendered> {
    let links = Links::new(base_url);
    match event {
        Event::DowntimeOpened(d) => downtime(d, &links, Phase::Opened),
        Event::DowntimeUpdated(d) => downtime(d, &links, Phase::Updated),
        Event::DowntimeResolved(d) => downtime(d, &links, Phase::Resolved),
        Event::CertificateExpiring(c) => Some(certificate(c, &links, false)),
        Event::CertificateExpired(c) => Some(certificate(c, &links, true)),
        Event::BackupOverdue(b) => Some(backup(b, &links)),
        Event::StorageCritical(s) => Some(storage(s, &links)),
        Event::SloBurnRate(b) => Some(burn_rate(b, &links)),
        Event::AgentSilent(a) => Some(agent(a, &links)),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Opened,
    Updated,
    Resolved,
}

fn downtime(d: &Downtime, links: &Links, phase: Phase) -> Option<Rendered> {
    if d.services.is_empty() {
        return None;
    }
    let url = links.downtime(d);
    let duration = d.duration_ms().map(format_duration);
    let (title, what) = match phase {
        Phase::Opened => (format!("Opened: {}", d.title), format!(" started {}.", format_time(d.started_at))),
        Phase::Updated => (
            format!("Updated: {}", d.title),
            match &duration {
                Some(dur) => format!(" ongoing since {} ({dur}).", format_time(d.started_at)),
                None => format!(" ongoing since {}.", format_time(d.started_at)),
            },
        ),
        Phase::Resolved => {
            let at = d.resolved_at.map(|r| format!(" {}", format_time(r))).unwrap_or_default();
            let after = duration.map(|dur| format!(" after {dur}")).unwrap_or_default();
            (format!("Resolved: {}", d.title), format!(" resolved{at}{after}."))
        }
    };
    let mut facts = vec![format!("Severity: {}", d.severity_word())];
    if let Some(c) = d.classification.as_deref().filter(|c| !c.is_empty()) {
        facts.push(format!("Classification: {c}"));
    }
    facts.push(format!("Organization: {}", d.organization));
    let mut body = vec![
        Block::Para(vec![link(d.title.clone(), url.clone()), text(what)]),
        Block::Para(vec![text(facts.join(" · "))]),
    ];
    if phase == Phase::Resolved {
        let sla = match (d.counts_towards_sla, d.excluded_reason.as_deref().filter(|r| !r.is_empty())) {
            (true, _) => "Counts towards SLA: yes".to_string(),
            (false, Some(reason)) => format!("Counts towards SLA: no (excluded: {reason})"),
            (false, None) => "Counts towards SLA: no".to_string(),
        };
        body.push(Block::Para(vec![text(sla)]));
    }
    for s in &d.services {
        body.push(Block::Item(service_line(s, links, Some(s.status.as_str()))));
    }
    Some(Rendered { title, body, link: url })
}

fn service_line(s: &ServiceRef, links: &Links, status: Option<&str>) -> Vec<Span> {
    let mut spans = vec![link(s.name.clone(), links.service(s)), text(format!(" ({})", s.node_id))];
    if let Some(st) = status {
        spans.push(text(format!(": {st}")));
        if let Some(r) = s.reason.as_deref().filter(|r| !r.is_empty()) {
            spans.push(text(format!(" ({r})")));
        }
    }
    spans
}

fn certificate(c: &Certificate, links: &Links, expired: bool) -> Rendered {
    let days = (c.not_after - c.at).div_euclid(86_400_000);
    let url = links.service(&c.service);
    let (title, tail) = if c.cleared_at.is_some() {
        (format!("Certificate renewed: {}", c.subject), format!(" is valid until {}.", format_time(c.not_after)))
    } else if expired {
        let ago = (c.at - c.not_after).max(0);
        (
            format!("Certificate expired: {}", c.subject),
            format!(" expired {} ({} ago).", format_time(c.not_after), format_duration(ago)),
        )
    } else {
        let left = if days == 1 { "1 day".to_string() } else { format!("{days} days") };
        (
            format!("Certificate expires in {left}: {}", c.subject),
            format!(" expires {} (in {}).", format_time(c.not_after), format_duration((c.not_after - c.at).max(0))),
        )
    };
    let mut line = vec![text(format!("The certificate for {} of ", c.subject))];
    line.extend(service_line(&c.service, links, None));
    line.push(text(tail));
    Rendered { title, body: vec![Block::Para(line), org_para(&c.organization)], link: url }
}

fn backup(b: &Backup, links: &Links) -> Rendered {
    let url = links.service(&b.service);
    let every = format_duration(b.expected_every_seconds as i64 * 1000);
    if b.cleared_at.is_some() {
        let mut l = vec![text("The backups of ")];
        l.extend(service_line(&b.service, links, None));
        let last = b.last_backup_at.map(|t| format!(" (last {})", format_time(t))).unwrap_or_default();
        l.push(text(format!(" are on time again{last}; expected every {every}.")));
        return Rendered {
            title: format!("Backup on time again: {}", b.service.name),
            body: vec![Block::Para(l), org_para(&b.organization)],
            link: url,
        };
    }
    let line = match b.last_backup_at {
        Some(last) => {
            let mut l = vec![text("The last backup of ")];
            l.extend(service_line(&b.service, links, None));
            l.push(text(format!(
                " finished {} ({} ago); expected every {every}.",
                format_time(last),
                format_duration((b.at - last).max(0))
            )));
            l
        }
        None => {
            let mut l = vec![text("No backup of ")];
            l.extend(service_line(&b.service, links, None));
            l.push(text(format!(" recorded yet; expected every {every}.")));
            l
        }
    };
    Rendered {
        title: format!("Backup overdue: {}", b.service.name),
        body: vec![Block::Para(line), org_para(&b.organization)],
        link: url,
    }
}

fn storage(s: &Storage, links: &Links) -> Rendered {
    let url = links.service(&s.service);
    let mut line = service_line(&s.service, links, None);
    if s.cleared_at.is_some() {
        line.push(text(format!(
            " has {:.1} % free again: {} of {} used.",
            s.free_percent,
            format_bytes(s.used_bytes),
            format_bytes(s.total_bytes)
        )));
        return Rendered {
            title: format!("Storage recovered: {} ({:.1} % free)", s.service.name, s.free_percent),
            body: vec![Block::Para(line), org_para(&s.organization)],
            link: url,
        };
    }
    line.push(text(format!(
        " has {:.1} % free: {} of {} used.",
        s.free_percent,
        format_bytes(s.used_bytes),
        format_bytes(s.total_bytes)
    )));
    Rendered {
        title: format!("Storage critical: {} ({:.1} % free)", s.service.name, s.free_percent),
        body: vec![Block::Para(line), org_para(&s.organization)],
        link: url,
    }
}

fn burn_rate(b: &BurnRate, links: &Links) -> Rendered {
    let url = links.service(&b.service);
    let sev = b.severity.as_str();
    let target = format_percent(b.slo_target_percent);
    let (title, tail) = match b.state {
        AlertState::Raised => (
            format!("SLO burn rate ({sev}): {}", b.service.name),
            format!(" burns its error budget above the {sev} threshold (SLO {target} %)."),
        ),
        AlertState::Cleared => (
            format!("SLO burn rate cleared ({sev}): {}", b.service.name),
            format!(" burns its error budget below the {sev} threshold again (SLO {target} %)."),
        ),
    };
    let mut line = service_line(&b.service, links, None);
    line.push(text(tail));
    let rates: Vec<String> = nines_core::slo::BURN_WINDOWS
        .iter()
        .filter_map(|(w, _)| b.burn_rates.get(w).map(|r| format!("{w} {r:.2}×")))
        .collect();
    let mut body = vec![Block::Para(line)];
    if !rates.is_empty() {
        body.push(Block::Para(vec![text(format!("Burn rates: {}", rates.join(" · ")))]));
    }
    body.push(org_para(&b.organization));
    Rendered { title, body, link: url }
}

fn agent(a: &Agent, links: &Links) -> Rendered {
    let url = links.agents();
    let version = a.version.as_deref().map(|v| format!(" (version {v})")).unwrap_or_default();
    let limit = format_duration(a.silent_after_seconds as i64 * 1000);
    let (checks, are, count) = if a.checks == 1 {
        ("1 check".to_string(), "is", "counts")
    } else {
        (format!("{} checks", a.checks), "are", "count")
    };
    let mut line = vec![text("The agent at "), link(a.location.clone(), url.clone())];
    let title = match a.cleared_at {
        Some(back) => {
            line.push(text(format!(
                "{version} is reporting again after {} of silence (last heard {}); its {checks} there {count} again \
                 as its results arrive.",
                format_duration((back - a.last_seen).max(0)),
                format_time(a.last_seen)
            )));
            format!("Agent back: {}", a.location)
        }
        None => {
            line.push(text(format!(
                "{version} has not been heard from since {} ({} ago; silent after {limit}); its {checks} there {are} \
                 UNKNOWN until it is back.",
                format_time(a.last_seen),
                format_duration((a.at - a.last_seen).max(0))
            )));
            format!("Agent silent: {}", a.location)
        }
    };
    let mut body = vec![Block::Para(line), org_para(&a.organization)];
    for s in &a.services {
        body.push(Block::Item(service_line(s, links, Some(s.status.as_str()))));
    }
    Rendered { title, body, link: url }
}

fn org_para(org: &str) -> Block {
    Block::Para(vec![text(format!("Organization: {org}"))])
}

/// `2026-11-21 04:00 UTC`.
pub fn format_time(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => format!("@{ms}ms"),
    }
}

pub use nines_core::clock::format_duration;

fn format_percent(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Binary units with one decimal: `95.8 GiB`.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

impl Rendered {
    /// CommonMark: paragraphs separated by blank lines, items as `- `.
    pub fn markdown(&self) -> String {
        write_blocks(&self.body, "- ", true, |s| match s {
            Span::Text { text } => md_escape(text),
            Span::Link { text, url } => format!("[{}]({})", md_escape(text), md_url(url)),
        })
    }

    /// Slack-style text, the subset Slack, Mattermost and Rocket.Chat all
    /// read: `<url|text>` links, `&`, `<`, `>` escaped, no emphasis.
    pub fn slack(&self) -> String {
        write_blocks(&self.body, "• ", false, |s| match s {
            Span::Text { text } => slack_escape(text),
            Span::Link { text, url } => format!("<{}|{}>", slack_escape(url), slack_escape(text).replace('|', "¦")),
        })
    }

    /// Plain text: links as `text <url>`.
    pub fn plain(&self) -> String {
        write_blocks(&self.body, "- ", true, |s| match s {
            Span::Text { text } => text.clone(),
            Span::Link { text, url } => format!("{text} <{url}>"),
        })
    }

    /// A minimal HTML fragment (email alternative part).
    pub fn html(&self) -> String {
        let span = |s: &Span| match s {
            Span::Text { text } => html_escape(text),
            Span::Link { text, url } => format!("<a href=\"{}\">{}</a>", html_escape(url), html_escape(text)),
        };
        let mut out = String::new();
        let mut in_list = false;
        for b in &self.body {
            match b {
                Block::Para(spans) => {
                    if in_list {
                        out.push_str("</ul>\n");
                        in_list = false;
                    }
                    out.push_str(&format!("<p>{}</p>\n", spans.iter().map(span).collect::<String>()));
                }
                Block::Item(spans) => {
                    if !in_list {
                        out.push_str("<ul>\n");
                        in_list = true;
                    }
                    out.push_str(&format!("<li>{}</li>\n", spans.iter().map(span).collect::<String>()));
                }
            }
        }
        if in_list {
            out.push_str("</ul>\n");
        }
        out
    }
}

fn write_blocks(blocks: &[Block], bullet: &str, blank_lines: bool, span: impl Fn(&Span) -> String) -> String {
    let mut out = String::new();
    let mut prev_item = None;
    for b in blocks {
        let (is_item, spans) = match b {
            Block::Para(s) => (false, s),
            Block::Item(s) => (true, s),
        };
        if let Some(prev) = prev_item {
            out.push('\n');
            if blank_lines && !(prev && is_item) {
                out.push('\n');
            }
        }
        if is_item {
            out.push_str(bullet);
        }
        out.extend(spans.iter().map(&span));
        prev_item = Some(is_item);
    }
    out
}

fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_url(u: &str) -> String {
    u.replace(' ', "%20").replace('(', "%28").replace(')', "%29")
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{BurnSeverity, Severity};
    use nines_core::slo::BurnRates;
    use nines_core::{Criticality, Status};

    pub const BASE: &str = "https://nines.example/";
    /// 2026-11-21 04:00:00 UTC.
    pub const T0: Millis = 1_795_233_600_000;

    pub fn svc(id: &str, name: &str, status: Status) -> ServiceRef {
        ServiceRef {
            id: id.into(),
            name: name.into(),
            node_id: "acme/platform/prod/c1".into(),
            status,
            criticality: Criticality::High,
            tags: vec!["api".into()],
            url: None,
            reason: None,
        }
    }

    pub fn downtime() -> Downtime {
        Downtime {
            id: "42".into(),
            title: "API outage".into(),
            severity: Severity::Critical,
            classification: Some("unplanned".into()),
            organization: "acme".into(),
            services: vec![svc("7", "api-gateway", Status::Down), svc("8", "auth", Status::Degraded)],
            started_at: T0,
            resolved_at: None,
            duration_ms: None,
            counts_towards_sla: true,
            excluded_reason: None,
            url: None,
            severity_label: None,
        }
    }

    #[test]
    fn test_time_constant_is_what_the_snapshots_say() {
        assert_eq!(format_time(T0), "2026-11-21 04:00 UTC");
    }

    #[test]
    fn opened_downtime_links_the_downtime_and_each_service() {
        let r = render(&Event::DowntimeOpened(downtime()), BASE).unwrap();
        assert_eq!(r.title, "Opened: API outage");
        assert_eq!(r.link, "https://nines.example/ui/downtimes/42");
        assert_eq!(
            r.markdown(),
            "[API outage](https://nines.example/ui/downtimes/42) started 2026-11-21 04:00 UTC.\n\
             \n\
             Severity: critical · Classification: unplanned · Organization: acme\n\
             \n\
             - [api-gateway](https://nines.example/ui/services/7) (acme/platform/prod/c1): DOWN\n\
             - [auth](https://nines.example/ui/services/8) (acme/platform/prod/c1): DEGRADED"
        );
        assert_eq!(
            r.slack(),
            "<https://nines.example/ui/downtimes/42|API outage> started 2026-11-21 04:00 UTC.\n\
             Severity: critical · Classification: unplanned · Organization: acme\n\
             • <https://nines.example/ui/services/7|api-gateway> (acme/platform/prod/c1): DOWN\n\
             • <https://nines.example/ui/services/8|auth> (acme/platform/prod/c1): DEGRADED"
        );
        let md = r.markdown().to_lowercase();
        assert!(!md.contains("downtime alert") && !md.contains("view downtime"), "no boilerplate");
    }

    #[test]
    fn updated_downtime_says_how_long_so_far() {
        let mut d = downtime();
        d.duration_ms = Some(15 * 60_000);
        let r = render(&Event::DowntimeUpdated(d), BASE).unwrap();
        assert_eq!(r.title, "Updated: API outage");
        assert!(r.markdown().starts_with(
            "[API outage](https://nines.example/ui/downtimes/42) ongoing since 2026-11-21 04:00 UTC (15m).\n"
        ));
    }

    #[test]
    fn resolved_downtime_carries_sla_accounting() {
        let mut d = downtime();
        d.resolved_at = Some(T0 + 42 * 60_000 + 5_000);
        d.counts_towards_sla = false;
        d.excluded_reason = Some("planned maintenance overran".into());
        d.services[0].status = Status::Operational;
        d.services[1].status = Status::Operational;
        let r = render(&Event::DowntimeResolved(d.clone()), BASE).unwrap();
        assert_eq!(r.title, "Resolved: API outage");
        assert_eq!(
            r.markdown(),
            "[API outage](https://nines.example/ui/downtimes/42) resolved 2026-11-21 04:42 UTC after 42m 5s.\n\
             \n\
             Severity: critical · Classification: unplanned · Organization: acme\n\
             \n\
             Counts towards SLA: no (excluded: planned maintenance overran)\n\
             \n\
             - [api-gateway](https://nines.example/ui/services/7) (acme/platform/prod/c1): OPERATIONAL\n\
             - [auth](https://nines.example/ui/services/8) (acme/platform/prod/c1): OPERATIONAL"
        );
        d.counts_towards_sla = true;
        d.excluded_reason = None;
        d.classification = None;
        let r = render(&Event::DowntimeResolved(d), BASE).unwrap();
        assert!(r.markdown().contains("\n\nSeverity: critical · Organization: acme\n\nCounts towards SLA: yes\n\n"));
        assert!(!render(&Event::DowntimeOpened(downtime()), BASE).unwrap().markdown().contains("SLA"));
    }

    #[test]
    fn downtime_without_services_renders_nothing() {
        let mut d = downtime();
        d.services.clear();
        for e in [Event::DowntimeOpened(d.clone()), Event::DowntimeUpdated(d.clone()), Event::DowntimeResolved(d)] {
            assert_eq!(render(&e, BASE), None);
            assert_eq!(Message::new("m1", e, BASE), None);
        }
    }

    #[test]
    fn burn_rate_messages() {
        let b = BurnRate {
            organization: "acme".into(),
            service: svc("7", "api-gateway", Status::Degraded),
            severity: BurnSeverity::Page,
            state: AlertState::Raised,
            burn_rates: BurnRates { m5: Some(15.0), h1: Some(14.4), h6: Some(3.25), ..Default::default() },
            slo_target_percent: 99.9,
            at: T0,
        };
        let r = render(&Event::SloBurnRate(b.clone()), BASE).unwrap();
        assert_eq!(r.title, "SLO burn rate (page): api-gateway");
        assert_eq!(
            r.markdown(),
            "[api-gateway](https://nines.example/ui/services/7) (acme/platform/prod/c1) burns its error budget above \
             the page threshold (SLO 99.9 %).\n\
             \n\
             Burn rates: 5m 15.00× · 1h 14.40× · 6h 3.25×\n\
             \n\
             Organization: acme"
        );
        let cleared = BurnRate { state: AlertState::Cleared, severity: BurnSeverity::Ticket, ..b };
        let r = render(&Event::SloBurnRate(cleared), BASE).unwrap();
        assert_eq!(r.title, "SLO burn rate cleared (ticket): api-gateway");
        assert!(r.markdown().contains("below the ticket threshold again (SLO 99.9 %)."));
    }

    #[test]
    fn certificate_backup_and_storage_messages() {
        let c = Certificate {
            organization: "acme".into(),
            service: svc("7", "api-gateway", Status::Operational),
            subject: "api.acme.example".into(),
            not_after: T0 + 12 * 86_400_000 + 3_600_000,
            at: T0,
            cleared_at: None,
        };
        let r = render(&Event::CertificateExpiring(c.clone()), BASE).unwrap();
        assert_eq!(r.title, "Certificate expires in 12 days: api.acme.example");
        assert_eq!(
            r.plain(),
            "The certificate for api.acme.example of api-gateway <https://nines.example/ui/services/7> \
             (acme/platform/prod/c1) expires 2026-12-03 05:00 UTC (in 12d 1h).\n\nOrganization: acme"
        );
        let expired = Certificate { at: c.not_after + 86_400_000, ..c };
        let r = render(&Event::CertificateExpired(expired), BASE).unwrap();
        assert_eq!(r.title, "Certificate expired: api.acme.example");
        assert!(r.markdown().contains(" expired 2026-12-03 05:00 UTC (1d ago)."));

        let b = Backup {
            organization: "acme".into(),
            service: svc("9", "postgres", Status::Operational),
            last_backup_at: Some(T0 - 26 * 3_600_000),
            expected_every_seconds: 86_400,
            at: T0,
            cleared_at: None,
        };
        let r = render(&Event::BackupOverdue(b.clone()), BASE).unwrap();
        assert_eq!(r.title, "Backup overdue: postgres");
        assert!(r.markdown().starts_with(
            "The last backup of [postgres](https://nines.example/ui/services/9) (acme/platform/prod/c1) finished \
             2026-11-20 02:00 UTC (1d 2h ago); expected every 1d.\n"
        ));
        let never = Backup { last_backup_at: None, ..b };
        assert!(render(&Event::BackupOverdue(never), BASE).unwrap().markdown().starts_with("No backup of [postgres]"));

        let s = Storage {
            organization: "acme".into(),
            service: svc("9", "postgres", Status::Degraded),
            used_bytes: 96 * (1 << 30),
            total_bytes: 100 * (1 << 30),
            free_percent: 4.0,
            at: T0,
            cleared_at: None,
        };
        let r = render(&Event::StorageCritical(s.clone()), BASE).unwrap();
        assert_eq!(r.title, "Storage critical: postgres (4.0 % free)");
        assert!(r.markdown().starts_with(
            "[postgres](https://nines.example/ui/services/9) (acme/platform/prod/c1) has 4.0 % free: 96.0 GiB of 100.0 GiB used."
        ));
    }

    #[test]
    fn conditions_that_end_say_so() {
        let s = Storage {
            organization: "acme".into(),
            service: svc("9", "postgres", Status::Operational),
            used_bytes: 80 * (1 << 30),
            total_bytes: 100 * (1 << 30),
            free_percent: 20.0,
            at: T0,
            cleared_at: Some(T0),
        };
        let e = Event::StorageCritical(s);
        assert!(e.is_resolution());
        let r = render(&e, BASE).unwrap();
        assert_eq!(r.title, "Storage recovered: postgres (20.0 % free)");
        assert!(r.markdown().starts_with(
            "[postgres](https://nines.example/ui/services/9) (acme/platform/prod/c1) has 20.0 % free again: 80.0 GiB of 100.0 GiB used."
        ));
        let b = Backup {
            organization: "acme".into(),
            service: svc("9", "postgres", Status::Operational),
            last_backup_at: Some(T0),
            expected_every_seconds: 86_400,
            at: T0,
            cleared_at: Some(T0),
        };
        let r = render(&Event::BackupOverdue(b), BASE).unwrap();
        assert_eq!(r.title, "Backup on time again: postgres");
        assert!(r.markdown().contains("are on time again (last 2026-11-21 04:00 UTC); expected every 1d."));
        let c = Certificate {
            organization: "acme".into(),
            service: svc("7", "api-gateway", Status::Operational),
            subject: "api.acme.example".into(),
            not_after: T0 + 90 * 86_400_000,
            at: T0,
            cleared_at: Some(T0),
        };
        let r = render(&Event::CertificateExpiring(c), BASE).unwrap();
        assert_eq!(r.title, "Certificate renewed: api.acme.example");
        assert!(r.markdown().ends_with("is valid until 2027-02-19 04:00 UTC.\n\nOrganization: acme"));
    }

    fn agent_event() -> Agent {
        Agent {
            organization: "acme".into(),
            location: "eu-west".into(),
            version: Some("0.9.0".into()),
            last_seen: T0 - 4 * 60_000,
            silent_after_seconds: 180,
            checks: 2,
            services: vec![svc("7", "api-gateway", Status::Unknown)],
            at: T0,
            cleared_at: None,
        }
    }

    #[test]
    fn agent_silent_and_back_messages() {
        let a = agent_event();
        let e = Event::AgentSilent(a.clone());
        assert_eq!(e.kind().as_str(), "agent_silent");
        assert_eq!(e.severity(), Severity::Warning);
        assert!(!e.is_resolution());
        assert_eq!(e.criticality(), Some(Criticality::High), "routes by the services it probes for");
        let r = render(&e, BASE).unwrap();
        assert_eq!(r.title, "Agent silent: eu-west");
        assert_eq!(r.link, "https://nines.example/ui/agents");
        assert_eq!(
            r.markdown(),
            "The agent at [eu-west](https://nines.example/ui/agents) (version 0.9.0) has not been heard from since \
             2026-11-21 03:56 UTC (4m ago; silent after 3m); its 2 checks there are UNKNOWN until it is back.\n\
             \n\
             Organization: acme\n\
             \n\
             - [api-gateway](https://nines.example/ui/services/7) (acme/platform/prod/c1): UNKNOWN"
        );
        let back = Agent { version: None, checks: 1, at: T0 + 60_000, cleared_at: Some(T0 + 60_000), ..a };
        let e = Event::AgentSilent(back);
        assert!(e.is_resolution());
        let r = render(&e, BASE).unwrap();
        assert_eq!(r.title, "Agent back: eu-west");
        assert!(
            r.plain().starts_with(
                "The agent at eu-west <https://nines.example/ui/agents> is reporting again after 5m of silence \
                 (last heard 2026-11-21 03:56 UTC); its 1 check there counts again as its results arrive.\n"
            ),
            "{}",
            r.plain()
        );
        // the payload round-trips with its kind, as stored events do
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "agent_silent");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
    }

    #[test]
    fn outputs_escape_what_their_syntax_needs() {
        let mut d = downtime();
        d.title = "db <primary> [eu] & *replica*".into();
        d.id = "a b/c".into();
        d.services.truncate(1);
        let r = render(&Event::DowntimeOpened(d), BASE).unwrap();
        assert!(r.markdown().starts_with(
            r"[db \<primary\> \[eu\] & \*replica\*](https://nines.example/ui/downtimes/a%20b%2Fc) started"
        ));
        assert!(
            r.slack()
                .starts_with("<https://nines.example/ui/downtimes/a%20b%2Fc|db &lt;primary&gt; [eu] &amp; *replica*>")
        );
        assert!(r.html().starts_with(
            "<p><a href=\"https://nines.example/ui/downtimes/a%20b%2Fc\">db &lt;primary&gt; [eu] &amp; *replica*</a> started"
        ));
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(30_000), "30s");
        assert_eq!(format_duration(42 * 60_000), "42m");
        assert_eq!(format_duration(3_900_000), "1h 5m");
        assert_eq!(format_duration(86_400_000 + 61_000), "1d");
        assert_eq!(format_duration((2 * 86_400 + 3 * 3600) * 1000), "2d 3h");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_percent(99.95), "99.95");
        assert_eq!(format_percent(99.0), "99");
    }
}
