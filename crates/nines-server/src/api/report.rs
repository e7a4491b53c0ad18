//! SLA report API: make a day's report on demand, list the reports kept,
//! download one as JSON or PDF. Org-scoped like every read: a key sees its
//! organization's reports only.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, OrgScope, check_name};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::parse_query;
use crate::report::{self, Generated};

/// What to generate; every field is optional (an empty body works).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerateBody {
    /// The report day `YYYY-MM-DD` in the report time zone; default: yesterday.
    pub date: Option<String>,
    /// Organization, for keys that span every organization.
    pub organization: Option<String>,
}

fn report_error(e: report::Error) -> ApiError {
    match e {
        report::Error::Store(e) => e.into(),
        report::Error::Invalid(m) if m.starts_with("reports are off") => ApiError::unavailable(m),
        other => {
            tracing::error!(error = %other, "report failed");
            ApiError::internal(other.to_string())
        }
    }
}

/// The organization a request is about: the key's own, or the one named.
fn org_for(caller: &Caller, named: Option<&str>) -> ApiResult<String> {
    match (&caller.scope, named) {
        (OrgScope::One(o), None) => Ok(o.clone()),
        (_, Some(n)) => {
            check_name(n).map_err(|r| FieldError::invalid("organization", r))?;
            caller.require_org(n, "organization")?;
            Ok(n.to_string())
        }
        (OrgScope::All, None) => {
            Err(FieldError::missing("organization").with_reason("this key spans every organization: name one").into())
        }
    }
}

/// Generate a day's SLA report now (default: yesterday)
///
/// Makes the SLA report of one organization for `date` (`YYYY-MM-DD` in the
/// report time zone; default yesterday) as JSON and PDF, replacing one made
/// earlier for that day, and pushes it to the SLA portal in the background when
/// one is configured. The body is optional; a key of every organization names
/// the `organization`. 422 for a date that is not valid or has not begun; 503
/// when reports are turned off.
#[utoipa::path(
    post, path = "/api/v1/sla/report/generate", tag = "reports", request_body(content = GenerateBody, description = "Optional"),
    responses((status = 200, body = Generated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn generate(
    State(s): State<AppState>,
    caller: Caller,
    req: axum::extract::Request,
) -> ApiResult<Json<Generated>> {
    let body = crate::extract::read_body(req, s.config.max_body_bytes).await?;
    let b: GenerateBody = if body.iter().all(u8::is_ascii_whitespace) {
        GenerateBody::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let org = org_for(&caller, b.organization.as_deref())?;
    let rc = &s.config.report;
    let tz = report::zone(&rc.time_zone).map_err(|e| ApiError::internal(e.to_string()))?;
    let now = s.clock.now_ms();
    let date = match b.date.as_deref() {
        None => report::yesterday(now, &tz),
        Some(d) => {
            let date: jiff::civil::Date =
                d.parse().map_err(|_| FieldError::invalid("date", format!("{d:?} is not a date (YYYY-MM-DD)")))?;
            if date > report::local_date(now, &tz) {
                return Err(FieldError::invalid("date", format!("{d} has not begun")).into());
            }
            date
        }
    };
    let g = report::generate(&s.store, rc, &org, date, now, &s.config.replica).await.map_err(report_error)?;
    if rc.portal_url.is_some() {
        // the portal may be slow or down: retries must not hold the caller
        let (store, rc, g2, clock) = (s.store.clone(), rc.clone(), g.clone(), s.clock.clone());
        tokio::spawn(async move {
            if let Err(e) = report::push(&store, &rc, &g2, clock.as_ref()).await {
                tracing::error!(error = %e, "SLA portal push failed");
            }
        });
    }
    Ok(Json(g))
}

/// A report kept on disk.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportItem {
    pub organization: String,
    pub date: String,
    /// `done`, or `claimed` while a scheduled run makes it.
    pub state: String,
    pub generated_at: Option<String>,
    pub json_bytes: Option<i64>,
    pub pdf_bytes: Option<i64>,
    /// Download paths of the API.
    pub json_url: String,
    pub pdf_url: String,
    /// When the SLA portal accepted it; null when not pushed (yet).
    pub pushed_at: Option<String>,
    pub push_error: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Organization, for keys that span every organization (list: default all).
    organization: Option<String>,
}

/// List the SLA reports kept
///
/// Every report kept, with its day, state (`done`, or `claimed` while a
/// scheduled run makes it), sizes, download paths and whether the SLA portal
/// accepted it. A key of one organization sees its own; a key of every
/// organization sees all, or one with `organization`.
#[utoipa::path(
    get, path = "/api/v1/sla/reports", tag = "reports", params(ReportQuery, PageQuery),
    responses((status = 200, body = Page<ReportItem>), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ReportItem>>> {
    let (paging, q) = page::split(q)?;
    let q: ReportQuery = parse_query(q)?;
    let org = match (&caller.scope, q.organization.as_deref()) {
        (OrgScope::All, None) => None,
        (_, named) => Some(org_for(&caller, named)?),
    };
    // newest day first, then by organization
    let rows = s.store.list_reports(org.as_deref()).await?;
    let page = paging.page(rows, |r| (std::cmp::Reverse(r.report_date.clone()), r.organization.clone()))?;
    Ok(Json(page.map(|r| {
        let qs = format!("?organization={}", r.organization);
        ReportItem {
            json_url: format!("/api/v1/sla/reports/{}.json{qs}", r.report_date),
            pdf_url: format!("/api/v1/sla/reports/{}.pdf{qs}", r.report_date),
            organization: r.organization,
            date: r.report_date,
            state: r.state,
            generated_at: r.generated_at.map(nines_core::clock::rfc3339),
            json_bytes: r.json_bytes,
            pdf_bytes: r.pdf_bytes,
            pushed_at: r.pushed_at.map(nines_core::clock::rfc3339),
            push_error: r.push_error,
        }
    })))
}

/// Download an SLA report as JSON or PDF
///
/// `file` is `YYYY-MM-DD.json` or `YYYY-MM-DD.pdf`; the answer is the file as
/// an attachment. A key of every organization names the `organization`. 404
/// when no finished report exists for that day, or its file is gone.
#[utoipa::path(
    get, path = "/api/v1/sla/reports/{file}", tag = "reports",
    params(("file" = String, Path, description = "`YYYY-MM-DD.json` or `YYYY-MM-DD.pdf`"), ReportQuery),
    responses(
        (status = 200, description = "The report (application/json or application/pdf)"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)
    ),
    security(("api_key" = []))
)]
pub async fn download(
    State(s): State<AppState>,
    caller: Caller,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<impl IntoResponse> {
    let q: ReportQuery = parse_query(q)?;
    let org = org_for(&caller, q.organization.as_deref())?;
    let (date, ext) = file
        .rsplit_once('.')
        .filter(|(d, e)| matches!(*e, "json" | "pdf") && d.parse::<jiff::civil::Date>().is_ok())
        .ok_or_else(|| {
            ApiError::from(FieldError::invalid("file", format!("{file:?}: expected YYYY-MM-DD.json or YYYY-MM-DD.pdf")))
        })?;
    let row = s
        .store
        .get_report(&org, date)
        .await?
        .filter(|r| r.state == "done")
        .ok_or_else(|| ApiError::not_found(format!("no report of {date} for organization {org:?}")))?;
    let (path, ctype) = match ext {
        "json" => (row.json_path, "application/json"),
        _ => (row.pdf_path, "application/pdf"),
    };
    let path = path.ok_or_else(|| ApiError::not_found("the report has no such file"))?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(error = %e, path = %path, "report file unreadable");
        ApiError::not_found(format!("the {ext} file of {date} is gone"))
    })?;
    let disposition = format!("attachment; filename=\"{org}-{date}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, ctype.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes))
}
