//! The SLA report (being written).
