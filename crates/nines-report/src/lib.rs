//! The daily SLA report of nines: the versioned JSON document
//! ([`ReportDocument`], described in `SCHEMA.md`), the daily availability
//! chart as SVG ([`availability_chart_svg`], also embedded by the dashboard)
//! and the PDF ([`render_pdf`], made in-process with krilla and an embedded
//! DejaVu Sans font).
//!
//! What does not live here: computing the figures (the SLO and downtime
//! engines fill a [`ReportDocument`]), scheduling the 07:00 run and storing or
//! pushing the files (the server). Rendering is a pure function of the
//! document: the same document gives the same bytes.

pub mod chart;
pub mod document;
mod pdf;
pub mod sample;

pub use chart::availability_chart_svg;
pub use document::*;
pub use pdf::render_pdf;

/// Errors of the report crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("report JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("report schema version {0} is not supported (this build reads version {SCHEMA_VERSION})")]
    SchemaVersion(u32),
    #[error("chart SVG: {0}")]
    Svg(String),
    #[error("PDF: {0}")]
    Pdf(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
