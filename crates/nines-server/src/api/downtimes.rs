//! Downtimes: list, detail with members, log, compiled timeline and notes;
//! manual downtimes; classification and SLA accounting; acknowledgement;
//! post-mortem notes created in one call; activities for timelines.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use nines_core::clock::{Millis, rfc3339};
use nines_core::downtime::Subject;
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, OrgScope};
use nines_store::downtimes::{DowntimeFilter, DowntimePatch, DowntimeRow, MemberRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeView {
    pub id: i64,
    pub organization: String,
    pub title: String,
    /// MONITORING (opened by nines) or MANUAL.
    pub source: String,
    pub severity: String,
    pub classification: Option<String>,
    pub counts_towards_sla: bool,
    pub excluded_reason: Option<String>,
    pub started_at: String,
    pub resolved_at: Option<String>,
    pub duration_seconds: f64,
    pub acknowledged_at: Option<String>,
    pub acknowledged_by: Option<String>,
    /// Due times from the tier (SLA seed's table) of the most critical
    /// member, or of a severity set by hand; recomputed as members join.
    pub response_due_at: String,
    pub resolution_due_at: String,
    pub response_breached: bool,
    pub resolution_breached: bool,
}

fn view(d: &DowntimeRow, now: Millis) -> DowntimeView {
    let end = d.resolved_at.unwrap_or(now);
    DowntimeView {
        id: d.id,
        organization: d.organization.clone(),
        title: d.title.clone(),
        source: d.source.clone(),
        severity: d.severity.clone(),
        classification: d.classification.clone(),
        counts_towards_sla: d.counts_towards_sla,
        excluded_reason: d.excluded_reason.clone(),
        started_at: rfc3339(d.started_at),
        resolved_at: d.resolved_at.map(rfc3339),
        duration_seconds: (end - d.started_at) as f64 / 1000.0,
        acknowledged_at: d.acknowledged_at.map(rfc3339),
        acknowledged_by: d.acknowledged_by.clone(),
        response_due_at: rfc3339(d.response_due_at),
        resolution_due_at: rfc3339(d.resolution_due_at),
        response_breached: d.acknowledged_at.unwrap_or(now) > d.response_due_at,
        resolution_breached: end > d.resolution_due_at,
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DowntimeQuery {
    /// `open` or `resolved`; default both.
    state: Option<String>,
}

/// List downtimes, open, resolved or both
///
/// The downtimes of the key's organization, newest first: those nines opened
/// when services went DOWN (correlated into one downtime) and manual ones. Each
/// with its severity, classification, SLA accounting, acknowledgement, and the
/// response and resolution due times of its tier with whether they were missed.
/// `state` is `open` or `resolved` (default both; anything else is 422).
#[utoipa::path(get, path = "/api/v1/downtimes", tag = "downtimes", params(DowntimeQuery, PageQuery),
    responses((status = 200, body = Page<DowntimeView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<DowntimeView>>> {
    let (paging, q) = page::split(q)?;
    let q: DowntimeQuery = parse_query(q)?;
    let open = match q.state.as_deref() {
        None => None,
        Some("open") => Some(true),
        Some("resolved") => Some(false),
        Some(o) => return Err(FieldError::invalid("state", format!("{o:?}: expected open or resolved")).into()),
    };
    let now = s.clock.now_ms();
    let filter = DowntimeFilter {
        organization: caller.scope.as_option(),
        open_only: open,
        after: paging.after()?,
        limit: Some(paging.fetch()),
        ..Default::default()
    };
    let rows = s.store.find_downtimes(&filter).await?;
    Ok(Json(paging.close(rows, |d| (d.started_at, d.id)).map(|d| view(&d, now))))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DowntimeDetail {
    #[serde(flatten)]
    pub downtime: DowntimeView,
    #[schema(value_type = Vec<Object>)]
    pub members: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<Value>,
    /// Compiled once when the downtime resolved; live while it is open.
    #[schema(value_type = Vec<Object>)]
    pub timeline: Value,
    #[schema(value_type = Vec<Object>)]
    pub notes: Vec<Value>,
}

async fn load(
    s: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<(DowntimeRow, Vec<MemberRow>, Vec<(Millis, String)>)> {
    let id: i64 = id.parse().map_err(|_| FieldError::invalid("id", format!("{id:?} is not a downtime id")))?;
    caller.visible(s.store.get_downtime(id).await?, |d| &d.0.organization, || format!("no downtime {id}"))
}

/// Get a downtime with its members, log, timeline and notes
///
/// The downtime with the services it covers (when each joined and
/// recovered), its log (members joining, acknowledgement, severity,
/// resolution), a timeline merging the members' status changes, the log and
/// the organization's activities (frozen once the downtime is resolved), and
/// the notes written about it. 404 for an id that does not exist or belongs
/// to another organization.
#[utoipa::path(get, path = "/api/v1/downtimes/{id}", tag = "downtimes", params(("id" = i64, Path, description = "Downtime id")),
    responses((status = 200, body = DowntimeDetail), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn detail(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DowntimeDetail>> {
    let (d, members, log) = load(&s, &caller, &id).await?;
    let now = s.clock.now_ms();
    let timeline = match s.store.downtime_timeline(d.id).await? {
        Some(t) => serde_json::from_str(&t).unwrap_or(json!([])),
        None => crate::workers::compile_timeline(&s.store, d.id, now).await?,
    };
    let notes = s
        .store
        .notes_of_downtime(d.id)
        .await?
        .into_iter()
        .map(|(id, title, author, at)| json!({"id": id, "title": title, "author": author, "createdAt": rfc3339(at)}))
        .collect();
    Ok(Json(DowntimeDetail {
        downtime: view(&d, now),
        members: members
            .iter()
            .map(|m| json!({"serviceId": m.service_id, "service": m.name, "nodeId": m.node_id, "down": m.down, "joinedAt": rfc3339(m.joined_at), "recoveredAt": m.recovered_at.map(rfc3339)}))
            .collect(),
        log: log.into_iter().map(|(at, m)| json!({"at": rfc3339(at), "message": m})).collect(),
        timeline,
        notes,
    }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewDowntime {
    pub title: String,
    pub service_ids: Vec<i64>,
    /// RFC 3339; default now.
    pub started_at: Option<String>,
}

/// Open a manual downtime for one or more services
///
/// For an outage nines did not detect itself. `title` is 1 to 300 characters;
/// `serviceIds` lists at least one service, all of one organization (the
/// key's); `startedAt` (RFC 3339) defaults to now and may be up to 7 days old.
/// The due times come from the tier of the most critical member. 422 names the
/// field that is wrong.
#[utoipa::path(post, path = "/api/v1/downtimes", tag = "downtimes", request_body = NewDowntime,
    responses((status = 201, body = DowntimeDetail), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewDowntime>,
) -> ApiResult<(StatusCode, Json<DowntimeDetail>)> {
    if b.title.trim().is_empty() || b.title.len() > 300 {
        return Err(FieldError::invalid("title", "1 to 300 characters").into());
    }
    if b.service_ids.is_empty() {
        return Err(FieldError::invalid("serviceIds", "at least one service").into());
    }
    let now = s.clock.now_ms();
    let at = nines_core::wire::event_time(b.started_at.as_deref(), now).map_err(|mut e| {
        e.field = "startedAt".into();
        e.message = e.message.replace("timestamp", "startedAt");
        e
    })?;
    let mut members = Vec::new();
    let mut org: Option<String> = None;
    for (i, id) in b.service_ids.iter().enumerate() {
        let field = format!("serviceIds[{i}]");
        let rec = s
            .store
            .get_service(*id)
            .await?
            .ok_or_else(|| ApiError::from(FieldError::invalid(field.clone(), format!("no service {id}"))))?;
        caller.require_org(&rec.view.organization, &field)?;
        if org.as_ref().is_some_and(|o| *o != rec.view.organization) {
            return Err(FieldError::invalid(field, "all services of a downtime belong to one organization").into());
        }
        org = Some(rec.view.organization.clone());
        members.push(Subject {
            service_id: rec.view.id,
            name: rec.view.service.clone(),
            organization: rec.view.organization.clone(),
            node_id: rec.view.node_id.clone(),
            sla_group: rec.view.sla_group.clone(),
            criticality: rec.view.criticality,
        });
    }
    let id =
        s.store.create_manual_downtime(org.as_deref().unwrap_or_default(), b.title.trim(), &members, at, now).await?;
    let Json(d) = detail(State(s), caller, Path(id.to_string())).await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchDowntime {
    pub title: Option<String>,
    /// critical, major or minor; the due times follow it (that severity's
    /// tier), and a member joining later raises it only when more severe.
    pub severity: Option<String>,
    pub classification: Option<String>,
    pub counts_towards_sla: Option<bool>,
    pub excluded_reason: Option<String>,
    /// Resolve now (manual downtimes, or to close one by hand).
    pub resolve: Option<bool>,
}

/// Update a downtime's title, severity or SLA accounting, or resolve it
///
/// Only the fields given change. `severity` is `critical`, `major` or `minor`
/// and moves the due times to that severity's tier; `classification` is free
/// text. Setting `countsTowardsSla` to false needs an `excludedReason` (unless
/// one is already recorded). `resolve: true` resolves the downtime now, a
/// manual one or one to close by hand. A severity set by hand and a
/// resolution are written to the downtime's log. 404 for a downtime of
/// another organization.
#[utoipa::path(patch, path = "/api/v1/downtimes/{id}", tag = "downtimes", request_body = PatchDowntime, params(("id" = i64, Path, description = "Downtime id")),
    responses((status = 200, body = DowntimeDetail), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn patch(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<PatchDowntime>,
) -> ApiResult<Json<DowntimeDetail>> {
    let (d, ..) = load(&s, &caller, &id).await?;
    if let Some(sev) = &b.severity
        && !["critical", "major", "minor"].contains(&sev.as_str())
    {
        return Err(FieldError::invalid("severity", format!("{sev:?}: expected critical, major or minor")).into());
    }
    if b.counts_towards_sla == Some(false)
        && b.excluded_reason.as_deref().is_none_or(|r| r.trim().is_empty())
        && d.excluded_reason.is_none()
    {
        return Err(FieldError::missing("excludedReason")
            .with_reason("a downtime that does not count towards the SLA needs an excludedReason")
            .into());
    }
    let now = s.clock.now_ms();
    let p = DowntimePatch {
        title: b.title.clone(),
        severity: b.severity.clone(),
        classification: b.classification.clone(),
        counts_towards_sla: b.counts_towards_sla,
        excluded_reason: b.excluded_reason.clone(),
        resolved_at: (b.resolve == Some(true)).then_some(now),
    };
    s.store.patch_downtime(d.id, &p, now).await?;
    detail(State(s), caller, Path(id)).await
}

/// Acknowledge a downtime
///
/// Records that someone is on it: the acknowledging key's name and the time,
/// which stops the response due time from being missed. Acknowledging one that
/// is already acknowledged changes nothing (the first acknowledgement stays).
/// Answers the updated downtime.
#[utoipa::path(post, path = "/api/v1/downtimes/{id}/acknowledge", tag = "downtimes", params(("id" = i64, Path, description = "Downtime id")),
    responses((status = 200, body = DowntimeDetail)), security(("api_key" = [])))]
pub async fn acknowledge(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<DowntimeDetail>> {
    let (d, ..) = load(&s, &caller, &id).await?;
    s.store.acknowledge_downtime(d.id, &caller.key_name, s.clock.now_ms()).await?;
    detail(State(s), caller, Path(id)).await
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NoteView {
    pub id: i64,
    pub downtime_id: Option<i64>,
    pub author: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

async fn note_view(s: &AppState, caller: &Caller, id: i64) -> ApiResult<NoteView> {
    let (id, dt, _, author, title, body, c, u) =
        caller.visible(s.store.get_note(id).await?, |n| &n.2, || format!("no note {id}"))?;
    Ok(NoteView { id, downtime_id: dt, author, title, body, created_at: rfc3339(c), updated_at: rfc3339(u) })
}

/// Create a post-mortem note for a downtime from its timeline
///
/// Writes a new note in Markdown with the downtime's facts (start, resolution,
/// duration, severity, SLA accounting, services), its timeline, and empty
/// sections for summary, impact, root cause, resolution and action items,
/// authored by the calling key. The note is edited with `PUT
/// /api/v1/notes/{id}`; each call makes a new note.
#[utoipa::path(post, path = "/api/v1/downtimes/{id}/postmortem", tag = "downtimes", params(("id" = i64, Path, description = "Downtime id")),
    responses((status = 201, body = NoteView)), security(("api_key" = [])))]
pub async fn postmortem(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<NoteView>)> {
    let (d, members, _) = load(&s, &caller, &id).await?;
    let now = s.clock.now_ms();
    let v = view(&d, now);
    let timeline = crate::workers::compile_timeline(&s.store, d.id, now).await?;
    let mut body = format!("# Post-mortem: {}\n\n", d.title);
    body.push_str(&format!("- **Started:** {}\n", v.started_at));
    body.push_str(&format!("- **Resolved:** {}\n", v.resolved_at.clone().unwrap_or_else(|| "not yet".into())));
    body.push_str(&format!("- **Duration:** {:.0} min\n", v.duration_seconds / 60.0));
    body.push_str(&format!("- **Severity:** {}\n", d.severity));
    body.push_str(&format!(
        "- **Counts towards SLA:** {}{}\n",
        if d.counts_towards_sla { "yes" } else { "no" },
        d.excluded_reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
    ));
    body.push_str(&format!(
        "- **Services:** {}\n\n",
        members.iter().map(|m| format!("{} ({})", m.name, m.node_id)).collect::<Vec<_>>().join(", ")
    ));
    body.push_str("## Timeline\n\n");
    for item in timeline.as_array().into_iter().flatten() {
        let text = match item["kind"].as_str() {
            Some("status") => format!(
                "{}: {} → {}",
                item["service"].as_str().unwrap_or(""),
                item["from"].as_str().unwrap_or(""),
                item["to"].as_str().unwrap_or("")
            ),
            _ => item["text"].as_str().unwrap_or("").to_string(),
        };
        body.push_str(&format!("- {} — {text}\n", item["at"].as_str().unwrap_or("")));
    }
    body.push_str("\n## Summary\n\n## Impact\n\n## Root cause\n\n## Resolution\n\n## Action items\n\n- [ ] \n");
    let note = s
        .store
        .create_note(Some(d.id), &d.organization, &caller.key_name, &format!("Post-mortem: {}", d.title), &body, now)
        .await?;
    Ok((StatusCode::CREATED, Json(note_view(&s, &caller, note).await?)))
}

/// Get a note, such as a post-mortem
///
/// The note's title, Markdown body, author, the downtime it belongs to, and
/// when it was created and last changed. 404 for a note of another
/// organization.
#[utoipa::path(get, path = "/api/v1/notes/{id}", tag = "downtimes", params(("id" = i64, Path, description = "Note id")),
    responses((status = 200, body = NoteView)), security(("api_key" = [])))]
pub async fn get_note(State(s): State<AppState>, caller: Caller, Path(id): Path<i64>) -> ApiResult<Json<NoteView>> {
    Ok(Json(note_view(&s, &caller, id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// Markdown.
    pub body: String,
}

/// Replace a post-mortem note's text
///
/// `body` (Markdown, at most 512 KiB) replaces the note's text; title and
/// author stay. 404 for a note of another organization.
#[utoipa::path(put, path = "/api/v1/notes/{id}", tag = "downtimes", request_body = NoteBody, params(("id" = i64, Path, description = "Note id")),
    responses((status = 200, body = NoteView)), security(("api_key" = [])))]
pub async fn put_note(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    JsonBody(b): JsonBody<NoteBody>,
) -> ApiResult<Json<NoteView>> {
    note_view(&s, &caller, id).await?;
    if b.body.len() > 512 * 1024 {
        return Err(FieldError::invalid("body", "at most 512 KiB").into());
    }
    s.store.update_note(id, &b.body, s.clock.now_ms()).await?;
    Ok(Json(note_view(&s, &caller, id).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewActivity {
    /// deployment, install, uninstall, scale, config, or another word.
    pub kind: String,
    pub message: String,
    pub node_id: Option<String>,
    pub service: Option<String>,
    pub timestamp: Option<String>,
    pub organization: Option<String>,
}

/// Record an activity (a deployment, config change…) for timelines
///
/// An activity is something done to the platform (`kind`: `deployment`,
/// `install`, `uninstall`, `scale`, `config` or another word) with a `message`,
/// optionally about a node or service. It is shown on the timelines of
/// downtimes around it, so a reader sees what changed before an outage. The
/// organization is the `nodeId`'s, the one named, or the key's; `timestamp`
/// defaults to now and may be up to 7 days old.
#[utoipa::path(post, path = "/api/v1/activities", tag = "downtimes", request_body = NewActivity,
    responses((status = 201), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn activity(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<NewActivity>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    nines_core::check_name(&b.kind).map_err(|r| FieldError::invalid("kind", r))?;
    nines_core::wire::check_message("message", Some(&b.message))?;
    let now = s.clock.now_ms();
    let at = nines_core::wire::event_time(b.timestamp.as_deref(), now)?;
    let org = match (&b.node_id, &b.organization, &caller.scope) {
        (Some(n), _, _) => {
            let (org, _) = crate::api::push::resolve_node(&caller, Some(n))?;
            org
        }
        (None, Some(o), _) => {
            caller.require_org(o, "organization")?;
            o.clone()
        }
        (None, None, OrgScope::One(o)) => o.clone(),
        (None, None, OrgScope::All) => {
            return Err(FieldError::missing("organization").with_reason("give nodeId or organization").into());
        }
    };
    let id = s.store.record_activity(&org, b.node_id.as_deref(), b.service.as_deref(), &b.kind, &b.message, at).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "at": rfc3339(at)}))))
}

/// `POST /api/v1/downtimes/{id}/updates`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUpdate {
    /// investigating, identified, monitoring or resolved.
    pub status: Option<String>,
    /// What the public reads (plain text, at most 4000 characters).
    pub message: Option<String>,
    /// The incident's title on status pages (kept for later updates; the
    /// downtime's own title stays internal). Without one, pages name the
    /// services.
    pub public_title: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateView {
    pub id: i64,
    pub downtime_id: i64,
    pub status: String,
    pub message: String,
    /// Who posted it (the person signed in, or the key's name).
    pub author: String,
    pub created_at: String,
}

/// The words an update's status may be.
pub const UPDATE_STATUSES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];

fn update_view(u: &nines_store::pages::UpdateRow) -> UpdateView {
    UpdateView {
        id: u.id,
        downtime_id: u.downtime_id,
        status: u.status.clone(),
        message: u.body.clone(),
        author: u.author.clone(),
        created_at: rfc3339(u.created_at),
    }
}

/// List a downtime's public updates
///
/// What was told to the public about it, oldest first.
#[utoipa::path(get, path = "/api/v1/downtimes/{id}/updates", tag = "downtimes", params(("id" = i64, Path, description = "Downtime id"), PageQuery),
    responses((status = 200, body = Page<UpdateView>), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_updates(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<UpdateView>>> {
    let paging = page::only(q)?;
    let (d, ..) = load(&s, &caller, &id).await?;
    let rows = s.store.downtime_updates(&[d.id]).await?;
    Ok(Json(paging.page(rows, |u| u.id)?.map(|u| update_view(&u))))
}

/// Post a public update on a downtime
///
/// The update shows under the incident on every status page that shows one
/// of the downtime's services, in their Atom feeds, and goes to the pages'
/// confirmed subscribers (email and webhooks), queued in the same
/// transaction. `status` is investigating, identified, monitoring or
/// resolved; `message` 1 to 4000 characters; `publicTitle` (optional, at
/// most 200) names the incident on the pages from now on. Posting
/// `resolved` does not resolve the downtime: nines resolves it when its
/// services recover, or a person does with `PATCH`. The author is the
/// caller (the person signed in, or the key's name).
#[utoipa::path(post, path = "/api/v1/downtimes/{id}/updates", tag = "downtimes", request_body = NewUpdate,
    params(("id" = i64, Path, description = "Downtime id")),
    responses((status = 201, body = UpdateView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn post_update(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<NewUpdate>,
) -> ApiResult<(StatusCode, Json<UpdateView>)> {
    let (d, members, _) = load(&s, &caller, &id).await?;
    let status = b.status.as_deref().map(str::trim).unwrap_or("");
    if status.is_empty() {
        return Err(FieldError::missing("status").into());
    }
    if !UPDATE_STATUSES.contains(&status) {
        return Err(FieldError::invalid("status", format!("must be one of {}", UPDATE_STATUSES.join(", "))).into());
    }
    let message = b.message.as_deref().map(str::trim).unwrap_or("");
    if message.is_empty() {
        return Err(FieldError::missing("message").into());
    }
    if message.chars().count() > 4000 {
        return Err(FieldError::invalid(
            "message",
            format!("at most 4000 characters, got {}", message.chars().count()),
        )
        .into());
    }
    let public_title = match b.public_title.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if t.chars().count() > 200 => {
            return Err(FieldError::invalid("publicTitle", "at most 200 characters").into());
        }
        Some(t) if t.chars().any(char::is_control) => {
            return Err(FieldError::invalid("publicTitle", "must not contain control characters").into());
        }
        Some(t) => Some(t.to_string()),
    };
    let now = s.clock.now_ms();
    // the incident's public title: the one given, else the one it has
    let title = match &public_title {
        Some(t) => Some(t.clone()),
        None => s.store.downtime_public_titles(&[d.id]).await?.into_iter().next().map(|(_, t)| t),
    };
    let ids: Vec<i64> = members.iter().map(|m| m.service_id).collect();
    let deliveries =
        crate::notify::pages::update_deliveries(&s.notifier, d.id, &ids, status, message, title.as_deref(), now)
            .await?;
    let uid = s
        .store
        .add_downtime_update(
            d.id,
            &d.organization,
            status,
            message,
            &caller.key_name,
            public_title.as_deref(),
            &deliveries,
            now,
        )
        .await?;
    let u = nines_store::pages::UpdateRow {
        id: uid,
        downtime_id: d.id,
        organization: d.organization.clone(),
        status: status.to_string(),
        body: message.to_string(),
        author: caller.key_name.clone(),
        created_at: now,
    };
    Ok((StatusCode::CREATED, Json(update_view(&u))))
}
