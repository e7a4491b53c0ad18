//! TLS certificates: reported by the operator (cert-manager discovery) or any
//! agent, listed with the state they have now.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use nines_core::clock::{parse_rfc3339, rfc3339};
use nines_core::model::CertificateStatus;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, FieldErrors, check_name};
use nines_store::certificates::CertificateRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;

/// A certificate report. Field names follow the operator's wire format
/// (camelCase); the snake_case names of the certificate API are accepted too.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateReport {
    /// The cluster node `organization/platform/environment/cluster`.
    #[serde(alias = "node_id")]
    pub node_id: String,
    pub namespace: String,
    pub name: String,
    #[serde(alias = "secret_name")]
    pub secret_name: Option<String>,
    #[serde(default, alias = "dns_names")]
    pub dns_names: Vec<String>,
    #[serde(default, alias = "ip_addresses")]
    pub ip_addresses: Vec<String>,
    #[serde(alias = "issuer_name", alias = "issuerName")]
    pub issuer: Option<String>,
    #[serde(alias = "issuer_kind")]
    pub issuer_kind: Option<String>,
    /// RFC 3339.
    #[serde(alias = "not_before")]
    pub not_before: Option<String>,
    /// RFC 3339.
    #[serde(alias = "not_after")]
    pub not_after: Option<String>,
    /// RFC 3339.
    #[serde(alias = "renewal_time")]
    pub renewal_time: Option<String>,
    #[serde(alias = "is_ready")]
    pub is_ready: Option<bool>,
    /// ready, pending, failed, expired or expiring_soon.
    #[serde(alias = "certificate_status", alias = "certificateStatus")]
    pub status: String,
    pub message: Option<String>,
}

/// A certificate with its state now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateView {
    pub id: i64,
    pub node_id: String,
    pub namespace: String,
    pub name: String,
    pub secret_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<String>,
    pub issuer: Option<String>,
    pub issuer_kind: Option<String>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub renewal_time: Option<String>,
    pub is_ready: bool,
    /// The state now: a certificate ages into expiring_soon (under 30 days
    /// left) and expired without a new report.
    pub status: CertificateStatus,
    pub reported_status: CertificateStatus,
    /// Whole days until notAfter (negative once expired).
    pub days_left: Option<i64>,
    pub message: Option<String>,
    pub updated_at: String,
}

pub fn view(c: &CertificateRow, now: i64) -> CertificateView {
    CertificateView {
        id: c.id,
        node_id: c.node_id.clone(),
        namespace: c.namespace.clone(),
        name: c.name.clone(),
        secret_name: c.secret_name.clone(),
        dns_names: c.dns_names.clone(),
        ip_addresses: c.ip_addresses.clone(),
        issuer: c.issuer_name.clone(),
        issuer_kind: c.issuer_kind.clone(),
        not_before: c.not_before.map(rfc3339),
        not_after: c.not_after.map(rfc3339),
        renewal_time: c.renewal_time.map(rfc3339),
        is_ready: c.is_ready,
        status: c.status_at(now),
        reported_status: c.reported_status,
        days_left: c.not_after.map(|t| (t - now).div_euclid(86_400_000)),
        message: c.message.clone(),
        updated_at: rfc3339(c.updated_at),
    }
}

fn validate(caller: &Caller, b: &CertificateReport) -> Result<CertificateRow, ApiError> {
    let (organization, node_id) = super::push::resolve_node(caller, Some(&b.node_id))?;
    let mut errs = FieldErrors::default();
    for (f, v) in [("namespace", &b.namespace), ("name", &b.name)] {
        if let Err(r) = check_name(v) {
            errs.push(FieldError::invalid(f, r));
        }
    }
    let status = CertificateStatus::parse(&b.status);
    if status.is_none() {
        errs.push(FieldError::invalid(
            "status",
            format!("{:?} is not one of ready, pending, failed, expired, expiring_soon", b.status),
        ));
    }
    let mut time = |f: &str, v: &Option<String>| match v.as_deref().map(parse_rfc3339).transpose() {
        Ok(t) => t,
        Err(r) => {
            errs.push(FieldError::invalid(f, r));
            None
        }
    };
    let not_before = time("notBefore", &b.not_before);
    let not_after = time("notAfter", &b.not_after);
    let renewal_time = time("renewalTime", &b.renewal_time);
    if let Some(m) = &b.message
        && m.len() > 4096
    {
        errs.push(FieldError::invalid("message", "longer than 4096 bytes"));
    }
    if b.dns_names.len() > 1000 {
        errs.push(FieldError::invalid("dnsNames", "more than 1000 names"));
    }
    errs.into_result(())?;
    let status = status.unwrap_or(CertificateStatus::Pending);
    Ok(CertificateRow {
        id: 0,
        organization,
        node_id,
        namespace: b.namespace.clone(),
        name: b.name.clone(),
        secret_name: b.secret_name.clone(),
        dns_names: b.dns_names.clone(),
        ip_addresses: b.ip_addresses.clone(),
        issuer_name: b.issuer.clone(),
        issuer_kind: b.issuer_kind.clone(),
        not_before,
        not_after,
        renewal_time,
        is_ready: b.is_ready.unwrap_or(matches!(status, CertificateStatus::Ready | CertificateStatus::ExpiringSoon)),
        reported_status: status,
        message: b.message.clone(),
        created_at: 0,
        updated_at: 0,
    })
}

/// Report a TLS certificate (recorded as new or updated)
///
/// The operator reports what cert-manager holds; any operator or admin key may
/// report too. A certificate is identified by its cluster node (`nodeId`, in
/// the key's organization), `namespace` and `name`: the first report creates it
/// (201), later ones replace what is known (200). `status` is `ready`,
/// `pending`, `failed`, `expired` or `expiring_soon`; times are RFC 3339. Every
/// invalid field is reported at once with 422.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = CertificateReport,
    responses((status = 201, body = CertificateView, description = "Recorded; new"), (status = 200, body = CertificateView),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn report(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<CertificateReport>,
) -> ApiResult<(StatusCode, Json<CertificateView>)> {
    let row = validate(&caller, &b)?;
    let now = s.clock.now_ms();
    let (id, created) = s.store.upsert_certificate(&row, now).await?;
    let row = CertificateRow { id, created_at: now, updated_at: now, ..row };
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(view(&row, now))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateFilter {
    /// Only certificates in this state now.
    pub status: Option<String>,
    /// Only certificates of this node.
    pub node_id: Option<String>,
}

/// List TLS certificates with their current state
///
/// Every certificate of the key's organization. `status` is the state now, not
/// only the one reported: a certificate ages into `expiring_soon` (under 30
/// days left) and `expired` without a new report; `daysLeft` counts whole days
/// to `notAfter`. Filter by `status` (422 for an unknown one) or `nodeId`.
/// The soonest to expire come first; those without a known end last.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertificateFilter, PageQuery),
    responses((status = 200, body = Page<CertificateView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<CertificateView>>> {
    let (paging, q) = page::split(q)?;
    let f: CertificateFilter = parse_query(q)?;
    let want = match f.status.as_deref() {
        None => None,
        Some(x) => Some(CertificateStatus::parse(x).ok_or_else(|| {
            ApiError::from(FieldError::invalid(
                "status",
                format!("{x:?} is not one of ready, pending, failed, expired, expiring_soon"),
            ))
        })?),
    };
    let now = s.clock.now_ms();
    let rows = s
        .store
        .list_certificates(caller.scope.as_option())
        .await?
        .into_iter()
        .filter(|c| want.is_none_or(|w| c.status_at(now) == w))
        .filter(|c| f.node_id.as_deref().is_none_or(|n| c.node_id == n))
        .collect();
    let page = paging.page(rows, |c| (c.not_after.is_none(), c.not_after, c.id))?;
    Ok(Json(page.map(|c| view(&c, now))))
}

async fn find(s: &AppState, caller: &Caller, id: i64) -> ApiResult<CertificateRow> {
    match s.store.get_certificate(id).await? {
        Some(c) if caller.scope.allows(&c.organization) => Ok(c),
        _ => Err(ApiError::not_found(format!("no certificate {id}"))),
    }
}

/// Get a TLS certificate with its current state
///
/// The certificate's names, issuer, validity, readiness, the state reported and
/// the state now. 404 for an id that does not exist or belongs to another
/// organization.
#[utoipa::path(get, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = i64, Path, description = "Certificate id")),
    responses((status = 200, body = CertificateView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn detail(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<CertificateView>> {
    let c = find(&s, &caller, id).await?;
    Ok(Json(view(&c, s.clock.now_ms())))
}

/// Delete a TLS certificate
///
/// Forgets the certificate and what was reported about it; a later report of
/// the same certificate records it again. 404 for an id that does not exist
/// or belongs to another organization.
#[utoipa::path(delete, path = "/api/v1/certificates/{id}", tag = "certificates", params(("id" = i64, Path, description = "Certificate id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    find(&s, &caller, id).await?;
    s.store.delete_certificate(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
