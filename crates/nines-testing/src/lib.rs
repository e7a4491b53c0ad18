//! Test support shared by the suites of several crates (a dev-dependency
//! only; nothing here ships in the binary).
//!
//! - [`keycloak`]: a real Keycloak, started once per test binary, a realm
//!   per test.
//! - [`server`]: a real `nines serve` in process on a loopback port, with an
//!   admin key, and the requests the suites make of it.
//!
//! What does not live here: support one crate's suite alone uses (its
//! `tests/common`), and the database helpers, which are in
//! `nines_store::testing` because the store's own unit tests use them.

pub mod keycloak;
pub mod server;
