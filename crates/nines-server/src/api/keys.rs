//! API key management (admin keys only). An admin key of one organization
//! manages keys of that organization only.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use nines_core::clock::rfc3339;
use nines_core::wire::{ApiKeyView, CreateApiKey, CreatedApiKey, ErrorBody, Page};
use nines_core::{FieldError, OrgScope, check_name};
use nines_store::ApiKey;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

fn view(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id.clone(),
        name: k.name.clone(),
        organization: k.scope.as_option().map(str::to_string),
        role: k.role,
        created_at: rfc3339(k.created_at),
    }
}

/// List the API keys of the caller's organization
///
/// Every key that is not revoked, with its public id, name, organization (null
/// for a key of every organization), role and creation time; never a secret. An
/// admin key of one organization sees that organization's keys only.
#[utoipa::path(
    get, path = "/api/v1/apikeys", tag = "admin", params(PageQuery),
    responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    let paging = page::only(q)?;
    let keys: Vec<ApiKey> = s
        .store
        .list_api_keys()
        .await?
        .into_iter()
        .filter(|k| caller.scope == OrgScope::All || k.scope == caller.scope)
        .collect();
    Ok(Json(paging.page(keys, |k| (k.created_at, k.id.clone()))?.map(|k| view(&k))))
}

/// Create an API key and return its secret
///
/// Creates a key with `role` (`read-only`, `agent`, `operator` or `admin`), an
/// optional `name` (default `<role>-key`) and an `organization`. The secret is
/// in this answer only: it is stored hashed and cannot be shown again. Leaving
/// `organization` out makes a key of every organization, which only a key of
/// every organization may do (403 otherwise); an admin of one organization
/// creates keys of that organization only.
#[utoipa::path(
    post, path = "/api/v1/apikeys", tag = "admin", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let scope = match &req.organization {
        Some(o) => {
            check_name(o).map_err(|r| FieldError::invalid("organization", r))?;
            caller.require_org(o, "organization")?;
            OrgScope::One(o.clone())
        }
        None => {
            if caller.scope != OrgScope::All {
                return Err(
                    ApiError::forbidden("only a key spanning every organization can create one").field("organization")
                );
            }
            OrgScope::All
        }
    };
    let name = req.name.clone().unwrap_or_else(|| format!("{}-key", req.role.as_str()));
    let (key, secret) =
        s.store.create_api_key(&name, &scope, req.role, s.clock.now_ms()).await.map_err(|e| match e {
            nines_store::Error::Invalid { field, message } => ApiError::from(FieldError::invalid(field, message)),
            other => ApiError::from(other),
        })?;
    tracing::info!(key_id = %key.id, role = key.role.as_str(), by = %caller.key_id, "api key created");
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key: view(&key), secret })))
}

/// Revoke an API key
///
/// The key stops working at once on this replica and within 10 seconds on
/// the others (their verified keys are cached that long). 404 for a key that
/// does not exist or belongs to another organization.
#[utoipa::path(
    delete, path = "/api/v1/apikeys/{id}", tag = "admin",
    params(("id" = String, Path, description = "Public key id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn revoke(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let key = s.store.find_api_key(&id).await?.filter(|k| caller.scope == OrgScope::All || k.scope == caller.scope);
    key.ok_or_else(|| ApiError::not_found(format!("no key {id}")))?;
    s.store.revoke_api_key(&id, s.clock.now_ms()).await?;
    s.auth.forget(&id).await;
    Ok(StatusCode::NO_CONTENT)
}
