//! The dashboard's session cookie as the server reads and writes it, and
//! the small parts of a sign-in that every path shares (the redirect after
//! it, query encoding, TLS behind a proxy). The login pages themselves are
//! in `session` (API key) and `signin` (OpenID Connect); the access rules
//! that read the cookie are in `crate::router`.

use axum::http::{HeaderMap, header};
use std::fmt::Write;

pub const COOKIE: &str = "nines_session";

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
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?")) && !n.contains("//") => n,
        _ => "/ui",
    }
}

/// The session cookie for `token`, `Secure` when the request came over TLS.
pub fn session_cookie(headers: &HeaderMap, token: &str, ttl_ms: i64) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl_ms / 1000,
        if over_tls(headers) { "; Secure" } else { "" }
    )
}

/// Whether the browser reached nines over TLS (a proxy in front says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
