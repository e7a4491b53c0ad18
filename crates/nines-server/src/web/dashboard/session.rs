//! Login with an API key, and the session cookie it leaves.
//!
//! The key is verified by [`crate::auth::Auth`] like any API request, then
//! forgotten: the browser gets a random session token (HttpOnly,
//! SameSite=Strict, path `/ui`), the database keeps only the token's SHA-256.
//! Revoking the key ends its sessions; signing out deletes the session.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::fmt::Write;
use std::time::Instant;

use super::{Head, Nav, Page, UiError, html, layout, same_origin, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::web::html::esc;

pub const COOKIE: &str = "nines_session";
/// How long a session lasts; signing in again starts a new one.
const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// The session token of the request's cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    cookie_tokens(headers).next()
}

/// Every session token the request carries: a browser that signed in
/// before the cookie moved from `/ui` to `/` may send both.
pub fn cookie_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Expires the cookie of earlier releases (`Path=/ui`), so it cannot shadow
/// the current one.
pub const OLD_COOKIE_GONE: &str = "nines_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0";

/// Percent-encode for a query value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Only paths of the dashboard itself: no open redirect.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?")) && !n.contains("//") => n,
        _ => "/ui",
    }
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

fn form(next: &str, error: Option<&str>) -> String {
    let mut s = String::from(r#"<section class="login"><h1>Sign in to the nines dashboard</h1>"#);
    if let Some(e) = error {
        let _ = write!(s, r#"<p class="error" role="alert" id="login-error">{}</p>"#, esc(e));
    }
    let _ = write!(
        s,
        r#"<form method="post" action="/ui/login"><input type="hidden" name="next" value="{}"><label for="key">API key</label><input id="key" name="key" type="password" autocomplete="current-password" required spellcheck="false"{}><p class="hint" id="key-hint">Any key of your organization; a read-only key is enough to look. The key itself is not kept in the browser: you get a session cookie.</p><button type="submit">Sign in</button></form></section>"#,
        esc(next),
        if error.is_some() {
            r#" aria-describedby="login-error key-hint" aria-invalid="true""#
        } else {
            r#" aria-describedby="key-hint""#
        }
    );
    s
}

pub async fn login_page(RawQuery(q): RawQuery) -> Response {
    let t0 = Instant::now();
    let q: NextQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let head = Head { title: "Sign in", nav: Nav::None, caller: None, live_after: None };
    html(layout(&head, &form(safe_next(q.next.as_deref()), None)), t0)
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
    next: Option<String>,
}

pub async fn login(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Page {
    let t0 = Instant::now();
    same_origin(&headers)?;
    if body.len() > 16 * 1024 {
        return Err(UiError(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "form too large")));
    }
    let f: LoginForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        UiError(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("login form: {e}")).field("key"))
    })?;
    let next = safe_next(f.next.as_deref()).to_string();
    let caller = match s.auth.authenticate(f.key.trim()).await {
        Ok(c) => c,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let head = Head { title: "Sign in", nav: Nav::None, caller: None, live_after: None };
            let mut r = html(layout(&head, &form(&next, Some("That API key is not valid (or it was revoked)."))), t0);
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return Ok(r);
        }
        Err(e) => return Err(e.into()),
    };
    // the dashboard reads; a key that may not read (an agent's) cannot sign in
    if !crate::access::Access::Read.allows(caller.role) {
        let head = Head { title: "Sign in", nav: Nav::None, caller: None, live_after: None };
        let msg = format!(
            "A {} key cannot read the dashboard; sign in with a read-only, operator or admin key.",
            caller.role.as_str()
        );
        let mut r = html(layout(&head, &form(&next, Some(&msg))), t0);
        *r.status_mut() = StatusCode::FORBIDDEN;
        return Ok(r);
    }
    let now = s.clock.now_ms();
    let token = s.store.create_ui_session(&caller.key_id, now, now + SESSION_TTL_MS).await?;
    tracing::info!(key_id = %caller.key_id, "dashboard sign-in");
    let secure = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https");
    let cookie = format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL_MS / 1000,
        if secure { "; Secure" } else { "" }
    );
    let mut r = see_other(&next);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
        r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static(OLD_COOKIE_GONE));
    }
    Ok(r)
}

pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Page {
    same_origin(&headers)?;
    for token in cookie_tokens(&headers) {
        s.store.delete_ui_session(token).await?;
    }
    let mut r = see_other("/ui/login");
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("nines_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static(OLD_COOKIE_GONE));
    Ok(r.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_dashboard() {
        assert_eq!(safe_next(Some("/ui/slo?sort=name")), "/ui/slo?sort=name");
        assert_eq!(safe_next(Some("https://evil.example/")), "/ui");
        assert_eq!(safe_next(Some("//evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("/uievil")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; nines_session=abc ; b=2"));
        assert_eq!(cookie_token(&h), Some("abc"));
        assert_eq!(url_encode("/ui/slo?sort=a b"), "/ui/slo%3Fsort%3Da%20b");
    }
}
