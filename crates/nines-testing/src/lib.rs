//! Test support shared by the suites of several crates (a dev-dependency
//! only; nothing here ships in the binary).
//!
//! - [`keycloak`]: a real Keycloak, started once per test binary, a realm
//!   per test.
//!
//! What does not live here: support one crate's suite alone uses (its
//! `tests/common`), and the database helpers, which are in
//! `nines_store::testing` because the store's own unit tests use them.

pub mod keycloak;
