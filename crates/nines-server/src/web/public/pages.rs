//! Status pages: which page a request is for, what each page shows, and
//! the API that configures them.
//!
//! A page is found by its slug (`/p/{slug}/…`), by its custom domain (the
//! request's `Host`), or is the default page (`/`). Every organization with
//! public groups has a page at `/p/{organization}` until a page of its own
//! is configured for it; a configured page may show some of the
//! organization's groups, or, with no organization, groups of several
//! (a platform-wide page). Without a default page, `/` shows every public
//! group, as nines did before pages existed.
//!
//! A page's snapshot is cut from the snapshot of every public group
//! ([`super::snapshot::subset`]) and kept until that one changes, so all
//! pages share one set of figures per service.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use nines_core::wire::{ErrorBody, Page};
use nines_core::{FieldError, OrgScope};
use nines_store::pages::{PageGroupRef, PageLink, PageRow};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

use super::admin::{org_for, text};
use super::cache::Cache;
use super::snapshot::{Block, PageMeta, Snapshot, subset};
use crate::AppState;
use crate::api::page::{self, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::extract::parse_query;

/// What decides a page's content.
#[derive(Debug, Clone)]
pub struct Def {
    /// The stored page; None for an organization's page nobody configured
    /// and for the page of every public group.
    pub row: Option<PageRow>,
    pub slug: Option<String>,
    pub organization: Option<String>,
    pub groups: Vec<PageGroupRef>,
    pub title: String,
}

impl Def {
    /// Whether the page shows the group `group` of `org`.
    pub fn shows(&self, org: &str, group: &str) -> bool {
        nines_store::pages::page_shows(self.organization.as_deref(), &self.groups, org, group)
    }

    pub fn from_row(r: &PageRow) -> Def {
        Def {
            row: Some(r.clone()),
            slug: Some(r.slug.clone()),
            organization: r.organization.clone(),
            groups: r.groups.clone(),
            title: r.title.clone(),
        }
    }

    fn implicit(org: &str) -> Def {
        Def {
            row: None,
            slug: Some(org.to_string()),
            organization: Some(org.to_string()),
            groups: Vec::new(),
            title: format!("{org} status"),
        }
    }

    fn everything() -> Def {
        Def { row: None, slug: None, organization: None, groups: Vec::new(), title: "System status".into() }
    }
}

/// Organizations with public groups but no page of their own configured.
fn unpaged_orgs<'a>(pages: &[PageRow], blocks: impl Iterator<Item = &'a str>) -> Vec<String> {
    let paged: HashSet<&str> = pages.iter().filter_map(|p| p.organization.as_deref()).collect();
    let taken: HashSet<&str> = pages.iter().map(|p| p.slug.as_str()).collect();
    let mut out: Vec<String> = blocks
        .filter(|o| !paged.contains(o) && !taken.contains(o))
        .map(str::to_string)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    out.sort();
    out
}

/// Every page there is: the configured ones and the organizations' own.
pub fn all_defs(pages: &[PageRow], orgs_with_groups: &[&str]) -> Vec<Def> {
    let mut out: Vec<Def> = pages.iter().map(Def::from_row).collect();
    out.extend(unpaged_orgs(pages, orgs_with_groups.iter().copied()).iter().map(|o| Def::implicit(o)));
    out
}

/// The host name a request names, lowercase, without the port.
fn host_of(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::HOST)?.to_str().ok()?;
    // `[v6]:port`, `name:port` or a bare name
    let name = match h.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(a, _)| a),
        None => h.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(h, |(n, _)| n),
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

/// The page a request is for: by slug, else by `Host`, else the default.
/// Returns the page and the start of its links.
pub fn resolve(all: &Snapshot, slug: Option<&str>, headers: &HeaderMap) -> Option<(Def, String)> {
    let pages = &all.pages;
    if let Some(slug) = slug {
        if let Some(p) = pages.iter().find(|p| p.slug == slug) {
            return Some((Def::from_row(p), format!("/p/{slug}")));
        }
        let orgs: Vec<&str> = all.blocks.iter().map(|b| b.organization.as_str()).collect();
        return unpaged_orgs(pages, orgs.into_iter())
            .into_iter()
            .find(|o| o == slug)
            .map(|o| (Def::implicit(&o), format!("/p/{o}")));
    }
    if let Some(host) = host_of(headers)
        && let Some(p) = pages.iter().find(|p| p.custom_domain.as_deref() == Some(host.as_str()))
    {
        return Some((Def::from_row(p), String::new()));
    }
    match pages.iter().find(|p| p.is_default) {
        Some(p) => Some((Def::from_row(p), String::new())),
        None => Some((Def::everything(), String::new())),
    }
}

/// Page snapshots, by page and link prefix, for the version they were cut from.
#[derive(Default)]
pub struct Views(Mutex<HashMap<ViewKey, Arc<Snapshot>>>);

/// A page's slug (None: every public group) and its links' prefix.
pub type ViewKey = (Option<String>, String);

/// Group headings on a page across organizations: a group "Default" is
/// called by its organization, and headings that two groups share name
/// their organization.
fn label_blocks(blocks: &mut [Block]) {
    let orgs: HashSet<&str> = blocks.iter().map(|b| b.organization.as_str()).collect();
    if orgs.len() < 2 {
        return;
    }
    for b in blocks.iter_mut() {
        if b.group == nines_store::statuspage::DEFAULT_GROUP {
            b.name = b.organization.clone();
        }
    }
    let mut count: HashMap<String, usize> = HashMap::new();
    for b in blocks.iter() {
        *count.entry(b.name.clone()).or_default() += 1;
    }
    for b in blocks.iter_mut() {
        if count.get(&b.name).copied().unwrap_or(0) > 1 {
            b.name = format!("{} ({})", b.name, b.organization);
        }
    }
}

/// The snapshot of the page a request is for; 404 for an unknown slug.
pub async fn view(
    s: &AppState,
    cache: &Arc<Cache>,
    views: &Views,
    slug: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Arc<Snapshot>> {
    let all = cache.get(s).await?;
    let (def, prefix) = resolve(&all, slug, headers)
        .ok_or_else(|| ApiError::not_found(format!("no status page {:?}", slug.unwrap_or(""))).field("slug"))?;
    let key = (def.slug.clone(), prefix.clone());
    if let Some(v) = views.0.lock().ok().and_then(|m| m.get(&key).cloned())
        && v.version == all.version
    {
        return Ok(v);
    }
    let row = def.row.as_ref();
    let meta = PageMeta {
        slug: def.slug.clone(),
        title: def.title.clone(),
        description: row.and_then(|r| r.description.clone()),
        logo_url: row.and_then(|r| r.logo_url.clone()),
        links: row.map(|r| r.links.clone()).unwrap_or_default(),
        footer: row.and_then(|r| r.footer.clone()),
        prefix,
        subscribe: row.is_some_and(|r| r.email_channel_id.is_some()),
    };
    let mut v = subset(&all, |b| def.shows(&b.organization, &b.group), meta);
    label_blocks(&mut v.blocks);
    let v = Arc::new(v);
    if let Ok(mut m) = views.0.lock() {
        if m.len() > 1000 {
            m.clear();
        }
        m.insert(key, v.clone());
    }
    Ok(v)
}

// ---- the API ----

const MAX_LINKS: usize = 10;
const MAX_GROUPS: usize = 500;

/// `PUT /api/v1/status-pages/{slug}`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutPage {
    /// The organization whose page this is. Keys of one organization may
    /// leave it out (their own); keys of every organization leave it out
    /// for a page across organizations.
    pub organization: Option<String>,
    /// The page's heading and the browser's title (at most 200 characters).
    pub title: Option<String>,
    /// A paragraph under the heading.
    pub description: Option<String>,
    /// An image shown beside the title: a web address (https or http), or a path on this server.
    pub logo_url: Option<String>,
    /// Links in the page's header (at most 10), each `{title, url}`.
    pub links: Option<Vec<PutLink>>,
    /// A line at the foot of the page.
    pub footer: Option<String>,
    /// A host name that serves this page at its root (`status.example.com`):
    /// point the name at nines and requests with that `Host` get this page.
    pub custom_domain: Option<String>,
    /// The page `/` shows (one page at a time; needs a key of every organization).
    #[serde(default)]
    pub default: bool,
    /// The groups shown, by name (and organization on a page across
    /// organizations). Left out or empty: every public group of the
    /// organization (of every organization on a page across them).
    pub groups: Option<Vec<PutGroupRef>>,
    /// The id of an email notification channel: its SMTP server sends to the
    /// page's email subscribers. Without one the page offers no email
    /// subscription.
    pub email_channel_id: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutLink {
    pub title: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PutGroupRef {
    /// Needed on a page across organizations; on an organization's page, its own.
    pub organization: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkView {
    pub title: String,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupRefView {
    pub organization: String,
    pub group: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageView {
    pub slug: String,
    pub organization: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub logo_url: Option<String>,
    pub links: Vec<LinkView>,
    pub footer: Option<String>,
    pub custom_domain: Option<String>,
    pub default: bool,
    pub groups: Vec<GroupRefView>,
    pub email_channel_id: Option<i64>,
    /// Where the page is: `/p/{slug}`.
    pub path: String,
    /// Whether nines made it up (an organization's page nobody configured):
    /// `PUT` on its slug configures it.
    pub implicit: bool,
    pub updated_at: Option<String>,
}

fn page_view(d: &Def) -> PageView {
    let r = d.row.as_ref();
    let slug = d.slug.clone().unwrap_or_default();
    PageView {
        path: format!("/p/{slug}"),
        slug,
        organization: d.organization.clone(),
        title: d.title.clone(),
        description: r.and_then(|r| r.description.clone()),
        logo_url: r.and_then(|r| r.logo_url.clone()),
        links: r
            .map(|r| r.links.iter().map(|l| LinkView { title: l.title.clone(), url: l.url.clone() }).collect())
            .unwrap_or_default(),
        footer: r.and_then(|r| r.footer.clone()),
        custom_domain: r.and_then(|r| r.custom_domain.clone()),
        default: r.is_some_and(|r| r.is_default),
        groups: d
            .groups
            .iter()
            .map(|g| GroupRefView { organization: g.organization.clone(), group: g.group.clone() })
            .collect(),
        email_channel_id: r.and_then(|r| r.email_channel_id),
        implicit: r.is_none(),
        updated_at: r.map(|r| nines_core::clock::rfc3339(r.updated_at)),
    }
}

/// A slug: lowercase letters, digits and `-`, 1 to 63, not starting or
/// ending with `-` (it is a path segment and reads like a host label).
pub fn check_slug(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("must be 1 to 63 characters, got {}", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("may hold only a-z, 0-9 and '-', not {c:?}"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// A host name for `customDomain`: DNS labels, lowercase, with a dot.
fn check_domain(s: &str) -> Result<(), String> {
    if s.len() > 253 || !s.contains('.') {
        return Err("must be a host name with a dot, such as status.example.com".into());
    }
    for label in s.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("label {label:?} must be 1 to 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} must not start or end with '-'"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(format!("may hold only a-z, 0-9, '-' and '.', not {c:?}"));
        }
    }
    Ok(())
}

/// A URL the page links to or shows: http(s), or a path on this server
/// (`mailto:` too, for links).
fn check_url(u: &str, mailto: bool) -> Result<(), String> {
    let ok = u.starts_with("https://")
        || u.starts_with("http://")
        || (u.starts_with('/') && !u.starts_with("//"))
        || (mailto && u.starts_with("mailto:"));
    if !ok {
        return Err(format!(
            "must start with https://, http://{} or be a path starting with /",
            if mailto { ", mailto:" } else { "" }
        ));
    }
    if u.len() > 2000 || u.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>') {
        return Err("must be at most 2000 characters, without spaces, quotes or angle brackets".into());
    }
    Ok(())
}

fn needs_every_org(caller: &Caller, field: &str, why: &str) -> ApiResult<()> {
    if caller.scope == OrgScope::All {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("{why} needs a key of every organization")).field(field))
    }
}

/// List the status pages
///
/// The configured pages the key's organization may see, and the pages
/// nines shows for organizations that have public groups but no configured
/// page (`implicit: true`, at `/p/{organization}`). A key of every
/// organization also sees pages across organizations.
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status-page", params(PageQuery),
    responses((status = 200, body = Page<PageView>), (status = 422, body = ErrorBody)), security(("api_key" = [])))]
pub async fn list_pages(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<PageView>>> {
    let paging = page::only(q)?;
    let all = cache.get(&s).await?;
    let pages = s.store.status_pages().await?;
    let orgs: Vec<&str> = all.blocks.iter().map(|b| b.organization.as_str()).collect();
    let defs = all_defs(&pages, &orgs);
    let views = defs
        .iter()
        .filter(|d| match &d.organization {
            Some(o) => caller.scope.allows(o),
            None => caller.scope == OrgScope::All,
        })
        .map(page_view)
        .collect();
    Ok(Json(paging.page(views, |p| p.slug.clone())?))
}

/// Read one status page
///
/// Its settings; an organization's page nobody configured answers with
/// `implicit: true`.
#[utoipa::path(get, path = "/api/v1/status-pages/{slug}", tag = "status-page",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 200, body = PageView), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn get_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(slug): Path<String>,
) -> ApiResult<Json<PageView>> {
    let all = cache.get(&s).await?;
    let pages = s.store.status_pages().await?;
    let orgs: Vec<&str> = all.blocks.iter().map(|b| b.organization.as_str()).collect();
    let d = all_defs(&pages, &orgs)
        .into_iter()
        .find(|d| d.slug.as_deref() == Some(slug.as_str()))
        .filter(|d| d.organization.as_deref().map_or(caller.scope == OrgScope::All, |o| caller.scope.allows(o)))
        .ok_or_else(|| ApiError::not_found(format!("no status page {slug:?}")).field("slug"))?;
    Ok(Json(page_view(&d)))
}

/// Create or replace a status page
///
/// The body replaces the page's settings: `title` (required), `description`,
/// `logoUrl`, `links`, `footer`, `customDomain` (unique), `default`,
/// `groups` and `emailChannelId`. An organization's key configures its
/// organization's pages; a page across organizations (no `organization`),
/// the default page and a page naming another organization's groups need a
/// key of every organization. 201 when created, 200 when replaced; the page
/// changes at once. 409 when the custom domain is another page's.
#[utoipa::path(put, path = "/api/v1/status-pages/{slug}", tag = "status-page", request_body = PutPage,
    params(("slug" = String, Path, description = "The page's slug: a-z, 0-9 and '-'")),
    responses((status = 200, body = PageView), (status = 201, body = PageView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(slug): Path<String>,
    JsonBody(b): JsonBody<PutPage>,
) -> ApiResult<(StatusCode, Json<PageView>)> {
    check_slug(&slug).map_err(|r| FieldError::invalid("slug", r))?;
    let organization = match (&caller.scope, b.organization.as_deref()) {
        (OrgScope::All, None) => None,
        (_, named) => Some(org_for(&caller, named, "organization")?),
    };
    let existing = s.store.status_page(&slug).await?;
    if let Some(e) = &existing {
        // another organization's page is answered as taken, not shown
        let mine = e.organization.as_deref().map_or(caller.scope == OrgScope::All, |o| caller.scope.allows(o));
        if !mine {
            return Err(
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("the slug {slug:?} is taken")).field("slug")
            );
        }
    }
    let title = text(b.title.as_deref(), "title", true, 200)?.unwrap_or_default();
    let description = text(b.description.as_deref(), "description", false, 2000)?;
    let footer = text(b.footer.as_deref(), "footer", false, 500)?;
    let logo_url = match b.logo_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) => {
            check_url(u, false).map_err(|r| FieldError::invalid("logoUrl", r))?;
            Some(u.to_string())
        }
        None => None,
    };
    let list = b.links.as_deref().unwrap_or(&[]);
    if list.len() > MAX_LINKS {
        return Err(FieldError::invalid("links", format!("at most {MAX_LINKS} links")).into());
    }
    let mut links = Vec::with_capacity(list.len());
    for (i, l) in list.iter().enumerate() {
        let title = text(l.title.as_deref(), &format!("links[{i}].title"), true, 100)?.unwrap_or_default();
        let url = l.url.as_deref().map(str::trim).unwrap_or("");
        if url.is_empty() {
            return Err(FieldError::missing(format!("links[{i}].url")).into());
        }
        check_url(url, true).map_err(|r| FieldError::invalid(format!("links[{i}].url"), r))?;
        links.push(PageLink { title, url: url.to_string() });
    }
    let custom_domain = match b.custom_domain.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            check_domain(&d).map_err(|r| FieldError::invalid("customDomain", r))?;
            let other = s.store.status_pages().await?.into_iter().find(|p| p.custom_domain.as_deref() == Some(&d));
            if let Some(o) = other.filter(|o| o.slug != slug) {
                let whose = if o.organization.as_deref().is_some_and(|x| caller.scope.allows(x)) {
                    format!("page {:?}", o.slug)
                } else {
                    "another page".to_string()
                };
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("the custom domain {d:?} is already {whose}'s"),
                )
                .field("customDomain"));
            }
            Some(d)
        }
        None => None,
    };
    if b.default {
        needs_every_org(&caller, "default", "the default page (shown at /)")?;
    }
    let refs = b.groups.as_deref().unwrap_or(&[]);
    if refs.len() > MAX_GROUPS {
        return Err(FieldError::invalid("groups", format!("at most {MAX_GROUPS} groups")).into());
    }
    let mut groups = Vec::with_capacity(refs.len());
    for (i, g) in refs.iter().enumerate() {
        let f = |x: &str| format!("groups[{i}].{x}");
        let org = match (&organization, g.organization.as_deref()) {
            (Some(o), None) => o.clone(),
            (Some(o), Some(n)) if n == o => o.clone(),
            (Some(o), Some(n)) => {
                return Err(FieldError::invalid(
                    f("organization"),
                    format!("this page is organization {o:?}'s; {n:?}'s groups go on a page across organizations"),
                )
                .into());
            }
            (None, Some(n)) => {
                nines_core::check_name(n).map_err(|r| FieldError::invalid(f("organization"), r))?;
                n.to_string()
            }
            (None, None) => {
                return Err(FieldError::missing(f("organization"))
                    .with_reason("a page across organizations names each group's organization")
                    .into());
            }
        };
        let group = g.group.as_deref().map(str::trim).unwrap_or("");
        if group.is_empty() {
            return Err(FieldError::missing(f("group")).into());
        }
        nines_core::check_name(group).map_err(|r| FieldError::invalid(f("group"), r))?;
        groups.push(PageGroupRef { organization: org, group: group.to_string() });
    }
    if let Some(id) = b.email_channel_id {
        let ch = s.store.get_channel(id).await?;
        let ok = ch.as_ref().is_some_and(|c| caller.scope.allows(&c.organization));
        match ch.filter(|_| ok) {
            None => return Err(FieldError::invalid("emailChannelId", format!("no notification channel {id}")).into()),
            Some(c) if c.kind != "email" => {
                return Err(FieldError::invalid(
                    "emailChannelId",
                    format!("channel {id} is a {} channel; subscribers get mail through an email channel", c.kind),
                )
                .into());
            }
            Some(c) if organization.as_deref().is_some_and(|o| o != c.organization) => {
                return Err(FieldError::invalid(
                    "emailChannelId",
                    format!("channel {id} belongs to organization {:?}", c.organization),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let now = s.clock.now_ms();
    let row = PageRow {
        id: existing.as_ref().map_or(0, |e| e.id),
        slug: slug.clone(),
        organization,
        title,
        description,
        logo_url,
        links,
        footer,
        custom_domain,
        is_default: b.default,
        groups,
        email_channel_id: b.email_channel_id,
        created_at: existing.as_ref().map_or(now, |e| e.created_at),
        updated_at: now,
    };
    let created = s.store.put_status_page(&row, now).await?;
    cache.invalidate();
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(page_view(&Def::from_row(&row)))))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoQuery {}

/// Delete a status page
///
/// The page, its subscribers and the messages still waiting for them go. An
/// organization's page then falls back to the one nines shows by itself.
#[utoipa::path(delete, path = "/api/v1/status-pages/{slug}", tag = "status-page",
    params(("slug" = String, Path, description = "The page's slug")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("api_key" = [])))]
pub async fn delete_page(
    State(s): State<AppState>,
    Extension(cache): Extension<Arc<Cache>>,
    caller: Caller,
    Path(slug): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<StatusCode> {
    let _: NoQuery = parse_query(q)?;
    let page = own_page(&s, &caller, &slug).await?;
    s.store.delete_status_page(&page.slug).await?;
    cache.invalidate();
    Ok(StatusCode::NO_CONTENT)
}

/// A configured page the caller may manage; 404 otherwise.
pub async fn own_page(s: &AppState, caller: &Caller, slug: &str) -> ApiResult<PageRow> {
    let p = s.store.status_page(slug).await?;
    p.filter(|p| p.organization.as_deref().map_or(caller.scope == OrgScope::All, |o| caller.scope.allows(o)))
        .ok_or_else(|| ApiError::not_found(format!("no configured status page {slug:?}")).field("slug"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(slug: &str, org: Option<&str>) -> PageRow {
        PageRow {
            id: 1,
            slug: slug.into(),
            organization: org.map(str::to_string),
            title: "t".into(),
            description: None,
            logo_url: None,
            links: vec![],
            footer: None,
            custom_domain: None,
            is_default: false,
            groups: vec![],
            email_channel_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn organizations_without_a_page_get_one_by_their_name() {
        let pages = vec![row("acme-status", Some("acme")), row("globex", None)];
        // acme has a page; globex's name is a slug taken by another page
        let defs = all_defs(&pages, &["acme", "globex", "initech", "initech"]);
        let slugs: Vec<_> = defs.iter().map(|d| d.slug.clone().unwrap()).collect();
        assert_eq!(slugs, ["acme-status", "globex", "initech"]);
        assert!(defs[2].row.is_none() && defs[2].shows("initech", "Default") && !defs[2].shows("acme", "Default"));
    }

    #[test]
    fn a_page_shows_its_groups_only() {
        let mut p = row("x", Some("acme"));
        p.groups = vec![PageGroupRef { organization: "acme".into(), group: "web".into() }];
        let d = Def::from_row(&p);
        assert!(d.shows("acme", "web"));
        assert!(!d.shows("acme", "Default"));
        assert!(!d.shows("globex", "web"));
        let across = Def::from_row(&row("all", None));
        assert!(across.shows("acme", "web") && across.shows("globex", "Default"));
    }

    #[test]
    fn hosts_are_compared_without_port_and_case() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "Status.Example.com:8080".parse().unwrap());
        assert_eq!(host_of(&h).as_deref(), Some("status.example.com"));
        h.insert(header::HOST, "[::1]:80".parse().unwrap());
        assert_eq!(host_of(&h).as_deref(), Some("::1"));
    }

    #[test]
    fn slugs_and_domains_are_checked_with_reasons() {
        assert!(check_slug("acme-prod").is_ok());
        assert!(check_slug("Acme").unwrap_err().contains("'A'"));
        assert!(check_slug("-a").is_err());
        assert!(check_domain("status.acme.example").is_ok());
        assert!(check_domain("localhost").unwrap_err().contains("dot"));
        assert!(check_url("javascript:alert(1)", true).is_err());
        assert!(check_url("//evil.example/x.png", false).is_err());
        assert!(check_url("mailto:ops@acme.example", true).is_ok());
    }
}
