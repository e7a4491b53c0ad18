//! Observability accounting API: an organization's log and series figures,
//! every organization's 30-day figures, label-value overrides, and a run now.

use axum::Json;
use axum::extract::{Path, State};
use nines_core::wire::ErrorBody;
use nines_core::{FieldError, OrgScope, check_name};
use nines_store::observability::LabelOverride;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::observability::{self as obs, LabelValues, ObservabilityView, OrgSummary, RunReport};

/// An organization the caller may see and accounting knows, or 404 (another
/// organization's name is answered as an unknown one).
async fn known(s: &AppState, caller: &Caller, org: &str) -> ApiResult<()> {
    if caller.scope.allows(org) && obs::known_organizations(&s.store).await?.iter().any(|o| o == org) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no organization {org:?}")))
    }
}

/// Get an organization's log ingestion and active series
///
/// The organization's log lines and bytes ingested (from VictoriaLogs) and its
/// active series (from VictoriaMetrics): per day, over the last hours and days,
/// with how much of each window the samples cover and the label values that
/// mark its data. A key of one organization sees backend errors redacted.
/// Another organization's name answers 404, like one that does not exist.
#[utoipa::path(
    get, path = "/api/v1/organizations/{org}/observability", tag = "observability",
    params(("org" = String, Path, description = "Organization")),
    responses((status = 200, body = ObservabilityView), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn organization(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> ApiResult<Json<ObservabilityView>> {
    known(&s, &caller, &org).await?;
    let mut v = obs::organization(&s.store, &org, s.clock.now_ms()).await?;
    if caller.scope != OrgScope::All {
        v.redact();
    }
    Ok(Json(v))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summaries {
    pub windows: obs::WindowSpans,
    pub coverage: obs::CoverageView,
    pub updated_at: Option<String>,
    pub last_error: Option<String>,
    pub items: Vec<OrgSummary>,
}

/// Get every organization's 30-day log and series figures (billing)
///
/// One line per organization the key can see with its 30-day log lines and
/// bytes and its current and average active series, plus the windows the
/// figures span, how much of them is covered, and when the figures were last
/// updated (and the last error, redacted for a key of one organization).
#[utoipa::path(
    get, path = "/api/v1/observability/organizations", tag = "observability",
    responses((status = 200, body = Summaries)),
    security(("api_key" = []))
)]
pub async fn organizations(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Summaries>> {
    Ok(Json(summaries(&s, &caller).await?))
}

pub async fn summaries(s: &AppState, caller: &Caller) -> ApiResult<Summaries> {
    let now = s.clock.now_ms();
    let snap = obs::Snapshot::read(&s.store, now, None).await?;
    let orgs: Vec<String> =
        obs::known_with(&s.store, &snap.overrides).await?.into_iter().filter(|o| caller.scope.allows(o)).collect();
    let (updated_at, mut last_error) = snap.status();
    if caller.scope != OrgScope::All {
        last_error = last_error.map(|_| obs::REDACTED.to_string());
    }
    Ok(Summaries {
        windows: snap.spans(),
        coverage: snap.coverage(),
        updated_at,
        last_error,
        items: obs::summaries(&snap, &orgs),
    })
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelOverrideBody {
    /// The value of VICTORIALOGS_ORG_LABEL that marks the organization's
    /// logs; null: its name.
    pub logs: Option<String>,
    /// The value of VICTORIAMETRICS_ORG_LABEL that marks its series; null: its name.
    pub metrics: Option<String>,
}

/// Set the label values an organization's logs and series carry
///
/// By default an organization's logs and series are the ones whose
/// VICTORIALOGS_ORG_LABEL and VICTORIAMETRICS_ORG_LABEL carry its name; `logs`
/// and `metrics` name other values (null: the name). Label values decide whose
/// data is whose, so only an admin key of every organization may set them (403
/// otherwise); a value already used by another organization answers 409. Values
/// are at most 256 bytes without control characters.
#[utoipa::path(
    put, path = "/api/v1/organizations/{org}/observability/labels", tag = "observability",
    params(("org" = String, Path, description = "Organization")),
    request_body = LabelOverrideBody,
    responses((status = 200, body = LabelValues), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn set_labels(
    State(s): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
    JsonBody(b): JsonBody<LabelOverrideBody>,
) -> ApiResult<Json<LabelValues>> {
    check_name(&org).map_err(|r| FieldError::invalid("organization", r))?;
    // an organization's admin could otherwise point its figures at another
    // organization's rows
    if caller.scope != OrgScope::All {
        return Err(ApiError::forbidden(
            "label values decide whose logs and series are whose: they need an admin key of every organization",
        ));
    }
    let check = |field: &str, v: &Option<String>| -> Result<Option<String>, FieldError> {
        match v.as_deref().map(str::trim) {
            None => Ok(None),
            Some("") => Err(FieldError::invalid(field, "empty: give a value, or null for the organization's name")),
            Some(x) if x.len() > 256 || x.chars().any(char::is_control) => {
                Err(FieldError::invalid(field, "at most 256 bytes, without control characters"))
            }
            // the name itself needs no override
            Some(x) if x == org => Ok(None),
            Some(x) => Ok(Some(x.to_string())),
        }
    };
    let o = LabelOverride { logs: check("logs", &b.logs)?, metrics: check("metrics", &b.metrics)? };
    s.store.obs_set_override(&org, &o, s.clock.now_ms()).await?;
    tracing::info!(organization = %org, logs = ?o.logs, metrics = ?o.metrics, by = %caller.key_id, "observability label values changed");
    let mut all = std::collections::HashMap::new();
    all.insert(org.clone(), o);
    Ok(Json(obs::label_values(&org, &all)))
}

/// Sample VictoriaLogs and VictoriaMetrics now
///
/// Runs one accounting pass at once instead of waiting for the next scheduled
/// one, for every organization, and answers what each backend returned (or its
/// error). It samples every organization, so it needs an admin key of every
/// organization (403 otherwise).
#[utoipa::path(
    post, path = "/api/v1/observability/refresh", tag = "observability",
    responses((status = 200, body = RunReport), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn refresh(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<RunReport>> {
    if caller.scope != OrgScope::All {
        return Err(ApiError::forbidden(
            "a run samples every organization: it needs an admin key of every organization",
        ));
    }
    let now = s.clock.now_ms();
    let r = obs::run_once(&s.store, now).await?;
    s.metrics.refresh_observability(&s.store, now).await?;
    tracing::info!(by = %caller.key_id, logs_error = ?r.logs.error, metrics_error = ?r.metrics.error, "observability accounting run on request");
    Ok(Json(r))
}
