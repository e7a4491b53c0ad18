//! Request extractors: JSON bodies whatever the Content-Type says (the SLA
//! seed's curl examples send `-d` without one), with a size limit and field
//! errors; query strings, strictly; and the caller's API key.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use nines_core::FieldError;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// A JSON body of `T`, parsed strictly.
pub struct JsonBody<T>(pub T);

/// Read the body up to the configured limit; 413 past it, 408 when it does
/// not arrive within the body read timeout (a client trickling its body
/// must not hold a connection for ever).
pub async fn read_body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let wait = req
        .extensions()
        .get::<crate::serve::HttpLimits>()
        .map(|l| l.body_read_timeout)
        .unwrap_or(crate::serve::HttpLimits::default().body_read_timeout);
    let read = tokio::time::timeout(wait, axum::body::to_bytes(req.into_body(), limit)).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request body did not arrive within {} s", wait.as_secs()),
        )
    })?;
    match read {
        Ok(b) => Ok(b),
        Err(e) => {
            // axum wraps http-body's LengthLimitError; walk the chain for it
            let mut too_big = false;
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = cur {
                too_big |= err.to_string().contains("length limit exceeded");
                cur = err.source();
            }
            if too_big {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request body is larger than {limit} bytes"),
                ))
            } else {
                Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("could not read the request body: {e}"),
                ))
            }
        }
    }
}

/// Parse JSON into `T`, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body is empty; expected a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(v) => {
            // a NUL can only arrive escaped; look for it only then
            if bytes.windows(6).any(|w| w == b"\\u0000")
                && let Some(field) = serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .as_ref()
                    .and_then(nines_core::wire::nul_field)
            {
                return Err(nines_core::wire::nul_error(field).into());
            }
            Ok(v)
        }
        Err(e) => {
            let inner = e.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    format!("the body is not valid JSON: {inner}"),
                ));
            }
            let fe = nines_core::apply::path_error("", &e);
            Err(ApiError::from(fe))
        }
    }
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let app = AppState::from_ref(state);
        let bytes = read_body(req, app.config.max_body_bytes).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The caller named by the request's `X-API-Key` or `Authorization: Bearer` header.
pub async fn key_caller(app: &AppState, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("missing API key: send it in the X-API-Key header or as Authorization: Bearer")
                .field("X-API-Key")
        })?;
    app.auth.authenticate(key).await
}

/// The caller [`crate::router::authorize`] found and checked; authenticated
/// here only for a router built without that middleware.
impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        key_caller(&AppState::from_ref(state), &parts.headers).await
    }
}

/// Parse a query string strictly: unknown parameters are errors.
pub fn parse_query<T: for<'de> Deserialize<'de>>(raw: Option<String>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.contains("%00") {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
        if let Some((k, _)) = pairs.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(nines_core::wire::nul_error(k.replace('\0', "\\u0000")).into());
        }
    }
    serde_urlencoded::from_str::<T>(&raw).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).unwrap_or("query").to_string();
        ApiError::from(FieldError::new(field, "invalid_query", format!("query string: {msg}")))
    })
}
