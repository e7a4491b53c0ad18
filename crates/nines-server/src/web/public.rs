//! The public status page and its JSON API (status-service compatible).

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
