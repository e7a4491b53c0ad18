//! HTML of the public page, the group pages and the day pages, written by
//! hand. Every value from outside (names, descriptions) goes through
//! [`esc`]; nothing private is in a snapshot, so nothing private can be
//! written here.
//!
//! Colour is never the only signal: every state label carries an icon and a
//! word, and the bars draw degraded, down and no-data days with their own
//! fill patterns and describe them in text for screen readers.

use nines_core::Status;
use nines_core::clock::{Millis, rfc3339};
use nines_core::slo::DAY_MS;
use std::fmt::Write;

use crate::notify::pages::{update_word, when};

use super::snapshot::{Block, DayCell, Item, Snapshot, State, Stretch};
use crate::web::html::esc;

/// Services rendered inline on the main page at most; larger groups are
/// collapsed to a summary with a link (the script loads them when opened).
const INLINE_SERVICES: usize = 100;
/// A group larger than this is always collapsed.
const INLINE_GROUP: usize = 60;
/// Services per group page.
pub const PAGE_SIZE: usize = 200;

pub const CSS_PATH: &str = concat!("/status-page/assets/status.css?v=", env!("CARGO_PKG_VERSION"));
pub const JS_PATH: &str = concat!("/status-page/assets/status.js?v=", env!("CARGO_PKG_VERSION"));

/// `(css class, icon, word)` of a status.
pub fn label_parts(s: Status) -> (&'static str, &'static str, &'static str) {
    match s {
        Status::Operational => ("ok", "✓", "Operational"),
        Status::Degraded => ("warn", "!", "Degraded"),
        Status::Down => ("err", "✕", "Down"),
        Status::Maintenance => ("maint", "⚙", "Maintenance"),
        Status::Unknown => ("none", "?", "Unknown"),
    }
}

fn label(out: &mut String, s: Status) {
    let (c, i, w) = label_parts(s);
    let _ = write!(out, r#"<span class="label {c}"><span aria-hidden="true">{i}</span> {w}</span>"#);
}

pub fn day_str(ms: Millis) -> String {
    rfc3339(ms)[..10].to_string()
}

fn time_tag(out: &mut String, ms: Millis) {
    let _ = write!(out, r#"<time datetime="{}">{}</time>"#, rfc3339(ms), when(ms));
}

fn duration(ms: i64) -> String {
    let m = ms / 60_000;
    match m {
        0 => format!("{} s", ms / 1000),
        1..=59 => format!("{m} min"),
        _ if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        _ => format!("{} days {} h", m / 1440, (m % 1440) / 60),
    }
}

/// A service's uptime over the bar, saying over how long it was measured
/// when the service is younger than the bar (`100 % since 6 Dec`).
pub fn uptime_words(s: &Snapshot, it: &super::snapshot::Item) -> String {
    let p = percent(it.uptime());
    if it.created_at > s.first_day && it.uptime().is_some() {
        format!("{p} since {}", short_date(it.created_at))
    } else {
        p
    }
}

/// `6 Dec` (UTC, as the page's days).
pub fn short_date(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%-d %b").to_string(),
        Err(_) => String::new(),
    }
}

pub fn percent(p: Option<f64>) -> String {
    match p {
        None => "no data".into(),
        Some(v) if v >= 100.0 => "100 %".into(),
        // never round a loss up to 100
        Some(v) => format!("{:.2} %", (v * 100.0).floor() / 100.0),
    }
}

fn head(out: &mut String, s: &Snapshot, title: &str) {
    let m = &s.meta;
    let p = esc(&m.prefix);
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>{}</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{CSS_PATH}"><link rel="alternate" type="application/atom+xml" title="Incidents" href="{p}/feed.atom"></head><body data-prefix="{p}">"#,
        esc(title)
    );
    // fill patterns of the bars (colour is not the only signal)
    out.push_str(concat!(
        r#"<svg class="defs" aria-hidden="true" focusable="false" width="0" height="0"><defs>"#,
        r#"<pattern id="pw" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="fw"/><rect width="2" height="6" class="sw"/></pattern>"#,
        r#"<pattern id="pe" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" class="fe"/><path d="M0 0L6 6M6 0L0 6" class="se"/></pattern>"#,
        r#"<pattern id="pn" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" class="fn"/><circle cx="3" cy="3" r="1" class="sn"/></pattern>"#,
        r#"</defs></svg>"#,
        r##"<a class="skip" href="#main">Skip to content</a>"##,
    ));
    out.push_str(r#"<header><p class="brand">"#);
    let _ = write!(out, r#"<a href="{}/">"#, p);
    if let Some(logo) = &m.logo_url {
        let _ = write!(out, r#"<img class="logo" src="{}" alt="" height="32">"#, esc(logo));
    }
    let _ = write!(out, "{}</a></p>", esc(&m.title));
    if !m.links.is_empty() {
        out.push_str(r#"<nav aria-label="Links"><ul class="links">"#);
        for l in &m.links {
            let _ = write!(out, r#"<li><a href="{}" rel="noopener">{}</a></li>"#, esc(&l.url), esc(&l.title));
        }
        out.push_str("</ul></nav>");
    }
    out.push_str("</header>");
}

fn foot(out: &mut String, s: &Snapshot) {
    let p = esc(&s.meta.prefix);
    out.push_str("<footer>");
    if s.meta.subscribe {
        let _ = write!(
            out,
            r#"<form class="subscribe" method="post" action="{p}/subscribe"><label for="sub-email">Get incident updates by email</label> <input id="sub-email" name="email" type="email" autocomplete="email" required maxlength="254"> <button type="submit">Subscribe</button></form>"#
        );
    }
    if let Some(f) = &s.meta.footer {
        let _ = write!(out, r#"<p class="custom">{}</p>"#, esc(f));
    }
    let _ = write!(
        out,
        r#"<p>Updated {}. Days are UTC. <a href="{p}/feed.atom">Incident feed (Atom)</a> · <a href="{p}/status">JSON</a></p></footer><div id="tip" role="tooltip" hidden></div><div id="live" class="sr" aria-live="polite"></div><script src="{JS_PATH}" defer></script></body></html>"#,
        when(s.now)
    );
}

fn overall_text(st: State) -> &'static str {
    match st {
        State::Ok => "All systems operational",
        State::Warning => "Some systems are degraded",
        State::Error => "Some systems are down",
    }
}

fn state_parts(st: State) -> (&'static str, &'static str) {
    match st {
        State::Ok => ("ok", "✓"),
        State::Warning => ("warn", "!"),
        State::Error => ("err", "✕"),
    }
}

/// The main page.
pub fn page(s: &Snapshot) -> String {
    let mut out = String::with_capacity(64 * 1024);
    head(&mut out, s, &s.meta.title);
    let st = s.overall();
    let (c, i) = state_parts(st);
    let _ = write!(
        out,
        r#"<main id="main" data-state="{}" data-version="{}"><h1>{}</h1>"#,
        st.as_str(),
        s.version,
        esc(&s.meta.title)
    );
    if let Some(d) = &s.meta.description {
        let _ = write!(out, r#"<p class="about">{}</p>"#, esc(d));
    }
    let _ = write!(
        out,
        r#"<p class="overall {c}" role="status"><span class="label {c}"><span aria-hidden="true">{i}</span> {}</span></p>"#,
        overall_text(st)
    );
    downtimes(&mut out, s, true);
    maintenance(&mut out, s);
    let mut inline = 0;
    for b in &s.blocks {
        let show = b.shown.len() <= INLINE_GROUP && inline + b.shown.len() <= INLINE_SERVICES;
        if show {
            inline += b.shown.len();
        }
        block(&mut out, s, b, show);
    }
    if s.blocks.is_empty() {
        out.push_str("<p>No services are published yet.</p>");
    }
    downtimes(&mut out, s, false);
    out.push_str("</main>");
    foot(&mut out, s);
    out
}

/// The services' public names, a dozen at most.
fn names(s: &Snapshot, items: &[usize]) -> String {
    let mut v: Vec<String> = items.iter().map(|i| esc(&s.items[*i].name).to_string()).collect();
    v.sort();
    let more = v.len().saturating_sub(12);
    v.truncate(12);
    let mut out = v.join(", ");
    if more > 0 {
        let _ = write!(out, " and {more} more");
    }
    out
}

/// The members of an open downtime (indexes into `items`) whose service is
/// still down: those DOWN now. Should none be, those gone silent (no news is
/// not recovery: the downtime holds them as down); should none be either
/// (the page is ahead of the downtime worker), all: an open incident always
/// names something.
fn still_down(items: &[Item], members: &[usize]) -> Vec<usize> {
    let with = |st: Status| -> Vec<usize> { members.iter().copied().filter(|i| items[*i].status == st).collect() };
    [with(Status::Down), with(Status::Unknown)].into_iter().find(|v| !v.is_empty()).unwrap_or_else(|| members.to_vec())
}

fn downtimes(out: &mut String, s: &Snapshot, current: bool) {
    let list: Vec<_> = s.downtimes.iter().filter(|d| d.to.is_none() == current).collect();
    if current && list.is_empty() {
        return;
    }
    let (id, title) = if current { ("h-now", "Current incidents") } else { ("h-past", "Past incidents") };
    let _ = write!(out, r#"<section class="incidents" aria-labelledby="{id}"><h2 id="{id}">{title}</h2>"#);
    if list.is_empty() {
        out.push_str("<p>No incidents in the last 90 days.</p></section>");
        return;
    }
    out.push_str("<ul>");
    for d in list {
        out.push_str("<li>");
        if current {
            label(out, Status::Down);
        } else {
            out.push_str(r#"<span class="label ok"><span aria-hidden="true">✓</span> Resolved</span>"#);
        }
        // a current incident names the services still down in it, not
        // those that recovered while it stays open for the others
        let items = if current { still_down(&s.items, &d.items) } else { d.items.clone() };
        match &d.title {
            Some(t) => {
                let _ = write!(out, " <strong>{}</strong> — {} — ", esc(t), names(s, &items));
            }
            None => {
                let _ = write!(out, " <strong>{}</strong> — ", names(s, &items));
            }
        }
        match d.to {
            Some(to) => {
                time_tag(out, d.from);
                out.push_str(" to ");
                time_tag(out, to);
                let _ = write!(out, " ({})", duration(to - d.from));
            }
            None => {
                out.push_str("since ");
                time_tag(out, d.from);
                let _ = write!(out, " ({} so far)", duration(s.now - d.from));
            }
        }
        let day = day_str(d.from - d.from.rem_euclid(DAY_MS));
        let _ = write!(out, r#" · <a href="{}/status-page/day/{day}">incidents on {day}</a>"#, esc(&s.meta.prefix));
        updates(out, &d.updates);
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
}

/// The public updates of a downtime, newest first.
fn updates(out: &mut String, list: &[super::snapshot::PublicUpdate]) {
    if list.is_empty() {
        return;
    }
    out.push_str(r#"<ol class="updates" reversed>"#);
    for u in list.iter().rev() {
        let _ = write!(out, r#"<li><strong class="u-{0}">{1}</strong> — "#, esc(&u.status), update_word(&u.status));
        time_tag(out, u.at);
        let _ = write!(out, "<p>{}</p></li>", esc(&u.body));
    }
    out.push_str("</ol>");
}

fn maintenance(out: &mut String, s: &Snapshot) {
    if s.maintenance.is_empty() {
        return;
    }
    out.push_str(
        r#"<section class="maintenance" aria-labelledby="h-maint"><h2 id="h-maint">Planned maintenance</h2><ul>"#,
    );
    for m in &s.maintenance {
        out.push_str("<li>");
        if m.active {
            label(out, Status::Maintenance);
            out.push_str(" now: ");
        } else {
            out.push_str(r#"<span class="label plan"><span aria-hidden="true">◷</span> Planned</span> "#);
        }
        let _ = write!(out, "<strong>{}</strong> ", esc(m.title.as_deref().unwrap_or("Planned maintenance")));
        time_tag(out, m.from);
        out.push_str(" to ");
        time_tag(out, m.to);
        let _ = write!(out, " — {}", names(s, &m.items));
        if let Some(d) = &m.description {
            let _ = write!(out, "<p>{}</p>", esc(d));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul></section>");
}

/// Counts of current statuses in a block, worst first, as text.
fn counts(s: &Snapshot, b: &Block) -> String {
    let mut n = [0usize; 5];
    for sh in &b.shown {
        let k = match s.items[sh.item].status {
            Status::Down => 0,
            Status::Degraded => 1,
            Status::Maintenance => 2,
            Status::Unknown => 3,
            Status::Operational => 4,
        };
        n[k] += 1;
    }
    let words = ["down", "degraded", "in maintenance", "unknown", "operational"];
    let parts: Vec<String> = n.iter().zip(words).filter(|(c, _)| **c > 0).map(|(c, w)| format!("{c} {w}")).collect();
    parts.join(" · ")
}

fn block_state(s: &Snapshot, b: &Block) -> State {
    b.shown.iter().map(|sh| State::of(s.items[sh.item].status)).max().unwrap_or(State::Ok)
}

fn block(out: &mut String, s: &Snapshot, b: &Block, inline: bool) {
    let st = block_state(s, b);
    let (c, i) = state_parts(st);
    let word = match st {
        State::Ok => "Operational",
        State::Warning => "Degraded",
        State::Error => "Down",
    };
    let ups: Vec<f64> = b.shown.iter().filter_map(|sh| s.items[sh.item].uptime()).collect();
    let mean = (!ups.is_empty()).then(|| ups.iter().sum::<f64>() / ups.len() as f64);
    let _ = write!(
        out,
        r#"<section class="group" id="g{0}" aria-labelledby="gh{0}"><div class="ghead"><h2 id="gh{0}">{1}</h2><span class="label {c}"><span aria-hidden="true">{i}</span> {word}</span></div>"#,
        b.id,
        esc(&b.name)
    );
    if let Some(d) = &b.description {
        let _ = write!(out, r#"<p class="desc">{}</p>"#, esc(d));
    }
    let _ = write!(
        out,
        r#"<p class="summary">{} — mean uptime {} over 90 days. <a href="/badge/group/{}.svg">Badge</a></p>"#,
        counts(s, b),
        percent(mean),
        b.id
    );
    group_bar(out, s, b);
    if inline {
        service_list(out, s, &b.shown);
    } else {
        let _ = write!(
            out,
            r#"<details data-src="{2}/status-page/group/{0}?fragment=1"><summary>Show the {1} services</summary><p><a href="{2}/status-page/group/{0}">Open the list of {1} services</a></p></details>"#,
            b.id,
            b.shown.len(),
            esc(&s.meta.prefix)
        );
    }
    out.push_str("</section>");
}

/// The list of services (a group's, or one page of it).
pub fn service_list(out: &mut String, s: &Snapshot, shown: &[super::snapshot::Shown]) {
    out.push_str(r#"<ul class="services">"#);
    for sh in shown {
        let it = &s.items[sh.item];
        out.push_str(r#"<li class="svc"><div class="row">"#);
        label(out, it.status);
        let _ = write!(
            out,
            r#" <span class="name">{}</span><span class="up">{}</span></div>"#,
            esc(&sh.name),
            esc(&uptime_words(s, it))
        );
        if let Some(d) = &sh.description {
            let _ = write!(out, r#"<p class="desc">{}</p>"#, esc(d));
        }
        service_bar(out, s, it, &sh.name);
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn code(st: Status) -> char {
    match st {
        Status::Operational => 'o',
        Status::Degraded | Status::Maintenance => 'w',
        Status::Down => 'e',
        Status::Unknown => 'n',
    }
}

/// A 90-day bar: an SVG of runs of equal days, the codes and the extra
/// text of each day for the script's tooltip, and the same in words for
/// screen readers.
fn bar(
    out: &mut String,
    s: &Snapshot,
    codes: &[char],
    extra: &[(usize, String)],
    ok_text: &str,
    title: &str,
    up: &str,
) {
    let code_str: String = codes.iter().collect();
    let x: Vec<String> = extra.iter().map(|(k, t)| format!("{k}={t}")).collect();
    let first = day_str(s.first_day);
    let n = codes.len();
    let _ = write!(
        out,
        r#"<div class="bar" tabindex="0" role="group" aria-label="{} — 90 days, {}" data-first="{}" data-d="{}" data-x="{}" data-ok="{}"><svg viewBox="0 0 {} 24" preserveAspectRatio="none" aria-hidden="true" focusable="false">"#,
        esc(title),
        esc(up),
        first,
        code_str,
        esc(&x.join(";")),
        esc(ok_text),
        n * 4
    );
    let mut k = 0;
    while k < n {
        let c = codes[k];
        let mut e = k + 1;
        while e < n && codes[e] == c {
            e += 1;
        }
        let _ = write!(out, r#"<rect x="{}" width="{}" height="24" class="{c}"/>"#, k * 4, (e - k) * 4 - 1);
        k = e;
    }
    out.push_str("</svg>");
    // the days that were not plain operational, in words
    let mut words = String::new();
    for c in ['e', 'w', 'n'] {
        let days: Vec<String> = codes
            .iter()
            .enumerate()
            .filter(|(_, x)| **x == c)
            .map(|(k, _)| {
                let d = day_str(s.first_day + k as i64 * DAY_MS);
                match extra.iter().find(|(i, _)| *i == k) {
                    Some((_, t)) if c != 'n' => format!("{d} ({t})"),
                    _ => d,
                }
            })
            .collect();
        if days.is_empty() {
            continue;
        }
        let shown: Vec<&String> = days.iter().take(12).collect();
        let more = if days.len() > 12 { format!(" and {} more", days.len() - 12) } else { String::new() };
        let _ = write!(
            words,
            "{}: {}{}. ",
            match c {
                'e' => "Down",
                'w' => "Degraded",
                _ => "No data",
            },
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            more
        );
    }
    if words.is_empty() {
        words.push_str("Every day operational.");
    }
    let _ = write!(
        out,
        r#"<p class="sr">{}</p><div class="axis" aria-hidden="true"><span>90 days ago</span><span>{}</span><span>Today</span></div></div>"#,
        esc(&words),
        esc(up)
    );
}

fn service_bar(out: &mut String, s: &Snapshot, it: &Item, name: &str) {
    let codes: Vec<char> = it.days.iter().map(|d: &DayCell| code(d.status)).collect();
    let extra: Vec<(usize, String)> = it
        .days
        .iter()
        .enumerate()
        .filter(|(_, d)| d.status == Status::Down || d.availability.is_some_and(|a| a < 100.0))
        .map(|(k, d)| (k, format!("{} uptime", percent(d.availability))))
        .collect();
    let up = format!("{} uptime", uptime_words(s, it));
    bar(out, s, &codes, &extra, "100 % uptime", name, &up);
}

fn group_bar(out: &mut String, s: &Snapshot, b: &Block) {
    let n = s.items.first().map_or(0, |i| i.days.len());
    let mut codes = Vec::with_capacity(n);
    let mut extra = Vec::new();
    for k in 0..n {
        let (mut e, mut w, mut o) = (0, 0, 0);
        for sh in &b.shown {
            match code(s.items[sh.item].days[k].status) {
                'e' => e += 1,
                'w' => w += 1,
                'o' => o += 1,
                _ => {}
            }
        }
        let c = if e > 0 {
            'e'
        } else if w > 0 {
            'w'
        } else if o > 0 {
            'o'
        } else {
            'n'
        };
        codes.push(c);
        if e + w > 0 {
            let mut t = Vec::new();
            if e > 0 {
                t.push(format!("{e} down"));
            }
            if w > 0 {
                t.push(format!("{w} degraded"));
            }
            extra.push((k, format!("{} of {}", t.join(", "), b.shown.len())));
        }
    }
    let title = format!("{} (group)", b.name);
    bar(out, s, &codes, &extra, "all operational", &title, "worst service each day");
}

/// A group's own page (or, with `fragment`, its list only), `page` from 0.
pub fn group_page(s: &Snapshot, b: &Block, page: usize, fragment: bool) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let pages = b.shown.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages - 1);
    let part = &b.shown[(page * PAGE_SIZE).min(b.shown.len())..((page + 1) * PAGE_SIZE).min(b.shown.len())];
    if fragment {
        service_list(&mut out, s, part);
        if pages > 1 {
            let _ = write!(
                out,
                r#"<p><a href="{}/status-page/group/{}">All {} services, page by page</a></p>"#,
                esc(&s.meta.prefix),
                b.id,
                b.shown.len()
            );
        }
        return out;
    }
    head(&mut out, s, &format!("{} — {}", b.name, s.meta.title));
    let _ = write!(
        out,
        r#"<main id="main" data-version="{}"><p><a href="{}/">← All groups</a></p>"#,
        s.version,
        esc(&s.meta.prefix)
    );
    block_header(&mut out, s, b);
    service_list(&mut out, s, part);
    if pages > 1 {
        out.push_str(r#"<nav aria-label="Pages"><ul class="pages">"#);
        for p in 0..pages {
            if p == page {
                let _ = write!(out, r#"<li><span aria-current="page">{}</span></li>"#, p + 1);
            } else {
                let _ = write!(
                    out,
                    r#"<li><a href="{}/status-page/group/{}?page={}">{}</a></li>"#,
                    esc(&s.meta.prefix),
                    b.id,
                    p + 1,
                    p + 1
                );
            }
        }
        out.push_str("</ul></nav>");
    }
    out.push_str("</section></main>");
    foot(&mut out, s);
    out
}

fn block_header(out: &mut String, s: &Snapshot, b: &Block) {
    let st = block_state(s, b);
    let (c, i) = state_parts(st);
    let _ = write!(
        out,
        r#"<section class="group" aria-labelledby="gh"><div class="ghead"><h1 id="gh">{}</h1><span class="label {c}"><span aria-hidden="true">{i}</span> {}</span></div>"#,
        esc(&b.name),
        overall_text(st)
    );
    if let Some(d) = &b.description {
        let _ = write!(out, r#"<p class="desc">{}</p>"#, esc(d));
    }
    let _ = write!(out, r#"<p class="summary">{}</p>"#, counts(s, b));
    group_bar(out, s, b);
}

/// A short page of the status page's look: a heading and a paragraph or
/// a form (subscription steps). `body` is HTML, escaped by the caller.
pub fn notice(s: &Snapshot, heading: &str, body: &str) -> String {
    let mut out = String::with_capacity(4 * 1024);
    head(&mut out, s, &format!("{heading} — {}", s.meta.title));
    let _ = write!(
        out,
        r#"<main id="main"><p><a href="{}/">← Current status</a></p><h1>{}</h1>{body}</main>"#,
        esc(&s.meta.prefix),
        esc(heading)
    );
    foot(&mut out, s);
    out
}

/// The page of one day: every public service's incidents that day.
pub fn day_page(s: &Snapshot, day: Millis, list: &[(usize, Stretch)]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let d = day_str(day);
    head(&mut out, s, &format!("Incidents on {d} — {}", s.meta.title));
    let _ = write!(
        out,
        r#"<main id="main" data-version="{}"><p><a href="{}/">← Current status</a></p><h1>Incidents on <time datetime="{d}">{d}</time> (UTC)</h1>"#,
        s.version,
        esc(&s.meta.prefix)
    );
    let incidents = super::snapshot::group_incidents(list);
    if incidents.is_empty() {
        out.push_str("<p>No incidents on this day: every published service was operational.</p>");
    } else {
        out.push_str(r#"<table class="day"><caption class="sr">Incidents, earliest first</caption><thead><tr><th scope="col">Incident</th><th scope="col">Services affected</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Duration</th></tr></thead><tbody>"#);
        for inc in &incidents {
            out.push_str(r#"<tr><th scope="row">"#);
            label(&mut out, inc.worst());
            out.push_str("</th><td>");
            let names: Vec<String> = inc
                .services
                .iter()
                .map(|(i, st)| format!("{} ({})", esc(&s.items[*i].name), label_parts(*st).2.to_lowercase()))
                .collect();
            out.push_str(&names.join(", "));
            out.push_str("</td><td>");
            time_tag(&mut out, inc.from);
            out.push_str("</td><td>");
            if inc.to >= s.now {
                out.push_str("ongoing");
            } else {
                time_tag(&mut out, inc.to);
            }
            let _ = write!(out, "</td><td>{}</td></tr>", duration(inc.to - inc.from));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str(r#"<nav aria-label="Days"><ul class="pages">"#);
    let _ = write!(
        out,
        r#"<li><a href="{}/status-page/day/{}" rel="prev">← {}</a></li>"#,
        esc(&s.meta.prefix),
        day_str(day - DAY_MS),
        day_str(day - DAY_MS)
    );
    if day + DAY_MS <= s.now {
        let _ = write!(
            out,
            r#"<li><a href="{}/status-page/day/{}" rel="next">{} →</a></li>"#,
            esc(&s.meta.prefix),
            day_str(day + DAY_MS),
            day_str(day + DAY_MS)
        );
    }
    out.push_str("</ul></nav></main>");
    foot(&mut out, s);
    out
}

/// An SVG badge: `uptime | 99.95 %` with the current state in words when
/// it is not operational.
pub fn badge(label_text: &str, up: Option<f64>, st: State) -> String {
    let value = match st {
        State::Ok => percent(up),
        State::Warning => format!("{} · degraded", percent(up)),
        State::Error => format!("{} · down", percent(up)),
    };
    badge_with(label_text, &value, st)
}

/// A badge of a label and a value, coloured by a state.
pub fn badge_with(label_text: &str, value: &str, st: State) -> String {
    let colour = match st {
        State::Ok => "#1a7f37",
        State::Warning => "#9a6700",
        State::Error => "#cf222e",
    };
    // a rough width: 7 px a character in 11 px sans-serif
    let lw = 10 + label_text.chars().count() * 7;
    let vw = 10 + value.chars().count() * 7;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{l}: {v}"><title>{l}: {v}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="{lx}" y="14">{l}</text><text x="{vx}" y="14">{v}</text></g></svg>"##,
        w = lw + vw,
        l = esc(label_text),
        v = esc(value),
        lx = lw / 2,
        vx = lw + vw / 2,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str, status: Status) -> Item {
        Item {
            service_id: 0,
            name: name.into(),
            status,
            days: Vec::new(),
            good_ms: 0,
            bad_ms: 0,
            organization: "o".into(),
            created_at: 0,
        }
    }

    #[test]
    fn a_current_incident_names_only_the_services_still_down() {
        let items = [
            item("a", Status::Operational),
            item("b", Status::Down),
            item("c", Status::Degraded),
            item("d", Status::Down),
            item("e", Status::Unknown),
        ];
        // recovered members (operational, degraded) are left out
        assert_eq!(still_down(&items, &[0, 1, 2, 3, 4]), vec![1, 3]);
        // with nothing DOWN, the silent ones still count as down
        assert_eq!(still_down(&items, &[0, 2, 4]), vec![4]);
        // never an incident with no names
        assert_eq!(still_down(&items, &[0, 2]), vec![0, 2]);
    }
}
