//! The login page, login with an API key, sign-out. The cookie itself is
//! read and written in `super::cookie`.
//!
//! The key is verified by [`crate::auth::Auth`] like any API request, then
//! forgotten: the browser gets a random session token (HttpOnly,
//! SameSite=Strict, path `/`), the database keeps only the token's SHA-256.
//! Revoking the key ends its sessions; signing out deletes the session.
//! Signing in through the OpenID Connect provider (`super::signin`) ends in
//! the same cookie; signing out of such a session also ends the person's
//! session at the provider. `--disable-key-login` leaves only the provider.

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
use nines_store::ui::UiSession;

use super::cookie::{OLD_COOKIE_GONE, cookie_tokens, safe_next, session_cookie, url_encode};

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// The login page: the provider's button when there is one, the key form
/// unless key login is off.
pub fn login_html(s: &AppState, next: &str, error: Option<&str>) -> String {
    let cfg = &s.config.sign_in;
    let mut out = String::from(r#"<section class="login"><h1>Sign in to the nines dashboard</h1>"#);
    if let Some(e) = error {
        let _ = write!(out, r#"<p class="error" role="alert" id="login-error">{}</p>"#, esc(e));
    }
    if let Some(o) = &cfg.oidc {
        let _ = write!(
            out,
            r#"<p><a class="button sso" id="sso" href="/ui/login/oidc?next={}">Sign in with {}</a></p>"#,
            esc(&url_encode(next)),
            esc(&o.provider_name)
        );
    }
    if cfg.key_login {
        if cfg.oidc.is_some() {
            out.push_str(r#"<p class="hint">Or with an API key:</p>"#);
        }
        out.push_str(&form(next, error));
    } else if cfg.oidc.is_none() {
        out.push_str(r#"<p>Signing in with an API key is switched off on this server, and no sign-in provider is configured.</p>"#);
    }
    out.push_str("</section>");
    out
}

fn form(next: &str, error: Option<&str>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<form method="post" action="/ui/login"><input type="hidden" name="next" value="{}"><label for="key">API key</label><input id="key" name="key" type="password" autocomplete="current-password" required spellcheck="false"{}><p class="hint" id="key-hint">Any key of your organization; a read-only key is enough to look. The key itself is not kept in the browser: you get a session cookie.</p><button type="submit">Sign in</button></form>"#,
        esc(next),
        if error.is_some() {
            r#" aria-describedby="login-error key-hint" aria-invalid="true""#
        } else {
            r#" aria-describedby="key-hint""#
        }
    );
    s
}

pub async fn login_page(State(s): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let t0 = Instant::now();
    let q: NextQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let head = Head { title: "Sign in", nav: Nav::None, caller: None, live_after: None };
    html(layout(&head, &login_html(&s, safe_next(q.next.as_deref()), None)), t0)
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
    let page = |msg: &str, status: StatusCode| {
        let head = Head { title: "Sign in", nav: Nav::None, caller: None, live_after: None };
        let mut r = html(layout(&head, &login_html(&s, &next, Some(msg))), t0);
        *r.status_mut() = status;
        r
    };
    if !s.config.sign_in.key_login {
        let msg = match &s.config.sign_in.oidc {
            Some(o) => format!(
                "Signing in with an API key is switched off on this server; sign in with {}. API keys still work for the API.",
                o.provider_name
            ),
            None => "Signing in with an API key is switched off on this server.".to_string(),
        };
        return Ok(page(&msg, StatusCode::FORBIDDEN));
    }
    let caller = match s.auth.authenticate(f.key.trim()).await {
        Ok(c) => c,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            return Ok(page("That API key is not valid (or it was revoked).", StatusCode::UNAUTHORIZED));
        }
        Err(e) => return Err(e.into()),
    };
    // the dashboard reads; a key that may not read (an agent's) cannot sign in
    if !crate::access::Access::Read.allows(caller.role) {
        let msg = format!(
            "A {} key cannot read the dashboard; sign in with a read-only, operator or admin key.",
            caller.role.as_str()
        );
        return Ok(page(&msg, StatusCode::FORBIDDEN));
    }
    let now = s.clock.now_ms();
    let ttl = s.config.sign_in.session_ttl_ms;
    let token = s.store.create_ui_session(&caller.key_id, now, now + ttl).await?;
    tracing::info!(key_id = %caller.key_id, "dashboard sign-in");
    let cookie = session_cookie(&headers, &token, ttl);
    let mut r = see_other(&next);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
        r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static(OLD_COOKIE_GONE));
    }
    Ok(r)
}

pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Page {
    same_origin(&headers)?;
    let mut id_token = None;
    for token in cookie_tokens(&headers) {
        if let Some(UiSession::Person(p)) = s.store.ui_session(token, s.clock.now_ms()).await? {
            tracing::info!(key_id = %p.key_id, "dashboard sign-out");
            id_token = Some(p.id_token);
        }
        s.store.delete_ui_session(token).await?;
    }
    // a person's session at the provider ends too, or the next "Sign in
    // with ..." would let them straight back in
    let provider_logout = match (&s.oidc, id_token) {
        (Some(p), Some(t)) => {
            let back = format!("{}/ui/login", super::signin::origin(&s, &headers));
            p.end_session_url(&t, &back).await
        }
        _ => None,
    };
    let mut r = match provider_logout {
        // a page, not a redirect: the dashboard's CSP (form-action 'self')
        // would stop a form post redirected to another origin
        Some(url) => {
            super::signin::continue_page("Signing out", "Signed out of nines; signing out at the provider…", &url)
        }
        None => see_other("/ui/login"),
    };
    r.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("nines_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static(OLD_COOKIE_GONE));
    Ok(r.into_response())
}
