//! The web UI, rendered on the server: the public status page (no key, only
//! what is marked public) and the operations dashboard (behind a key or a
//! login). Pages are plain HTML with a little script for live updates; every
//! asset is compiled into the binary, so the UI works without internet access.

pub mod dashboard;
pub mod html;
pub mod public;

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().merge(public::routes()).merge(dashboard::routes())
}
