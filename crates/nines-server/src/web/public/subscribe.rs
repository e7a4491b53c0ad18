//! Subscribers of a status page, and the messages they get.
//!
//! - **Email**, by anyone, on the page: the address gets a link to confirm
//!   (double opt-in); only confirmed addresses get updates, each with an
//!   unsubscribe link (and `List-Unsubscribe` for one-click mail clients).
//!   The page answers the same whether an address was known or not.
//! - **Webhooks**, added by an admin through the API: a JSON POST per
//!   update, signed like notification webhooks (`X-Nines-Signature`) with a
//!   secret shown once when the subscription is made.
//!
//! Links and secrets are derived from the server's key and the
//! subscriber's id ([`crate::notify::seal::SecretKey::derive`]), so nothing
//! that grants access is stored. Confirming and unsubscribing take a POST
//! (the link opens a page with a button): mail scanners that follow links
//! do not act for the reader.
//!
//! Messages are queued in the transaction that causes them (a public
//! update of a downtime, a confirmation) and sent by the notifier loop,
//! with retries; see [`crate::notify::pages`], which also derives the
//! links and secrets.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use nines_core::FieldError;
use nines_core::clock::rfc3339;
use nines_core::wire::ErrorBody;
use nines_store::pages::{PageRow, SubscriberRow};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::ToSchema;

use super::cache::Cache;
use super::pages::{Views, own_page};
use super::render::notice;
use super::snapshot::Snapshot;
use super::{HTML, Sel, respond};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::notify::pages::{link, page_url, token, webhook_secret};
use crate::web::html::esc;

/// Whether `a` reads as an email address: one `@`, a dotted domain, no
/// spaces, quotes or angle brackets, at most 254 characters.
pub fn check_email(a: &str) -> Result<(), String> {
    if a.len() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let Some((local, domain)) = a.split_once('@') else {
        return Err("must be an address like name@example.com".into());
    };
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err("must be an address like name@example.com".into());
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c)) {
        return Err("must not contain spaces, quotes, brackets or separators".into());
    }
    Ok(())
}

/// The configured page a public subscription request is for (an
/// organization's page nobody configured has no subscribers).
async fn configured(
    s: &AppState,
    cache: &Arc<Cache>,
    views: &Views,
    sel: &Sel,
    headers: &HeaderMap,
) -> ApiResult<(Arc<Snapshot>, PageRow)> {
    let snap = super::page_snap(s, cache, views, sel, headers).await?;
    let row = snap
        .meta
        .slug
        .as_deref()
        .and_then(|slug| snap.pages.iter().find(|p| p.slug == slug))
        .cloned()
        .ok_or_else(|| ApiError::not_found("this page has no subscriptions"))?;
    Ok((snap, row))
}

fn html(t: Instant, status: StatusCode, body: String) -> Response {
    let mut r = respond(t, HTML, "no-store", None, Bytes::from(body));
    *r.status_mut() = status;
    r
}

fn confirm_mail(
    base: &str,
    page: &PageRow,
    sub: &SubscriberRow,
    key: &crate::notify::seal::SecretKey,
) -> (String, String) {
    let subject = format!("Confirm your subscription to {}", page.title);
    let body = format!(
        "Someone, hopefully you, asked to get incident updates of {title} at this address.\n\n\
         To confirm, open this link and press the button:\n{confirm}\n\n\
         If it was not you, ignore this mail: nothing will be sent without the confirmation.\n\n\
         {page}\n",
        title = page.title,
        confirm = link(base, &page.slug, sub, key, "confirm"),
        page = page_url(base, &page.slug),
    );
    (subject, body)
}

#[derive(Deserialize)]
struct SubscribeForm {
    email: Option<String>,
}

/// `POST {page}/subscribe` (the page's form): queue a confirmation mail.
pub async fn subscribe(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    sel: Sel,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let t = Instant::now();
    let (snap, page) = configured(&s, &cache, &views, &sel, &headers).await?;
    if page.email_channel_id.is_none() {
        return Err(ApiError::not_found("this page offers no email subscription"));
    }
    if body.len() > 4096 {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "form too large"));
    }
    let f: SubscribeForm = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::from(FieldError::invalid("email", format!("not a form: {e}"))))?;
    let address = f.email.as_deref().map(str::trim).unwrap_or("").to_ascii_lowercase();
    if let Err(why) = check_email(&address) {
        let body = format!(
            r#"<p class="error" role="alert">That address cannot be used: it {}.</p><p><a href="{}/">Back</a></p>"#,
            esc(&why),
            esc(&snap.meta.prefix)
        );
        return Ok(html(t, StatusCode::UNPROCESSABLE_ENTITY, notice(&snap, "Subscription", &body)));
    }
    let n = &s.notifier;
    let now = s.clock.now_ms();
    s.store
        .add_subscriber(
            page.id,
            "email",
            &address,
            false,
            |sub| Some(confirm_mail(&n.base_url, &page, sub, &n.key)),
            now,
        )
        .await?;
    // the same answer whether the address was new, waiting or confirmed
    let body = format!(
        "<p>If <strong>{}</strong> is not subscribed yet, a mail with a link to confirm is on its way. Updates start once you confirm.</p>",
        esc(&address)
    );
    Ok(html(t, StatusCode::OK, notice(&snap, "Check your inbox", &body)))
}

#[derive(Deserialize, Default)]
struct LinkQuery {
    s: Option<String>,
    t: Option<String>,
}

/// The subscriber a link names, when its token is right.
async fn from_link(s: &AppState, page: &PageRow, q: Option<String>, what: &str) -> ApiResult<Option<SubscriberRow>> {
    let q: LinkQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let (Some(id), Some(tok)) = (q.s.and_then(|x| x.parse::<i64>().ok()), q.t) else { return Ok(None) };
    let Some(sub) = s.store.subscriber(id).await?.filter(|x| x.page_id == page.id) else { return Ok(None) };
    let want = token(&s.notifier.key, &sub, what);
    let same = want.len() == tok.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(want.as_bytes(), tok.as_bytes()).is_ok();
    Ok(same.then_some(sub))
}

fn bad_link(snap: &Snapshot, t: Instant) -> Response {
    let body = format!(
        r#"<p class="error" role="alert">This link is not valid (any more). Subscriptions that were ended cannot be resumed by an old link: subscribe again on <a href="{}/">the page</a>.</p>"#,
        esc(&snap.meta.prefix)
    );
    html(t, StatusCode::NOT_FOUND, notice(snap, "Subscription", &body))
}

fn button_page(snap: &Snapshot, action: &str, q: &str, heading: &str, text: &str, button: &str) -> String {
    let body = format!(
        r#"<p>{}</p><form method="post" action="{}/{action}?{}"><button type="submit">{}</button></form>"#,
        text,
        esc(&snap.meta.prefix),
        esc(q),
        esc(button)
    );
    notice(snap, heading, &body)
}

/// What a link in a mail does: confirm the subscription or end it.
#[derive(Clone, Copy)]
enum LinkAction {
    Confirm,
    Unsubscribe,
}

impl LinkAction {
    /// The token's purpose and the path under the page.
    fn purpose(self) -> &'static str {
        match self {
            LinkAction::Confirm => "confirm",
            LinkAction::Unsubscribe => "unsubscribe",
        }
    }
    fn path(self) -> &'static str {
        match self {
            LinkAction::Confirm => "subscribe/confirm",
            LinkAction::Unsubscribe => "unsubscribe",
        }
    }
}

/// A link's page: with `act` false, a button that posts back to the same
/// link; with `act` true (the button, or a mail client's one-click
/// `List-Unsubscribe-Post`), the action itself.
#[allow(clippy::too_many_arguments)]
async fn link_page(
    s: AppState,
    cache: Arc<Cache>,
    views: Arc<Views>,
    sel: Sel,
    headers: HeaderMap,
    q: Option<String>,
    what: LinkAction,
    act: bool,
) -> ApiResult<Response> {
    let t = Instant::now();
    let (snap, page) = configured(&s, &cache, &views, &sel, &headers).await?;
    let Some(sub) = from_link(&s, &page, q.clone(), what.purpose()).await? else { return Ok(bad_link(&snap, t)) };
    let (target, title) = (esc(&sub.target), esc(&page.title));
    let body = match (what, act) {
        (LinkAction::Confirm, false) => button_page(
            &snap,
            what.path(),
            &q.unwrap_or_default(),
            "Confirm your subscription",
            &format!("Get incident updates of {title} at <strong>{target}</strong>?"),
            "Confirm",
        ),
        (LinkAction::Unsubscribe, false) => button_page(
            &snap,
            what.path(),
            &q.unwrap_or_default(),
            "Unsubscribe",
            &format!("Stop incident updates of {title} to <strong>{target}</strong>?"),
            "Unsubscribe",
        ),
        (LinkAction::Confirm, true) => {
            s.store.confirm_subscriber(sub.id, s.clock.now_ms()).await?;
            let text = format!(
                "<p><strong>{target}</strong> now gets incident updates of {title}. Every mail has a link to unsubscribe.</p>"
            );
            notice(&snap, "You are subscribed", &text)
        }
        (LinkAction::Unsubscribe, true) => {
            s.store.delete_subscriber(sub.id).await?;
            notice(
                &snap,
                "You are unsubscribed",
                &format!("<p><strong>{target}</strong> gets no more updates of {title}.</p>"),
            )
        }
    };
    Ok(html(t, StatusCode::OK, body))
}

/// `GET {page}/subscribe/confirm?s=…&t=…`: a button that confirms.
pub async fn confirm_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    sel: Sel,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    link_page(s, cache, views, sel, headers, q, LinkAction::Confirm, false).await
}

/// `POST {page}/subscribe/confirm?s=…&t=…`.
pub async fn confirm(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    sel: Sel,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    link_page(s, cache, views, sel, headers, q, LinkAction::Confirm, true).await
}

/// `GET {page}/unsubscribe?s=…&t=…`: a button that unsubscribes.
pub async fn unsubscribe_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    sel: Sel,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    link_page(s, cache, views, sel, headers, q, LinkAction::Unsubscribe, false).await
}

/// `POST {page}/unsubscribe?s=…&t=…` (the button, or a mail client's
/// one-click `List-Unsubscribe-Post`).
pub async fn unsubscribe(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    Extension(views): Extension<Arc<Views>>,
    sel: Sel,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    link_page(s, cache, views, sel, headers, q, LinkAction::Unsubscribe, true).await
}

// ---- the API ----

/// `POST /api/v1/status-pages/{slug}/subscribers`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSubscriber {
    /// `webhook` or `email`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// For `webhook`: where updates are POSTed (http or https).
    pub url: Option<String>,
    /// For `email`: the address; it gets a link to confirm first.
    pub address: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriberView {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// The address or URL.
    pub target: String,
    pub confirmed: bool,
    pub created_at: String,
    /// Webhooks only, in the answer that creates one: the secret its
    /// messages are signed with (`X-Nines-Signature`, as notification
    /// webhooks). Not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscribersView {
    pub items: Vec<SubscriberView>,
    /// Messages to the page's subscribers: sent, waiting (or retrying) and given up.
    pub sent: i64,
    pub waiting: i64,
    pub failed: i64,
}

fn sub_view(r: &SubscriberRow, secret: Option<String>) -> SubscriberView {
    SubscriberView {
        id: r.id,
        kind: r.kind.clone(),
        target: r.target.clone(),
        confirmed: r.confirmed_at.is_some(),
        created_at: rfc3339(r.created_at),
        secret,
    }
}

/// List a status page's subscribers
///
/// Email subscribers (confirmed or waiting for their confirmation) and
/// webhooks, with the counts of messages sent, waiting and given up.
#[utoipa::path(get, path = "/api/v1/status-pages/{slug}/subscribers", tag = "status-page",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 200, body = SubscribersView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_subscribers(State(s): State<AppState>, caller: Caller, sel: Sel) -> ApiResult<Json<SubscribersView>> {
    let page = own_page(&s, &caller, sel.get("slug")).await?;
    let items = s.store.subscribers(page.id, false).await?.iter().map(|r| sub_view(r, None)).collect();
    let (sent, waiting, failed) = s.store.page_delivery_counts(page.id).await?;
    Ok(Json(SubscribersView { items, sent, waiting, failed }))
}

/// Add a subscriber to a status page
///
/// `{"type": "webhook", "url": …}` subscribes a receiver at once; the
/// answer holds the secret its messages are signed with, shown this once.
/// `{"type": "email", "address": …}` sends the address a link to confirm
/// (the page needs an `emailChannelId`); updates start once confirmed. An
/// existing subscription of the same target is answered as it is (200).
#[utoipa::path(post, path = "/api/v1/status-pages/{slug}/subscribers", tag = "status-page", request_body = NewSubscriber,
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 201, body = SubscriberView), (status = 200, body = SubscriberView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn add_subscriber(
    State(s): State<AppState>,
    caller: Caller,
    sel: Sel,
    JsonBody(b): JsonBody<NewSubscriber>,
) -> ApiResult<(StatusCode, Json<SubscriberView>)> {
    let page = own_page(&s, &caller, sel.get("slug")).await?;
    let now = s.clock.now_ms();
    let n = &s.notifier;
    let (row, created) = match b.kind.as_deref() {
        Some("webhook") => {
            let url = b.url.as_deref().map(str::trim).unwrap_or("");
            if url.is_empty() {
                return Err(FieldError::missing("url").into());
            }
            let parsed =
                reqwest::Url::parse(url).map_err(|e| ApiError::from(FieldError::invalid("url", e.to_string())))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                return Err(FieldError::invalid("url", "must be an http:// or https:// URL with a host").into());
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(FieldError::invalid("url", "must not hold credentials").into());
            }
            if b.address.is_some() {
                return Err(FieldError::invalid("address", "is for type email").into());
            }
            s.store.add_subscriber(page.id, "webhook", parsed.as_str(), true, |_| None, now).await?
        }
        Some("email") => {
            let a = b.address.as_deref().map(str::trim).unwrap_or("").to_ascii_lowercase();
            if a.is_empty() {
                return Err(FieldError::missing("address").into());
            }
            check_email(&a).map_err(|r| FieldError::invalid("address", r))?;
            if b.url.is_some() {
                return Err(FieldError::invalid("url", "is for type webhook").into());
            }
            if page.email_channel_id.is_none() {
                return Err(FieldError::invalid(
                    "type",
                    "this page has no emailChannelId: set one on the page to send mail",
                )
                .into());
            }
            s.store
                .add_subscriber(
                    page.id,
                    "email",
                    &a,
                    false,
                    |sub| Some(confirm_mail(&n.base_url, &page, sub, &n.key)),
                    now,
                )
                .await?
        }
        Some(other) => {
            return Err(FieldError::invalid("type", format!("must be webhook or email, not {other:?}")).into());
        }
        None => return Err(FieldError::missing("type").into()),
    };
    let secret = (created && row.kind == "webhook").then(|| webhook_secret(&n.key, &row));
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(sub_view(&row, secret))))
}

/// Remove a subscriber of a status page
///
/// The subscriber and the messages still waiting for it go.
#[utoipa::path(delete, path = "/api/v1/status-pages/{slug}/subscribers/{id}", tag = "status-page",
    params(("slug" = String, Path, description = "The page's slug"), ("id" = i64, Path, description = "Subscriber id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete_subscriber(State(s): State<AppState>, caller: Caller, sel: Sel) -> ApiResult<StatusCode> {
    let page = own_page(&s, &caller, sel.get("slug")).await?;
    let id = sel.get("id");
    let missing = || ApiError::not_found(format!("no subscriber {id:?} on page {:?}", page.slug)).field("id");
    let id: i64 = id.parse().map_err(|_| missing())?;
    let sub = s.store.subscriber(id).await?.filter(|x| x.page_id == page.id).ok_or_else(missing)?;
    s.store.delete_subscriber(sub.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_with_reasons() {
        assert!(check_email("ops@acme.example").is_ok());
        assert!(check_email("ops@localhost").is_err());
        assert!(check_email("a b@acme.example").unwrap_err().contains("spaces"));
        assert!(check_email("<x@acme.example>").is_err());
        assert!(check_email("x@@acme.example").is_err());
    }
}
