//! Test harness: a real server on a loopback port over a real database
//! (shared with the operator's suites: `nines_testing::server`), Chromium
//! and VictoriaMetrics/VictoriaLogs.
#![allow(dead_code)]

pub use nines_testing::server::*;
