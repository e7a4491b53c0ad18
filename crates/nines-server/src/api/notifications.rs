//! Notification channels, routes and deliveries over HTTP. Writes need an
//! admin key; everything is scoped to the key's organization. Channel
//! configs are shown with their secrets redacted; a PUT that sends a
//! `<redacted>` placeholder back keeps the stored secret.

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use nines_core::clock::rfc3339;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{Criticality, FieldError, FieldErrors, OrgScope};
use nines_notify::route::TagMatch;
use nines_notify::{Channel, ChannelConfig, EventKind, Message, RetryPolicy, RouteRule};
use nines_store::notifications::{AttemptRow, ChannelRow, DeliveryRow, RouteRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/notifications/channels", get(list_channels).post(create_channel))
        .route("/api/v1/notifications/channels/{id}", get(get_channel).put(put_channel).delete(delete_channel))
        .route("/api/v1/notifications/channels/{id}/test", post(test_channel))
        .route("/api/v1/notifications/routes", get(list_routes).post(create_route))
        .route("/api/v1/notifications/routes/{id}", get(get_route).put(put_route).delete(delete_route))
        .route("/api/v1/notifications/deliveries", get(list_deliveries))
}

/// The organization a write acts on: the body's, or the key's own.
fn org_for(caller: &Caller, given: &Option<String>) -> ApiResult<String> {
    match (&caller.scope, given) {
        (_, Some(o)) => {
            caller.require_org(o, "organization")?;
            Ok(o.clone())
        }
        (OrgScope::One(o), None) => Ok(o.clone()),
        (OrgScope::All, None) => {
            Err(FieldError::missing("organization").with_reason("this key spans every organization: name one").into())
        }
    }
}

fn not_found(what: &str, id: i64) -> ApiError {
    ApiError::not_found(format!("no notification {what} {id}"))
}

// ---- channels ----

/// A channel to create or replace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelBody {
    /// Unique within the organization.
    pub name: String,
    /// For keys that span every organization.
    pub organization: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The channel's settings, tagged by `type`: `webhook`, `slack`,
    /// `email` or `alertmanager` (see docs/notifications.md).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelView {
    pub id: i64,
    pub organization: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub enabled: bool,
    /// The settings with every secret shown as `<redacted>`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

fn channel_view(s: &AppState, row: &ChannelRow) -> ChannelView {
    let config = match s.notifier.open(&row.organization, &row.config_sealed) {
        Ok(c) => serde_json::to_value(c.redacted()).unwrap_or_default(),
        Err(e) => serde_json::json!({"type": row.kind, "error": e}),
    };
    ChannelView {
        id: row.id,
        organization: row.organization.clone(),
        name: row.name.clone(),
        kind: row.kind.clone(),
        enabled: row.enabled,
        config,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// Parse and check a config; every problem named under `config.`.
fn parse_config(v: &serde_json::Value) -> Result<ChannelConfig, ApiError> {
    ChannelConfig::from_json(&v.to_string()).map_err(|e| {
        let field = if e.field.is_empty() { "config".to_string() } else { format!("config.{}", e.field) };
        let message = e.message.replace(&format!("{} is required", e.field), &format!("{field} is required"));
        ApiError::from(FieldError::new(field, e.code, message))
    })
}

fn check_config(c: &ChannelConfig) -> Result<(), ApiError> {
    c.validate("config").map_err(ApiError::from)?;
    if c.has_redacted_placeholder() {
        return Err(FieldError::invalid("config", "\"<redacted>\" is a placeholder: send the secret itself").into());
    }
    // what validate cannot see (a PEM the TLS stack refuses)
    Channel::build(c).map_err(|e| ApiError::from(FieldError::invalid("config", e.to_string())))?;
    Ok(())
}

fn check_channel_name(name: &str) -> Result<(), ApiError> {
    nines_core::check_name(name).map_err(|e| FieldError::invalid("name", e).into())
}

async fn owned_channel(s: &AppState, caller: &Caller, id: i64) -> ApiResult<ChannelRow> {
    match s.store.get_channel(id).await? {
        Some(c) if caller.scope.allows(&c.organization) => Ok(c),
        _ => Err(not_found("channel", id)),
    }
}

/// Create a notification channel
///
/// A channel is where notifications go: `config` is tagged by `type`
/// (`webhook`, `slack`, `email` or `alertmanager`) with that kind's settings.
/// `name` is unique within the organization (409 when taken); `enabled`
/// defaults to true. Secrets are stored encrypted and never shown back. Every
/// problem of the config is named under `config.` with 422; the placeholder
/// `<redacted>` is refused as a secret.
#[utoipa::path(post, path = "/api/v1/notifications/channels", tag = "notifications", request_body = ChannelBody,
    responses((status = 201, body = ChannelView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create_channel(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<ChannelBody>,
) -> ApiResult<(StatusCode, Json<ChannelView>)> {
    let org = org_for(&caller, &b.organization)?;
    check_channel_name(&b.name)?;
    let config = parse_config(&b.config)?;
    check_config(&config)?;
    let sealed = s.notifier.seal(&org, &config).map_err(ApiError::internal)?;
    let now = s.clock.now_ms();
    let id = s.store.create_channel(&org, &b.name, config.kind(), &sealed, b.enabled, now).await?;
    tracing::info!(channel_id = id, organization = %org, kind = config.kind(), "notification channel created");
    let row = s.store.get_channel(id).await?.ok_or_else(|| not_found("channel", id))?;
    Ok((StatusCode::CREATED, Json(channel_view(&s, &row))))
}

/// List notification channels, secrets redacted
///
/// Every channel of the key's organization with its type, whether it is
/// enabled, and its settings with every secret shown as `<redacted>`.
#[utoipa::path(get, path = "/api/v1/notifications/channels", tag = "notifications", params(PageQuery),
    responses((status = 200, body = Page<ChannelView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_channels(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ChannelView>>> {
    let paging = page::only(q)?;
    let rows = s.store.list_channels(caller.scope.as_option()).await?;
    Ok(Json(paging.page(rows, |r| r.id)?.map(|r| channel_view(&s, &r))))
}

/// Get a notification channel, secrets redacted
///
/// The channel's type, name, enabled flag and settings, every secret shown as
/// `<redacted>`. 404 for a channel that does not exist or belongs to another
/// organization.
#[utoipa::path(get, path = "/api/v1/notifications/channels/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn get_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ChannelView>> {
    let row = owned_channel(&s, &caller, id).await?;
    Ok(Json(channel_view(&s, &row)))
}

/// Replace a notification channel (redacted secrets are kept)
///
/// The body is a whole channel, as when creating one. A secret sent back as
/// `<redacted>` keeps the stored one, so a form can send what it read; any
/// other value replaces it. A channel cannot move to another organization
/// (422). `enabled: false` stops deliveries to it without losing its settings.
#[utoipa::path(put, path = "/api/v1/notifications/channels/{id}", tag = "notifications", request_body = ChannelBody,
    params(("id" = i64, Path, description = "Channel id")),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<ChannelBody>,
) -> ApiResult<Json<ChannelView>> {
    let row = owned_channel(&s, &caller, id).await?;
    if let Some(o) = &b.organization
        && o != &row.organization
    {
        return Err(FieldError::invalid("organization", "a channel cannot move to another organization").into());
    }
    check_channel_name(&b.name)?;
    let mut config = parse_config(&b.config)?;
    if let Ok(old) = s.notifier.open(&row.organization, &row.config_sealed) {
        config.keep_redacted_secrets(&old);
    }
    check_config(&config)?;
    let sealed = s.notifier.seal(&row.organization, &config).map_err(ApiError::internal)?;
    let now = s.clock.now_ms().max(row.updated_at + 1);
    if !s.store.update_channel(id, &b.name, config.kind(), &sealed, b.enabled, now).await? {
        return Err(not_found("channel", id));
    }
    let row = s.store.get_channel(id).await?.ok_or_else(|| not_found("channel", id))?;
    Ok(Json(channel_view(&s, &row)))
}

/// Delete a notification channel
///
/// Removes the channel; its pending deliveries are marked failed (`channel
/// deleted`). Route rules that name it are left as they are. 404 for a channel
/// that does not exist or belongs to another organization.
#[utoipa::path(delete, path = "/api/v1/notifications/channels/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Channel id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete_channel(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    owned_channel(&s, &caller, id).await?;
    if !s.store.delete_channel(id, s.clock.now_ms()).await? {
        return Err(not_found("channel", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// What a test send did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub delivered: bool,
    pub status_code: Option<u16>,
    /// Why it failed (never holds a secret).
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// Send a test message through a notification channel
///
/// Sends one test notification now, with a single attempt and no retries, and
/// answers what happened: whether it was delivered, the receiver's status code,
/// the error (never holding a secret) and how long it took. Works on disabled
/// channels too, and records no delivery.
#[utoipa::path(post, path = "/api/v1/notifications/channels/{id}/test", tag = "notifications",
    params(("id" = i64, Path, description = "Channel id")),
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn test_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<TestResult>> {
    let row = owned_channel(&s, &caller, id).await?;
    let config = s.notifier.open(&row.organization, &row.config_sealed).map_err(ApiError::internal)?;
    let channel = Channel::build(&config).map_err(|e| ApiError::from(FieldError::invalid("config", e.to_string())))?;
    let now = s.clock.now_ms();
    let event = crate::notify::test_event(&row.organization, now);
    let msg = Message::new(format!("nines-test-{id}-{now}"), event, &s.notifier.base_url)
        .ok_or_else(|| ApiError::internal("the test message did not render"))?;
    let once = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let a = nines_notify::deliver(&channel, &msg, 1, &once, s.clock.as_ref()).await;
    Ok(Json(TestResult {
        delivered: a.outcome == nines_notify::Outcome::Delivered,
        status_code: a.status_code,
        error: a.error,
        duration_ms: a.duration_ms,
    }))
}

// ---- routes ----

/// A route rule: which channels an event of the organization goes to. Empty
/// lists match everything; rules are walked by `position` and every match
/// adds its channels until one with `stop`. An organization without routes
/// sends every event to each of its enabled channels.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteBody {
    /// For keys that span every organization.
    pub organization: Option<String>,
    /// Order of evaluation (ascending); default after the last rule.
    pub position: Option<i64>,
    /// Events whose most critical service is at least this critical.
    #[schema(value_type = Option<String>)]
    pub min_criticality: Option<Criticality>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub criticalities: Vec<Criticality>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `any` (default) or `all` of the tags.
    #[serde(default)]
    #[schema(value_type = String)]
    pub tag_match: TagMatch,
    /// Event kinds: downtime_opened, downtime_resolved, certificate_expiring,
    /// certificate_expired, backup_overdue, storage_critical, slo_burn_rate,
    /// agent_silent.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventKind>,
    /// Channel ids.
    pub channels: Vec<i64>,
    #[serde(default)]
    pub stop: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteView {
    pub id: i64,
    pub organization: String,
    pub position: i64,
    #[schema(value_type = Option<String>)]
    pub min_criticality: Option<Criticality>,
    #[schema(value_type = Vec<String>)]
    pub criticalities: Vec<Criticality>,
    pub tags: Vec<String>,
    #[schema(value_type = String)]
    pub tag_match: TagMatch,
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventKind>,
    pub channels: Vec<i64>,
    pub stop: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn route_view(r: &RouteRow) -> RouteView {
    let rule: RouteRule = serde_json::from_str(&r.rule).unwrap_or_default();
    RouteView {
        id: r.id,
        organization: r.organization.clone(),
        position: r.position,
        min_criticality: rule.min_criticality,
        criticalities: rule.criticalities,
        tags: rule.tags,
        tag_match: rule.tag_match,
        events: rule.events,
        channels: rule.channels.iter().filter_map(|c| c.parse().ok()).collect(),
        stop: rule.stop,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// The rule to store, checked against the organization's channels.
async fn rule_of(s: &AppState, org: &str, b: &RouteBody) -> ApiResult<RouteRule> {
    let rule = RouteRule {
        organizations: vec![org.to_string()],
        min_criticality: b.min_criticality,
        criticalities: b.criticalities.clone(),
        tags: b.tags.clone(),
        tag_match: b.tag_match,
        events: b.events.clone(),
        channels: b.channels.iter().map(|c| c.to_string()).collect(),
        stop: b.stop,
    };
    let known: Vec<String> = s.store.list_channels(Some(org)).await?.iter().map(|c| c.id.to_string()).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    if let Err(errs) = nines_notify::route::validate_rules(std::slice::from_ref(&rule), &known) {
        let errs = errs
            .0
            .into_iter()
            .map(|e| {
                let field = e.field.strip_prefix("routes[0].").unwrap_or(&e.field).to_string();
                FieldError::new(field, e.code, e.message)
            })
            .collect();
        return Err(FieldErrors(errs).into());
    }
    Ok(rule)
}

async fn owned_route(s: &AppState, caller: &Caller, id: i64) -> ApiResult<RouteRow> {
    match s.store.get_route(id).await? {
        Some(r) if caller.scope.allows(&r.organization) => Ok(r),
        _ => Err(not_found("route", id)),
    }
}

/// Create a notification route rule
///
/// A rule sends an organization's events to channels: it matches on `events`
/// (kinds such as `downtime_opened` or `certificate_expiring`),
/// `minCriticality` or `criticalities`, and `tags` (`any` or `all`); empty
/// lists match everything. Rules are walked by `position` (default after the
/// last) and every match adds its `channels` until a rule with `stop`. Without
/// any rule, every event goes to each enabled channel. The channels must be the
/// organization's (422 otherwise).
#[utoipa::path(post, path = "/api/v1/notifications/routes", tag = "notifications", request_body = RouteBody,
    responses((status = 201, body = RouteView), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn create_route(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<RouteBody>,
) -> ApiResult<(StatusCode, Json<RouteView>)> {
    let org = org_for(&caller, &b.organization)?;
    let rule = rule_of(&s, &org, &b).await?;
    let position = match b.position {
        Some(p) => p,
        None => s.store.list_routes(Some(&org)).await?.iter().map(|r| r.position + 1).max().unwrap_or(0),
    };
    let json = serde_json::to_string(&rule).map_err(|e| ApiError::internal(e.to_string()))?;
    let id = s.store.create_route(&org, position, &json, s.clock.now_ms()).await?;
    let row = s.store.get_route(id).await?.ok_or_else(|| not_found("route", id))?;
    Ok((StatusCode::CREATED, Json(route_view(&row))))
}

/// List notification route rules
///
/// Every rule of the key's organization, in the order they are walked
/// (`position`).
#[utoipa::path(get, path = "/api/v1/notifications/routes", tag = "notifications", params(PageQuery),
    responses((status = 200, body = Page<RouteView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_routes(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<RouteView>>> {
    let paging = page::only(q)?;
    let rows = s.store.list_routes(caller.scope.as_option()).await?;
    Ok(Json(paging.page(rows, |r| (r.organization.clone(), r.position, r.id))?.map(|r| route_view(&r))))
}

/// Get a notification route rule
///
/// The rule's matches, channels, position and `stop`. 404 for a rule that does
/// not exist or belongs to another organization.
#[utoipa::path(get, path = "/api/v1/notifications/routes/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Route id")),
    responses((status = 200, body = RouteView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn get_route(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<RouteView>> {
    Ok(Json(route_view(&owned_route(&s, &caller, id).await?)))
}

/// Replace a notification route rule
///
/// The body is a whole rule, as when creating one; without `position` the rule
/// keeps its place. A rule cannot move to another organization, and its
/// channels must be the organization's (422 otherwise). 404 for a rule of
/// another organization.
#[utoipa::path(put, path = "/api/v1/notifications/routes/{id}", tag = "notifications", request_body = RouteBody,
    params(("id" = i64, Path, description = "Route id")),
    responses((status = 200, body = RouteView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_route(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<RouteBody>,
) -> ApiResult<Json<RouteView>> {
    let row = owned_route(&s, &caller, id).await?;
    if let Some(o) = &b.organization
        && o != &row.organization
    {
        return Err(FieldError::invalid("organization", "a route cannot move to another organization").into());
    }
    let rule = rule_of(&s, &row.organization, &b).await?;
    let json = serde_json::to_string(&rule).map_err(|e| ApiError::internal(e.to_string()))?;
    if !s.store.update_route(id, b.position.unwrap_or(row.position), &json, s.clock.now_ms()).await? {
        return Err(not_found("route", id));
    }
    let row = s.store.get_route(id).await?.ok_or_else(|| not_found("route", id))?;
    Ok(Json(route_view(&row)))
}

/// Delete a notification route rule
///
/// Removes the rule; when the organization has none left, every event goes to
/// each of its enabled channels. 404 for a rule that does not exist or belongs
/// to another organization.
#[utoipa::path(delete, path = "/api/v1/notifications/routes/{id}", tag = "notifications",
    params(("id" = i64, Path, description = "Route id")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete_route(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    owned_route(&s, &caller, id).await?;
    if !s.store.delete_route(id).await? {
        return Err(not_found("route", id));
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- deliveries ----

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// pending, delivered or failed.
    state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub attempt: i64,
    pub at: String,
    pub duration_ms: i64,
    /// delivered, retrying or failed.
    pub outcome: String,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub next_attempt_at: Option<String>,
    /// The replica that made the attempt.
    pub replica: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: i64,
    pub event_id: i64,
    pub event_kind: String,
    /// What makes the event unique (`downtime:42:opened`).
    pub dedup_key: String,
    pub event_at: String,
    pub channel_id: i64,
    pub channel_name: Option<String>,
    pub organization: String,
    /// pending, delivered or failed.
    pub state: String,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
    pub attempts: Vec<AttemptView>,
}

fn attempt_view(a: AttemptRow) -> AttemptView {
    AttemptView {
        attempt: a.attempt,
        at: rfc3339(a.at),
        duration_ms: a.duration_ms,
        outcome: a.outcome,
        status_code: a.status_code,
        error: a.error,
        next_attempt_at: a.next_attempt_at.map(rfc3339),
        replica: a.replica,
    }
}

fn delivery_view(d: DeliveryRow) -> DeliveryView {
    DeliveryView {
        id: d.id,
        event_id: d.event_id,
        event_kind: d.event_kind,
        dedup_key: d.dedup_key,
        event_at: rfc3339(d.event_at),
        channel_id: d.channel_id,
        channel_name: d.channel_name,
        organization: d.organization,
        state: d.state,
        next_attempt_at: d.next_attempt_at.map(rfc3339),
        last_error: d.last_error,
        delivered_at: d.delivered_at.map(rfc3339),
        created_at: rfc3339(d.created_at),
        attempts: d.attempts.into_iter().map(attempt_view).collect(),
    }
}

/// List notification deliveries with their attempts, newest first
///
/// One entry per event and channel: the event, its state (`pending`,
/// `delivered` or `failed`), the next attempt, the last error, and every
/// attempt made with its outcome, status code and the replica that made it.
/// Filter by `state`.
#[utoipa::path(get, path = "/api/v1/notifications/deliveries", tag = "notifications", params(DeliveryQuery, PageQuery),
    responses((status = 200, body = Page<DeliveryView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_deliveries(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<DeliveryView>>> {
    let (paging, q) = page::split(q)?;
    let q: DeliveryQuery = crate::extract::parse_query(q)?;
    if let Some(st) = q.state.as_deref()
        && !matches!(st, "pending" | "delivered" | "failed")
    {
        return Err(FieldError::invalid(
            "state",
            format!("unknown state {st:?}; expected pending, delivered or failed"),
        )
        .into());
    }
    let rows =
        s.store.list_deliveries(caller.scope.as_option(), q.state.as_deref(), paging.after()?, paging.fetch()).await?;
    Ok(Json(paging.close(rows, |r| r.id).map(delivery_view)))
}
