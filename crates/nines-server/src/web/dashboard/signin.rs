//! Signing in through the OpenID Connect provider, and switching the
//! organization a person looks at.
//!
//! `GET /ui/login/oidc` starts the authorization-code flow: a fresh
//! `state`, `nonce` and PKCE verifier are kept server side (by the SHA-256
//! of `state`, 10 minutes, once), and the browser goes to the provider with
//! a short-lived cookie holding the state. The provider sends the browser
//! back to `/ui/login/oidc/callback`; that request comes from another site,
//! so the state cookie is `SameSite=Lax` (a Strict cookie would not be sent
//! with it). The callback must bring the same state as the cookie: a sign-in
//! started in one browser cannot be finished in another (login CSRF).
//!
//! The session cookie the callback sets is the dashboard's usual
//! `SameSite=Strict` one. A Strict cookie is not sent on a redirect chain
//! that began on another site, so the callback answers with a small page
//! that moves on to the dashboard itself (a same-site navigation) instead
//! of a redirect.
//!
//! The ID token is verified by [`crate::oidc::Provider`]; the person's
//! groups give their organizations and roles ([`crate::oidc::memberships`]).
//! Nobody without a mapped group gets a session.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use nines_store::ui::{OidcLogin, PersonSession};
use serde::Deserialize;
use std::fmt::Write;
use std::time::Instant;

use super::cookie::{OLD_COOKIE_GONE, cookie_tokens, safe_next, session_cookie, url_encode};
use super::{Head, Nav, Page, UiError, html, layout, same_origin, see_other};
use crate::AppState;
use crate::error::ApiError;
use crate::oidc::{self, ProviderError};
use crate::web::html::esc;

/// The cookie that ties a sign-in under way to the browser that began it.
const LOGIN_COOKIE: &str = "nines_login";
/// How long a sign-in may take at the provider.
const LOGIN_TTL_MS: i64 = 10 * 60_000;

/// Where this nines is reached: `--public-url`, else the request's own
/// origin (its Host header; https when a proxy says so).
pub fn origin(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = s.config.notify.public_url.as_deref().filter(|u| !u.is_empty()) {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
        .unwrap_or("localhost");
    let scheme = if super::cookie::over_tls(headers) { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// A page that moves the browser on to `url` by itself (and offers the link).
pub fn continue_page(title: &str, message: &str, url: &str) -> Response {
    let head = Head { title, nav: Nav::None, caller: None, live_after: None };
    let body = format!(
        r#"<section class="login"><h1>{}</h1><p>{}</p><p><a class="button" id="continue" href="{}">Continue</a></p></section>"#,
        esc(title),
        esc(message),
        esc(url)
    );
    let page = layout(&head, &body).replacen(
        "</head>",
        &format!(r#"<meta http-equiv="refresh" content="0;url={}"></head>"#, esc(url)),
        1,
    );
    html(page, Instant::now())
}

fn login_cookie(headers: &HeaderMap, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if super::cookie::over_tls(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={value}; Path=/ui/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .expect("state values are base64url")
}

fn provider(s: &AppState) -> Result<&oidc::Provider, UiError> {
    s.oidc.as_deref().ok_or_else(|| {
        UiError(ApiError::not_found("no sign-in provider is configured on this server (see --oidc-issuer)"))
    })
}

fn provider_error(e: ProviderError) -> UiError {
    tracing::warn!(error = %e, "sign-in through the provider failed");
    let status = match e {
        ProviderError::Unreachable { .. } | ProviderError::Invalid { .. } => StatusCode::BAD_GATEWAY,
        ProviderError::Refused(_) | ProviderError::Token(_) => StatusCode::UNAUTHORIZED,
    };
    UiError(ApiError::new(status, "sign_in_failed", format!("{e}. Start again from the sign-in page.")))
}

fn bad_state(message: &str) -> UiError {
    UiError(
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("{message} Start again from the sign-in page."))
            .field("state"),
    )
}

#[derive(Deserialize, Default)]
struct StartQuery {
    next: Option<String>,
}

pub async fn start(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let p = provider(&s)?;
    let q: StartQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let (state, nonce, verifier) = (oidc::random_b64(32), oidc::random_b64(32), oidc::random_b64(32));
    let redirect_uri = format!("{}/ui/login/oidc/callback", origin(&s, &headers));
    let url = p.authorize_url(&redirect_uri, &state, &nonce, &verifier).await.map_err(provider_error)?;
    let now = s.clock.now_ms();
    let login =
        OidcLogin { nonce, code_verifier: verifier, redirect_uri, next_path: safe_next(q.next.as_deref()).to_string() };
    if !s.store.create_oidc_login(&state, &login, now, now + LOGIN_TTL_MS).await? {
        tracing::warn!("too many sign-ins under way; refusing new ones for now");
        return Err(UiError(ApiError::unavailable("too many sign-ins are under way; try again in a few minutes")));
    }
    let mut r = see_other(&url);
    r.headers_mut().append(header::SET_COOKIE, login_cookie(&headers, &state, LOGIN_TTL_MS / 1000));
    Ok(r)
}

#[derive(Deserialize, Default)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

pub async fn callback(State(s): State<AppState>, headers: HeaderMap, RawQuery(q): RawQuery) -> Page {
    let p = provider(&s)?;
    let q: CallbackQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let Some(state) = q.state.filter(|v| !v.is_empty() && v.len() <= 128) else {
        return Err(bad_state("The provider's answer holds no state."));
    };
    let in_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .any(|(k, v)| k == LOGIN_COOKIE && oidc::same_secret(v.trim(), &state));
    if !in_cookie {
        return Err(bad_state(
            "This sign-in was not started in this browser, or another one was started since: its state does not match.",
        ));
    }
    let now = s.clock.now_ms();
    let Some(login) = s.store.take_oidc_login(&state, now).await? else {
        return Err(bad_state("This sign-in is unknown, was already finished, or took longer than 10 minutes."));
    };
    if let Some(e) = q.error {
        let why = q.error_description.map(|d| format!("{e}: {d}")).unwrap_or(e);
        return Err(UiError(
            ApiError::unauthorized(format!("The provider did not sign you in ({why}).")).field("error"),
        ));
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(UiError(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", "the provider sent no code").field("code"),
        ));
    };
    let id_token = p.exchange(&code, &login.redirect_uri, &login.code_verifier).await.map_err(provider_error)?;
    let claims = p.verify(&id_token, &login.nonce).await.map_err(provider_error)?;
    let name = oidc::display_name(&claims);
    let groups = oidc::groups_of(&claims, &p.config.roles.groups_claim);
    let memberships = oidc::memberships(&groups, &p.config.roles);
    // the sign-in under way is over, however it ends
    let gone = vec![login_cookie(&headers, "", 0)];
    if memberships.is_empty() {
        tracing::info!(user = %name, groups = groups.len(), "signed in at the provider, but no group gives access");
        return Ok(no_access(&s, &name, &groups, gone));
    }
    // a platform admin starts with every organization, others with the first
    let active = if memberships.contains_key("*") {
        "*".to_string()
    } else {
        memberships.keys().next().cloned().unwrap_or_default()
    };
    let sub = claims["sub"].as_str().unwrap_or_default();
    let user = claims["preferred_username"].as_str().filter(|u| !u.is_empty()).unwrap_or(sub);
    let person = PersonSession {
        key_id: format!("user:{user}"),
        subject: sub.to_string(),
        display_name: name,
        email: claims["email"].as_str().map(str::to_string),
        memberships,
        active_org: active,
        id_token,
    };
    let ttl = s.config.sign_in.session_ttl_ms;
    let token = s.store.create_person_session(&person, now, now + ttl).await?;
    tracing::info!(key_id = %person.key_id, organizations = person.memberships.len(), "dashboard sign-in through the provider");
    let mut r = continue_page("Signed in", &format!("Signed in as {}.", person.display_name), &login.next_path);
    let h = r.headers_mut();
    for c in gone {
        h.append(header::SET_COOKIE, c);
    }
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&headers, &token, ttl)) {
        h.append(header::SET_COOKIE, v);
    }
    h.append(header::SET_COOKIE, HeaderValue::from_static(OLD_COOKIE_GONE));
    Ok(r)
}

/// 403: the provider knows the person, nines has nothing for them.
fn no_access(s: &AppState, name: &str, groups: &[String], cookies: Vec<HeaderValue>) -> Response {
    let suffixes: Vec<String> = s
        .oidc
        .iter()
        .flat_map(|p| p.config.roles.suffixes.iter().map(|(x, _)| format!("<organization>-{x}")))
        .collect();
    let mut body = String::from(r#"<section class="login"><h1>No access to nines</h1>"#);
    let _ = write!(
        body,
        r#"<p class="error" role="alert" id="no-access">Signed in as {}, but none of your groups gives access to nines: {}.</p><p>Access comes from groups named {}. Ask whoever manages your groups to add you to one.</p><p><a href="/ui/login">Back to sign-in</a></p></section>"#,
        esc(name),
        match groups.len() {
            0 => "you are in no group".to_string(),
            // a directory may put someone in hundreds of groups
            n if n > 20 => format!("{} and {} more", esc(&groups[..20].join(", ")), n - 20),
            _ => esc(&groups.join(", ")).to_string(),
        },
        esc(&suffixes.join(", "))
    );
    let head = Head { title: "No access", nav: Nav::None, caller: None, live_after: None };
    let mut r = html(layout(&head, &body), Instant::now());
    *r.status_mut() = StatusCode::FORBIDDEN;
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

#[derive(Deserialize)]
struct OrgForm {
    organization: String,
}

/// The header's organization switch: the person's session looks at another
/// of their organizations from now on.
pub async fn switch_organization(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Page {
    same_origin(&headers)?;
    if body.len() > 16 * 1024 {
        return Err(UiError(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "form too large")));
    }
    let f: OrgForm = serde_urlencoded::from_bytes(&body).map_err(|e| {
        UiError(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("organization form: {e}"))
                .field("organization"),
        )
    })?;
    let now = s.clock.now_ms();
    let mut signed_in = false;
    for token in cookie_tokens(&headers) {
        if s.store.ui_session(token, now).await?.is_some() {
            signed_in = true;
        }
        if s.store.set_session_org(token, &f.organization, now).await? {
            return Ok(see_other("/ui"));
        }
    }
    if !signed_in {
        return Ok(see_other(&format!("/ui/login?next={}", url_encode("/ui"))));
    }
    Err(UiError(
        ApiError::forbidden(format!("your groups give you no role in organization {:?}", f.organization))
            .field("organization"),
    ))
}
