//! GitOps registration: `it-ops.yaml` documents (YAML or JSON, several per body).

use axum::Json;
use axum::extract::{RawQuery, Request, State};
use nines_core::wire::{ApplyResult, ErrorBody};
use nines_core::{FieldError, Source};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::read_body;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplyQuery {
    /// `config` (default) or `operator`: who declares these services.
    source: Option<String>,
}

/// Register or update services from it-ops.yaml documents (all or none)
#[utoipa::path(
    post, path = "/api/v1/services/apply", tag = "config", params(ApplyQuery),
    request_body(content = String, description = "One or more it-ops.yaml documents (YAML or JSON)", content_type = "application/yaml"),
    responses(
        (status = 200, description = "Every document applied, in one transaction", body = ApplyResult),
        (status = 403, body = ErrorBody), (status = 422, description = "Nothing applied; every problem listed", body = ErrorBody)
    ),
    security(("api_key" = []))
)]
pub async fn apply(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
    req: Request,
) -> ApiResult<Json<ApplyResult>> {
    let q: ApplyQuery = crate::api::read::parse_query(q)?;
    let source = match q.source.as_deref() {
        None | Some("config") => Source::Config,
        Some("operator") => Source::Operator,
        Some(other) => {
            return Err(FieldError::invalid(
                "source",
                format!("unknown source {other:?}; expected config or operator"),
            )
            .into());
        }
    };
    let body = read_body(req, s.config.max_body_bytes).await?;
    let text = std::str::from_utf8(&body).map_err(|_| FieldError::invalid("document", "the body is not UTF-8 text"))?;
    // every problem at once: the documents' and their checks'
    let (specs, mut errs) = nines_core::apply::parse_documents_lenient(text);
    let (checks, check_errs) = crate::probes::parse_checks(&specs);
    errs.0.extend(check_errs.0);
    if !errs.is_empty() {
        errs.0.sort_by_key(|e| doc_index(&e.field));
        return Err(ApiError::from(errs));
    }
    let many = specs.len() > 1;
    for (i, spec) in specs.iter().enumerate() {
        let field =
            if many { format!("documents[{i}].hierarchy.organization") } else { "hierarchy.organization".into() };
        caller.require_org(&spec.organization, &field)?;
    }
    let items = s.store.apply_with_checks(&specs, &checks, source, s.clock.now_ms()).await?;
    Ok(Json(ApplyResult { items }))
}

/// `documents[3].x` → 3, so problems are listed in document order.
fn doc_index(field: &str) -> usize {
    field.strip_prefix("documents[").and_then(|r| r.split(']').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `organization/platform/environment/cluster` (or `unknown`).
    node_id: String,
    service: String,
}

/// Delete a service and its history
#[utoipa::path(
    delete, path = "/api/v1/services", tag = "config", params(DeleteQuery),
    responses((status = 204, description = "Deleted with its history"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<axum::http::StatusCode> {
    let q: DeleteQuery = crate::api::read::parse_query(q)?;
    let (org, node) = crate::api::push::resolve_node(&caller, Some(&q.node_id))?;
    if !s.store.delete_service(&org, &node, &q.service).await? {
        return Err(ApiError::not_found(format!("no service {:?} under {node}", q.service)));
    }
    tracing::info!(service = %q.service, node = %node, by = %caller.key_id, "service deleted");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
