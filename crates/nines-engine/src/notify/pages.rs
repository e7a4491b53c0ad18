//! What status-page subscribers are told of an incident update
//! ([`update_deliveries`], queued by the API in the transaction that posts
//! the update), sending what they are due (confirmation mails and updates),
//! and the links and secrets derived for each subscriber from the server's
//! key: nothing that grants access is stored.
//!
//! Every replica sends; a claim with a lease keeps a message to one, and a
//! failed message is retried with a growing wait, up to [`MAX_ATTEMPTS`].

use nines_core::clock::{Millis, rfc3339};
use nines_store::pages::{NewDelivery, PageRow, SubscriberRow};
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::OnceLock;

use super::Notifier;
use super::seal::SecretKey;

/// How long a claimed message is left to one replica.
const LEASE_MS: i64 = 5 * 60_000;
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 10;

/// The token of a subscriber's link for `purpose` (`confirm`,
/// `unsubscribe`): derived, never stored.
pub fn token(key: &SecretKey, sub: &SubscriberRow, purpose: &str) -> String {
    let mut t = key.derive(&format!("nines-page-subscriber:{}:{}:{}:{purpose}", sub.id, sub.created_at, sub.target));
    t.truncate(32);
    t
}

/// The secret a webhook subscription's messages are signed with.
pub fn webhook_secret(key: &SecretKey, sub: &SubscriberRow) -> String {
    key.derive(&format!("nines-page-webhook:{}:{}:{}", sub.id, sub.created_at, sub.target))
}

/// The public address of a status page.
pub fn page_url(base: &str, slug: &str) -> String {
    format!("{}/p/{slug}", base.trim_end_matches('/'))
}

/// The word an incident update opens with, by its status.
pub fn update_word(status: &str) -> &'static str {
    match status {
        "investigating" => "Investigating",
        "identified" => "Identified",
        "monitoring" => "Monitoring",
        "resolved" => "Resolved",
        _ => "Update",
    }
}

/// A time as pages and messages show it: `2026-03-01 14:05 UTC`.
pub fn when(ms: Millis) -> String {
    let s = rfc3339(ms);
    format!("{} {} UTC", &s[..10], &s[11..16])
}

/// What an update says, for the subscribers of every configured page that
/// shows one of `service_ids` (their public names there).
#[allow(clippy::too_many_arguments)]
pub async fn update_deliveries(
    n: &Notifier,
    downtime_id: i64,
    service_ids: &[i64],
    status: &str,
    message: &str,
    title: Option<&str>,
    now: Millis,
) -> nines_store::Result<Vec<NewDelivery>> {
    let ids: HashSet<i64> = service_ids.iter().copied().collect();
    let entries: Vec<_> = n.store.public_entries().await?.into_iter().filter(|e| ids.contains(&e.service_id)).collect();
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for page in n.store.status_pages().await? {
        let mut names: Vec<&str> = entries
            .iter()
            .filter(|e| page.shows(&e.organization, &e.group_name))
            .map(|e| e.display_name.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort();
        let subs = n.store.subscribers(page.id, true).await?;
        if subs.is_empty() {
            continue;
        }
        let what = title.map_or_else(|| names.join(", "), str::to_string);
        let subject = format!("[{}] {}: {}", page.title, update_word(status), what);
        for sub in subs {
            let body = match sub.kind.as_str() {
                "email" => {
                    let mut b = format!("{}: {what}\n\n{message}\n\n", update_word(status));
                    let _ = writeln!(b, "Affected: {}", names.join(", "));
                    let _ = writeln!(b, "Posted {}.\n", when(now));
                    let _ = writeln!(b, "Current status: {}", page_url(&n.base_url, &page.slug));
                    let _ = writeln!(b, "Unsubscribe: {}", link(&n.base_url, &page.slug, &sub, &n.key, "unsubscribe"));
                    b
                }
                _ => serde_json::json!({
                    "page": page.slug,
                    "pageTitle": page.title,
                    "downtimeId": downtime_id,
                    "status": status,
                    "title": what,
                    "message": message,
                    "services": names,
                    "postedAt": rfc3339(now),
                    "url": page_url(&n.base_url, &page.slug),
                })
                .to_string(),
            };
            out.push(NewDelivery { subscriber_id: sub.id, subject: subject.clone(), body });
        }
    }
    Ok(out)
}

/// The link a subscriber follows to confirm (`what` = `confirm`) or to
/// unsubscribe.
pub fn link(base: &str, slug: &str, sub: &SubscriberRow, key: &SecretKey, what: &str) -> String {
    let path = if what == "confirm" { "subscribe/confirm" } else { "unsubscribe" };
    format!("{}/{path}?s={}&t={}", page_url(base, slug), sub.id, token(key, sub, what))
}

fn client() -> &'static reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Send one message; `Err((text, retry))` when it failed.
async fn send_one(
    n: &Notifier,
    pages: &HashMap<i64, PageRow>,
    d: &nines_store::pages::DeliveryRow,
) -> Result<(), (String, bool)> {
    let page = pages.get(&d.subscriber.page_id).ok_or_else(|| ("the page is gone".to_string(), false))?;
    match d.subscriber.kind.as_str() {
        "email" => {
            let id = page.email_channel_id.ok_or_else(|| ("the page has no email channel".to_string(), false))?;
            let ch =
                n.channel(id).await.map_err(|e| (e, true))?.ok_or_else(|| (format!("channel {id} is gone"), false))?;
            let nines_notify::Channel::Email(mail) = ch.as_ref() else {
                return Err((format!("channel {id} is not an email channel"), false));
            };
            // a confirmation mail carries no unsubscribe link: nothing to end yet
            let unsub = d
                .subscriber
                .confirmed_at
                .is_some()
                .then(|| link(&n.base_url, &page.slug, &d.subscriber, &n.key, "unsubscribe"));
            mail.send_text(&d.subscriber.target, &d.subject, &d.body, unsub.as_deref())
                .await
                .map(|_| ())
                .map_err(|e| (e.to_string(), e.retryable()))
        }
        _ => {
            let ts = n.clock.now_ms() / 1000;
            let secret = webhook_secret(&n.key, &d.subscriber);
            let sig = nines_notify::channel::webhook::sign(secret.as_bytes(), ts, d.body.as_bytes());
            let r = client()
                .post(&d.subscriber.target)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Nines-Delivery", format!("page-{}", d.id))
                .header("X-Nines-Event", "status-page.update")
                .header("X-Nines-Timestamp", ts.to_string())
                .header("X-Nines-Signature", sig)
                .body(d.body.clone())
                .send()
                .await
                .map_err(|e| (format!("cannot reach the receiver: {}", nines_notify::error::describe(&e)), true))?;
            let code = r.status().as_u16();
            if r.status().is_success() {
                Ok(())
            } else {
                Err((format!("HTTP {code}"), code == 408 || code == 429 || code >= 500))
            }
        }
    }
}

/// Send what is due to subscribers (every replica; a claim keeps a message
/// to one). Returns how many were sent.
pub async fn send_due(n: &Notifier) -> nines_store::Result<usize> {
    let now = n.clock.now_ms();
    let due = n.store.claim_page_deliveries(now, LEASE_MS, 50).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let pages: HashMap<i64, PageRow> = n.store.status_pages().await?.into_iter().map(|p| (p.id, p)).collect();
    let mut sent = 0;
    for d in &due {
        let now = n.clock.now_ms();
        match send_one(n, &pages, d).await {
            Ok(()) => {
                n.store.page_delivery_attempted(d.id, now, None, None).await?;
                sent += 1;
            }
            Err((why, retry)) => {
                let attempts = d.attempts + 1;
                let retry_at =
                    (retry && attempts < MAX_ATTEMPTS).then(|| now + (30_000i64 << attempts.min(7)).min(3_600_000));
                tracing::warn!(delivery = d.id, page = d.subscriber.page_id, kind = %d.subscriber.kind, error = %why,
                    retry = retry_at.is_some(), "status page subscriber message failed");
                n.store.page_delivery_attempted(d.id, now, Some(&why), retry_at).await?;
            }
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_the_subscriber_and_the_purpose() {
        let key = SecretKey::from_bytes([3; 32]);
        let a = SubscriberRow {
            id: 1,
            page_id: 1,
            kind: "email".into(),
            target: "a@acme.example".into(),
            confirmed_at: None,
            created_at: 5,
        };
        let b = SubscriberRow { id: 2, ..a.clone() };
        assert_eq!(token(&key, &a, "confirm"), token(&key, &a, "confirm"));
        assert_ne!(token(&key, &a, "confirm"), token(&key, &a, "unsubscribe"));
        assert_ne!(token(&key, &a, "confirm"), token(&key, &b, "confirm"));
        assert_eq!(token(&key, &a, "confirm").len(), 32);
    }
}
