//! The pure domain of nines.
//!
//! Everything here is plain data and plain functions: the status and
//! criticality model, the hierarchy path (`nodeId`), the status timeline
//! derivation (observations → transitions, stale marks), storage levels, the
//! push and apply wire types and their validation. Nothing here reads a clock,
//! a socket or a file: callers pass `now`. Storage lives in `nines-store`, the
//! HTTP API in `nines-server`.

pub mod apply;
pub mod clock;
pub mod downtime;
pub mod error;
pub mod model;
pub mod openslo;
pub mod slo;
pub mod timeline;
pub mod wire;

pub use error::{FieldError, FieldErrors};
pub use model::*;
