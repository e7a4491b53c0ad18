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
    /// `config` (default), `operator` or `ui` (the dashboard): who declares
    /// these services.
    source: Option<String>,
}

/// Register or update services from it-ops.yaml documents (all or none)
///
/// The body holds one or more it-ops documents (YAML separated by `---`, or
/// JSON), each declaring one service and its checks under a hierarchy node.
/// Every document is validated first and every problem is answered at once
/// with 422, its `field` naming the document
/// (`documents[1].service.criticality`); otherwise all are applied in one
/// transaction and the answer says, per service, whether it was created,
/// updated or unchanged.
///
/// `source` records who declares the services: `config` (default),
/// `operator` or `ui` (the dashboard). Each document's organization must be
/// the key's. With `ui`, a service declared in files or by the operator is
/// not taken over: 409, to be changed where it is declared.
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
    let q: ApplyQuery = crate::extract::parse_query(q)?;
    let source = match q.source.as_deref() {
        None | Some("config") => Source::Config,
        Some("operator") => Source::Operator,
        Some("ui") => Source::Ui,
        Some(other) => {
            return Err(FieldError::invalid(
                "source",
                format!("unknown source {other:?}; expected config, operator or ui"),
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
    if source == Source::Ui {
        // the dashboard keeps each service's own text: one document a time
        if specs.len() != 1 {
            return Err(FieldError::invalid(
                "document",
                "the dashboard applies one it-ops document at a time (source ui)",
            )
            .into());
        }
        // GitOps stays the source of what comes from files and the
        // operator: the dashboard does not take such a service over
        for spec in &specs {
            let node = spec.node.to_string();
            let f = nines_store::ServiceFilter {
                organization: Some(spec.organization.clone()),
                node_id: Some(node.clone()),
                ..Default::default()
            };
            if let Some(r) = s
                .store
                .list_services(&f)
                .await?
                .into_iter()
                .find(|r| r.view.service == spec.name && r.view.node_id == node)
                && matches!(r.view.source.as_str(), "config" | "operator")
            {
                return Err(ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "{} on {} is declared in it-ops documents (source {}): change it where it is declared",
                        spec.name, spec.node, r.view.source
                    ),
                )
                .field(format!("{}service.name", spec.prefix)));
            }
        }
    }
    let now = s.clock.now_ms();
    let items = s.store.apply_with_checks(&specs, &checks, source, now).await?;
    if source == Source::Ui {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        s.store.set_ui_documents(&ids, text, now).await?;
    }
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
///
/// Removes the service named `service` under `nodeId`
/// (`organization/platform/environment/cluster`, or `unknown`) with its
/// timeline, checks and figures. 404 when there is no such service in the key's
/// organization. A service that is still declared in a document or still
/// reports comes back on its next apply or report.
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
    let q: DeleteQuery = crate::extract::parse_query(q)?;
    let (org, node) = crate::api::push::resolve_node(&caller, Some(&q.node_id))?;
    if !s.store.delete_service(&org, &node, &q.service).await? {
        return Err(ApiError::not_found(format!("no service {:?} under {node}", q.service)));
    }
    tracing::info!(service = %q.service, node = %node, by = %caller.key_id, "service deleted");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
