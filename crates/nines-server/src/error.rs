//! API errors: every rejected request answers
//! `{"error":{"code","message","field"}}` with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nines_core::wire::{ErrorBody, ErrorDetail, FieldProblem};
use nines_core::{FieldError, FieldErrors};
use nines_engine::error::EngineError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub details: Vec<FieldProblem>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What every 503 tells clients to wait before trying again.
pub const RETRY_AFTER_SECONDS: &str = "5";

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError { status, code: code.into(), message: message.into(), field: None, details: Vec::new() }
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: e.code.to_string(),
            message: e.to_string(),
            field: Some(e.field),
            details: Vec::new(),
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errs: FieldErrors) -> Self {
        let first = errs.0.first().cloned().unwrap_or_else(|| FieldError::invalid("document", "invalid"));
        let mut e = ApiError::from(first);
        if errs.0.len() > 1 {
            e.message = format!("{} problems: {}", errs.0.len(), errs);
            e.details = errs
                .0
                .iter()
                .map(|p| FieldProblem { field: p.field.clone(), code: p.code.to_string(), message: p.message.clone() })
                .collect();
        }
        e
    }
}

/// A storage error is answered by its class (see [`EngineError`]).
impl From<nines_store::Error> for ApiError {
    fn from(e: nines_store::Error) -> Self {
        ApiError::from(EngineError::from(e))
    }
}

/// The answer to each class of an engine's refusal or failure: a transient
/// storage failure is a 503 with Retry-After, never the database's own words
/// (those go to the log).
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::ShuttingDown => ApiError::unavailable("nines is shutting down"),
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Invalid { field, message } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("{field}: {message}")).field(field)
            }
            EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::Unavailable => {
                ApiError::unavailable("the database is unavailable; nothing was stored, retry later")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code, message: self.message, field: self.field, details: self.details },
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        r
    }
}
