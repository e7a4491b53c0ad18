//! The Atom feed of incidents: one entry per downtime of public services,
//! naming only those services (by the name the page shows) and its times.
//! Its links are absolute (from `--public-url`): feed readers resolve
//! relative ones against wherever they fetched the feed, if at all.

use std::fmt::Write;

use nines_core::clock::rfc3339;

use super::snapshot::Snapshot;
use crate::notify::pages::when;
use crate::web::html::esc;

pub fn atom(s: &Snapshot) -> Vec<u8> {
    let mut out = String::with_capacity(8 * 1024);
    let base = format!("{}{}", esc(s.base_url.trim_end_matches('/')), esc(&s.meta.prefix));
    let updated = s
        .downtimes
        .iter()
        .map(|d| d.updates.last().map_or(d.from, |u| u.at).max(d.to.unwrap_or(d.from)))
        .max()
        .unwrap_or(s.first_day);
    // each page its own feed id
    let id = match &s.meta.slug {
        Some(slug) => format!("urn:nines:status-page:{slug}:incidents"),
        None => "urn:nines:status-page:incidents".to_string(),
    };
    let _ = write!(
        out,
        r#"<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{}: incidents</title><id>{}</id><updated>{}</updated><link rel="alternate" type="text/html" href="{base}/"/><link rel="self" href="{base}/feed.atom"/><author><name>nines</name></author>"#,
        esc(&s.meta.title),
        esc(&id),
        rfc3339(updated)
    );
    let mut list: Vec<_> = s.downtimes.iter().collect();
    list.sort_by_key(|d| std::cmp::Reverse(d.from));
    for d in list {
        let mut names: Vec<&str> = d.items.iter().map(|i| s.items[*i].name.as_str()).collect();
        names.sort();
        let more = names.len().saturating_sub(12);
        names.truncate(12);
        let mut names = names.join(", ");
        if more > 0 {
            let _ = write!(names, " and {more} more");
        }
        let what = d.title.clone().unwrap_or_else(|| names.clone());
        let (title, summary) = match d.to {
            None => (format!("Ongoing: {what}"), format!("Since {}: {names}.", when(d.from))),
            Some(to) => (format!("Resolved: {what}"), format!("From {} to {}: {names}.", when(d.from), when(to))),
        };
        let day = &rfc3339(d.from)[..10];
        // a person's updates: an entry each, newest first
        for u in d.updates.iter().rev() {
            let _ = write!(
                out,
                r#"<entry><id>urn:nines:status-page:incident:{}:update:{}</id><title>{}: {}</title><updated>{}</updated><published>{}</published><link rel="alternate" type="text/html" href="{base}/status-page/day/{day}"/><content type="text">{}</content></entry>"#,
                d.id,
                u.id,
                crate::notify::pages::update_word(&u.status),
                esc(&what),
                rfc3339(u.at),
                rfc3339(u.at),
                esc(&u.body)
            );
        }
        let _ = write!(
            out,
            r#"<entry><id>urn:nines:status-page:incident:{}:{}</id><title>{}</title><updated>{}</updated><published>{}</published><link rel="alternate" type="text/html" href="{base}/status-page/day/{day}"/><summary>{}</summary></entry>"#,
            d.id,
            d.from,
            esc(&title),
            rfc3339(d.to.unwrap_or(d.from)),
            rfc3339(d.from),
            esc(&summary)
        );
    }
    out.push_str("</feed>");
    out.into_bytes()
}
