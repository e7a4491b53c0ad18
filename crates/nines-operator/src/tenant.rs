//! Tenant controllers: SoftwareDeliveryPlatform (a connection check per
//! system) and Organization (its Keycloak group and role subgroups), over
//! the clients of [`crate::provision`]. Names and mappings come from
//! [`crate::mapping::tenant`]. The steps that remove what a tenant kind
//! provisioned, per system, live here too and serve the standalone kinds
//! of [`crate::tenant_kinds`] (which build on this module, never the other
//! way round).
//!
//! Rules every tenant controller keeps:
//! - credentials are read from their Secret on every reconcile; a client
//!   (and its token) is reused while the credentials stay the same;
//! - what exists already under the right name is adopted, never duplicated;
//!   nines marks what it creates and deletes only that, and only under
//!   `deletionPolicy: Delete`;
//! - one system failing does not stop the others; the status says which
//!   failed and why, and the reconcile is retried with backoff (5 s → 60 s);
//! - an unchanged object is looked at again every
//!   [`crate::runtime::TENANT_RESYNC`], which
//!   repairs drift (a group deleted by hand comes back) with reads only when
//!   nothing changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};

use crate::crd::*;
use crate::mapping::tenant::role_subgroups;
use crate::provision::argocd::{ArgoCdClient, ProjectSpecWanted, RoleWanted};
use crate::provision::gitlab::{Deletion, GitLabClient, Visibility};
use crate::provision::harbor::HarborClient;
use crate::provision::keycloak::KeycloakAdmin;
use crate::provision::{ErrorKind, Outcome, ProvisionError, System};
use crate::reconcile::set_condition;
use crate::runtime::{Ctx, Error, merge_status};

/// Finalizer of every tenant kind: what nines provisioned is removed
/// (or left, under `deletionPolicy: Orphan`) before the object goes.
pub const TENANT_FINALIZER: &str = "nines.dev/tenant-cleanup";

/// The value of `key` (or of `default` when the reference names none) in
/// the credentials Secret of a connection.
pub(crate) fn secret_entry(secret: &Secret, key: Option<&String>, default: &str) -> Result<String, String> {
    let key = key.map(String::as_str).unwrap_or(default);
    let name = secret.metadata.name.clone().unwrap_or_default();
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Ok(String::from_utf8_lossy(&v.0).trim().to_string());
    }
    if let Some(v) = secret.string_data.as_ref().and_then(|d| d.get(key)) {
        return Ok(v.trim().to_string());
    }
    Err(format!("Secret {name} has no key {key:?}"))
}

pub(crate) fn config_error(system: System, message: impl Into<String>) -> ProvisionError {
    ProvisionError::new(system, ErrorKind::Refused, message)
}

/// The Keycloak client of a platform, its credentials read now.
pub(crate) async fn keycloak(
    ctx: &Ctx,
    ns: &str,
    conn: &SystemConnection,
) -> Result<Arc<KeycloakAdmin>, ProvisionError> {
    let sys = System::Keycloak;
    let realm = conn
        .realm
        .as_deref()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| config_error(sys, "spec.keycloak.realm is required"))?;
    let cref = &conn.credentials_ref;
    let secret = credentials_secret(ctx, ns, sys, cref).await?;
    let id = secret_entry(&secret, cref.client_id_key.as_ref(), "client-id").map_err(|e| config_error(sys, e))?;
    let secret_value =
        secret_entry(&secret, cref.client_secret_key.as_ref(), "client-secret").map_err(|e| config_error(sys, e))?;
    let connection = format!("{} {realm}", conn.url);
    Ok(ctx
        .tenants
        .keycloak
        .get(&connection, &[&id, &secret_value], || KeycloakAdmin::new(&conn.url, realm, &id, &secret_value)))
}

/// The GitLab client of a platform, its token read now.
pub(crate) async fn gitlab(ctx: &Ctx, ns: &str, conn: &SystemConnection) -> Result<Arc<GitLabClient>, ProvisionError> {
    let sys = System::GitLab;
    let cref = &conn.credentials_ref;
    let secret = credentials_secret(ctx, ns, sys, cref).await?;
    let token = secret_entry(&secret, cref.token_key.as_ref(), "token").map_err(|e| config_error(sys, e))?;
    Ok(ctx.tenants.gitlab.get(&conn.url, &[&token], || GitLabClient::new(&conn.url, &token)))
}

/// A connection's credentials Secret, read now.
pub(crate) async fn credentials_secret(
    ctx: &Ctx,
    ns: &str,
    system: System,
    cref: &CredentialsSecretRef,
) -> Result<Secret, ProvisionError> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    secrets
        .get_opt(&cref.secret_name)
        .await
        .map_err(|e| {
            ProvisionError::new(system, ErrorKind::Transient, format!("reading Secret {}: {e}", cref.secret_name))
        })?
        .ok_or_else(|| config_error(system, format!("Secret {} not found in namespace {ns}", cref.secret_name)))
}

/// The Harbor client of a platform (basic auth; its password read now).
pub(crate) async fn harbor(ctx: &Ctx, ns: &str, conn: &SystemConnection) -> Result<Arc<HarborClient>, ProvisionError> {
    let sys = System::Harbor;
    let cref = &conn.credentials_ref;
    let secret = credentials_secret(ctx, ns, sys, cref).await?;
    let user = secret_entry(&secret, cref.username_key.as_ref(), "username").map_err(|e| config_error(sys, e))?;
    let password = secret_entry(&secret, cref.password_key.as_ref(), "password").map_err(|e| config_error(sys, e))?;
    Ok(ctx.tenants.harbor.get(&conn.url, &[&user, &password], || HarborClient::new(&conn.url, &user, &password)))
}

/// The Argo CD client of a platform (bearer token read now).
pub(crate) async fn argocd(ctx: &Ctx, ns: &str, conn: &ArgoConnection) -> Result<Arc<ArgoCdClient>, ProvisionError> {
    let sys = System::ArgoCd;
    let cref = &conn.credentials_ref;
    let secret = credentials_secret(ctx, ns, sys, cref).await?;
    let token = secret_entry(&secret, cref.token_key.as_ref(), "token").map_err(|e| config_error(sys, e))?;
    Ok(ctx.tenants.argocd.get(&conn.url, &[&token], || ArgoCdClient::new(&conn.url, &token)))
}

/// The GitLab client of platform `name`, or None when it names no GitLab.
pub(crate) async fn platform_gitlab(
    ctx: &Ctx,
    ns: &str,
    name: &str,
) -> Result<Option<Arc<GitLabClient>>, ProvisionError> {
    let sdp = platform(ctx, ns, name, System::GitLab).await?;
    match &sdp.spec.gitlab {
        Some(conn) => Ok(Some(gitlab(ctx, ns, conn).await?)),
        None => Ok(None),
    }
}

/// A per-system condition (`KeycloakReady`, …).
pub(crate) fn system_condition(
    system: System,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: format!("{}Ready", system.name()),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: String::new(),
        observed_generation: generation,
    }
}

/// The condition reason of a failure.
pub(crate) fn reason_of(e: &ProvisionError) -> &'static str {
    match e.kind {
        ErrorKind::Transient => "Unreachable",
        ErrorKind::Unauthorized => "Unauthorized",
        ErrorKind::Refused => "Refused",
        ErrorKind::Blocked => "Blocked",
    }
}

pub(crate) fn outcome_reason(o: Outcome) -> &'static str {
    match o {
        Outcome::Created => "Created",
        Outcome::Adopted => "Adopted",
        Outcome::Updated => "Updated",
        Outcome::Unchanged => "InSync",
    }
}

/// Sets `Ready` (and the phase) from the per-system conditions that are present.
pub(crate) fn settle_ready(status: &mut TenantStatus, generation: Option<i64>, now: jiff::Timestamp) {
    let systems: Vec<&Condition> =
        status.conditions.iter().filter(|c| c.type_ != "Ready" && c.type_.ends_with("Ready")).collect();
    let failed: Vec<String> = systems
        .iter()
        .filter(|c| c.status == "False")
        .map(|c| format!("{}: {}", c.type_.trim_end_matches("Ready"), c.message))
        .collect();
    let waiting = systems.iter().any(|c| c.status == "Unknown");
    let (ok, reason, message, phase) = if !failed.is_empty() {
        (false, "SystemFailed", failed.join("; "), "Error")
    } else if waiting {
        (false, "Provisioning", "waiting for a system".to_string(), "Provisioning")
    } else {
        (true, "Ready", "every system is in sync".to_string(), "Ready")
    };
    status.phase = Some(phase.into());
    set_condition(&mut status.conditions, crate::reconcile::ready_condition(ok, reason, message, generation), now);
}

/// The next look: soon after a failure that may pass, the resync otherwise.
pub(crate) fn next_action(errors: &[ProvisionError], resync: Duration) -> Result<Action, Error> {
    if let Some(e) = errors.iter().find(|e| matches!(e.kind, ErrorKind::Transient | ErrorKind::Blocked)) {
        return Err(Error::Provision(e.clone()));
    }
    if let Some(e) = errors.first() {
        // refused or unauthorized: retry slowly (a Secret or spec change reconciles at once)
        tracing::warn!(error = %e, "provisioning refused");
        return Ok(Action::requeue(resync.min(Duration::from_secs(60))));
    }
    Ok(Action::requeue(resync))
}

// ---------------------------------------------------------------------------
// SoftwareDeliveryPlatform

/// Checks the connection to every system the platform names and writes a
/// condition per system, and `Ready`.
pub async fn reconcile_sdp(sdp: Arc<SoftwareDeliveryPlatform>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = sdp.namespace().unwrap_or_default();
    let api: Api<SoftwareDeliveryPlatform> = Api::namespaced(ctx.client.clone(), &ns);
    let sdp = crate::runtime::latest(&api, sdp).await?;
    let generation = sdp.metadata.generation;
    let mut status = sdp.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    let now = ctx.now();
    let mut errors = Vec::new();
    let mut set = |status: &mut TenantStatus, system: System, r: Result<String, ProvisionError>| {
        let c = match &r {
            Ok(m) => system_condition(system, "True", "Connected", m.clone(), generation),
            Err(e) => system_condition(system, "False", reason_of(e), e.message.clone(), generation),
        };
        if let Err(e) = r {
            errors.push(e);
        }
        set_condition(&mut status.conditions, c, now);
    };
    if let Some(conn) = &sdp.spec.keycloak {
        let r = async {
            let kc = keycloak(&ctx, &ns, conn).await?;
            kc.check().await?;
            Ok(format!("realm {} reachable at {}", kc.realm(), kc.base_url()))
        }
        .await;
        set(&mut status, System::Keycloak, r);
    } else {
        status.conditions.retain(|c| c.type_ != "KeycloakReady");
    }
    if let Some(conn) = &sdp.spec.gitlab {
        let r = async {
            let gl = gitlab(&ctx, &ns, conn).await?;
            let user = gl.check().await?;
            Ok(format!("signed in as {user} at {}", gl.base_url()))
        }
        .await;
        set(&mut status, System::GitLab, r);
    } else {
        status.conditions.retain(|c| c.type_ != "GitLabReady");
    }
    if let Some(conn) = &sdp.spec.harbor {
        let r = async {
            let h = harbor(&ctx, &ns, conn).await?;
            let user = h.check().await?;
            Ok(format!("signed in as {user} at {}", h.base_url()))
        }
        .await;
        set(&mut status, System::Harbor, r);
    } else {
        status.conditions.retain(|c| c.type_ != "HarborReady");
    }
    if let Some(conn) = &sdp.spec.argocd {
        let r = async {
            let a = argocd(&ctx, &ns, conn).await?;
            let user = a.check().await?;
            Ok(format!("signed in as {user} at {}", a.base_url()))
        }
        .await;
        set(&mut status, System::ArgoCd, r);
    } else {
        status.conditions.retain(|c| c.type_ != "ArgoCDReady");
    }
    let before = sdp.status.clone().unwrap_or_default();
    settle_ready(&mut status, generation, now);
    announce(&ctx, &*sdp, &before, &status).await;
    write_status(&api, &sdp.name_any(), &before, &status).await?;
    next_action(&errors, ctx.settings.platform_recheck)
}

/// Writes the status only when it changed: a resync that finds everything
/// in sync writes nothing, to Kubernetes or elsewhere.
pub(crate) async fn write_status<K>(
    api: &Api<K>,
    name: &str,
    before: &TenantStatus,
    after: &TenantStatus,
) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if before == after {
        return Ok(());
    }
    tracing::debug!(object = name, ?before, ?after, "status changed");
    merge_status(api, name, after).await
}

/// Events for the per-system conditions that changed.
pub(crate) async fn announce<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    before: &TenantStatus,
    after: &TenantStatus,
) {
    for c in &after.conditions {
        let was = before.conditions.iter().find(|b| b.type_ == c.type_);
        if was.is_some_and(|w| w.status == c.status && w.reason == c.reason) || c.type_ == "Ready" {
            continue;
        }
        let warning = c.status == "False";
        ctx.event(&obj.object_ref(&()), warning, &c.reason, format!("{}: {}", c.type_, c.message)).await;
    }
}

// ---------------------------------------------------------------------------
// Organization

/// The Keycloak group of an organization: `spec.keycloak.groupName`, or the
/// object's name.
pub fn org_group_name(org: &Organization) -> String {
    org.spec
        .keycloak
        .as_ref()
        .map(|k| k.group_name.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| org.name_any())
}

pub async fn reconcile_org(org: Arc<Organization>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = org.namespace().unwrap_or_default();
    let api: Api<Organization> = Api::namespaced(ctx.client.clone(), &ns);
    let org = crate::runtime::latest(&api, org).await?;
    finalizer(&api, TENANT_FINALIZER, org, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_org(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_org(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// Records one resource in the status (replacing the entry of the same
/// system, platform, kind and name).
pub(crate) fn record(status: &mut TenantStatus, r: ProvisionedResource) {
    status.resources.retain(|x| !(x.system == r.system && x.sdp == r.sdp && x.kind == r.kind && x.name == r.name));
    status.resources.push(r);
    status.resources.sort_by(|a, b| (&a.system, &a.sdp, &a.kind, &a.name).cmp(&(&b.system, &b.sdp, &b.kind, &b.name)));
}

pub(crate) fn present(
    system: System,
    sdp: &str,
    kind: &str,
    name: &str,
    id: &str,
    created: bool,
) -> ProvisionedResource {
    ProvisionedResource {
        system: system.name().into(),
        sdp: sdp.into(),
        kind: kind.into(),
        name: name.into(),
        id: Some(id.into()),
        created,
        state: "Present".into(),
        message: String::new(),
    }
}

/// Was this resource created by nines, by the record in the status?
pub(crate) fn created_before(
    status: &TenantStatus,
    system: System,
    sdp: &str,
    kind: &str,
    name: &str,
    id: &str,
) -> bool {
    status.resources.iter().any(|r| {
        r.system == system.name()
            && r.sdp == sdp
            && r.kind == kind
            && r.name == name
            && r.id.as_deref() == Some(id)
            && r.created
    })
}

/// The organization's Keycloak group, its attributes and its role
/// subgroups. Returns how the group was met.
async fn ensure_org_keycloak(
    kc: &KeycloakAdmin,
    org: &Organization,
    sdp: &SoftwareDeliveryPlatform,
    status: &mut TenantStatus,
) -> Result<Outcome, ProvisionError> {
    let sdp_name = sdp.name_any();
    let group = org_group_name(org);
    let attrs: BTreeMap<String, Vec<String>> =
        org.spec.keycloak.as_ref().map(|k| k.attributes.clone()).unwrap_or_default();
    // the group itself as any top-level group; then its role subgroups
    let (gid, mut outcome) = ensure_top_group(kc, &sdp_name, &group, &attrs, status).await?;
    status.keycloak_group_id = Some(gid.clone());
    let wanted = role_subgroups(&sdp.spec.settings, &group);
    for (_, name) in &wanted {
        let (sub, o) = kc.ensure_child_group(&gid, name, &BTreeMap::new()).await?;
        let path = format!("{group}/{name}");
        let created_sub = KeycloakAdmin::created_by_nines(&sub)
            || created_before(status, System::Keycloak, &sdp_name, "subgroup", &path, &sub.id);
        record(status, present(System::Keycloak, &sdp_name, "subgroup", &path, &sub.id, created_sub));
        if outcome == Outcome::Unchanged && o != Outcome::Unchanged {
            outcome = Outcome::Updated;
        }
    }
    // subgroups no longer wanted drop out of the record (they are left in Keycloak)
    status.resources.retain(|r| {
        !(r.system == System::Keycloak.name() && r.sdp == sdp_name && r.kind == "subgroup")
            || wanted.iter().any(|(_, n)| r.name == format!("{group}/{n}"))
    });
    Ok(outcome)
}

/// The GitLab group of an organization: `spec.gitlab.groupPath`, or the
/// object's name.
pub fn org_gitlab_path(org: &Organization) -> String {
    org.spec
        .gitlab
        .as_ref()
        .and_then(|g| g.group_path.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| org.name_any())
}

/// The organization's GitLab group, created or adopted, its visibility kept
/// as the spec says (default private).
async fn ensure_org_gitlab(
    gl: &GitLabClient,
    org: &Organization,
    sdp: &str,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let path = org_gitlab_path(org);
    let visibility: Visibility = org
        .spec
        .gitlab
        .as_ref()
        .and_then(|g| g.visibility.as_deref())
        .unwrap_or("private")
        .parse()
        .map_err(|e: String| config_error(System::GitLab, format!("spec.gitlab.visibility: {e}")))?;
    let name =
        if org.spec.display_name.trim().is_empty() { path.clone() } else { org.spec.display_name.trim().to_string() };
    let (g, o) = gl.ensure_group(&path, &name, visibility, None).await?;
    let id = g.id.to_string();
    let created = o == Outcome::Created || created_before(status, System::GitLab, sdp, "group", &path, &id);
    status.gitlab_group_id = Some(g.id);
    record(status, present(System::GitLab, sdp, "group", &path, &id, created));
    let origin = if created { "" } else { ", adopted" };
    Ok((format!("group {} ({id}{origin})", g.full_path), o))
}

/// The Harbor project of an organization: `spec.harbor.projectName`, or
/// the object's name.
pub fn org_harbor_project(org: &Organization) -> String {
    org.spec
        .harbor
        .as_ref()
        .and_then(|h| h.project_name.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| org.name_any())
}

/// The Argo CD project of an organization: `spec.argocd.projectName`, or
/// the object's name.
pub fn org_argocd_project(org: &Organization) -> String {
    org.spec
        .argocd
        .as_ref()
        .and_then(|a| a.project_name.as_deref())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| org.name_any())
}

/// The organization's Harbor project (private), its storage quota, and its
/// role subgroups as OIDC group members with the role's Harbor role.
async fn ensure_org_harbor(
    h: &HarborClient,
    org: &Organization,
    sdp: &SoftwareDeliveryPlatform,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sdp_name = sdp.name_any();
    let name = org_harbor_project(org);
    let quota = match org.spec.harbor.as_ref().and_then(|h| h.storage_quota.as_deref()) {
        Some(q) => Some(
            crate::mapping::tenant::quantity_bytes(q)
                .map_err(|e| config_error(System::Harbor, format!("spec.harbor.storageQuota: {e}")))?,
        ),
        None => None,
    };
    let (project, mut outcome) = h.ensure_project(&name, false, quota).await?;
    let id = project.project_id.to_string();
    let created =
        outcome == Outcome::Created || created_before(status, System::Harbor, &sdp_name, "project", &name, &id);
    status.harbor_project_id = Some(project.project_id);
    record(status, present(System::Harbor, &sdp_name, "project", &name, &id, created));
    for (role, group) in role_subgroups(&sdp.spec.settings, &org_group_name(org)) {
        let role_id = crate::mapping::tenant::harbor_role_for_role(&role)
            .map_err(|e| config_error(System::Harbor, format!("settings.defaultRoles: {e}")))?;
        if h.ensure_group_member(&name, &group, role_id).await? != Outcome::Unchanged && outcome == Outcome::Unchanged {
            outcome = Outcome::Updated;
        }
    }
    let quota_text = quota.map(|b| format!(", quota {b} bytes")).unwrap_or_default();
    Ok((format!("project {name} ({id}{quota_text})"), outcome))
}

/// The organization's Argo CD project: the platform's role policies with
/// `{project}` filled in, each role bound to the Keycloak groups of
/// `spec.argocd.roleBindings`, or to the role's subgroup when none names it.
async fn ensure_org_argocd(
    a: &ArgoCdClient,
    org: &Organization,
    sdp: &SoftwareDeliveryPlatform,
    conn: &ArgoConnection,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sdp_name = sdp.name_any();
    let name = org_argocd_project(org);
    let spec = org.spec.argocd.clone().unwrap_or_default();
    let subgroups = role_subgroups(&sdp.spec.settings, &org_group_name(org));
    let mut roles = Vec::new();
    for (role, template) in &conn.roles {
        let bound: Vec<String> =
            spec.role_bindings.iter().filter(|b| &b.role == role).flat_map(|b| b.keycloak_groups.clone()).collect();
        let groups = if bound.is_empty() && spec.role_bindings.is_empty() {
            crate::mapping::tenant::subgroup_role_of(role, &subgroups).map(|(_, g)| vec![g.clone()]).unwrap_or_default()
        } else {
            bound
        };
        roles.push(RoleWanted {
            name: role.clone(),
            description: format!("{role} of {name}, kept by nines"),
            policies: template.policies.iter().map(|p| crate::mapping::tenant::project_policy(p, &name)).collect(),
            groups,
        });
    }
    for (i, b) in spec.role_bindings.iter().enumerate() {
        if !conn.roles.contains_key(&b.role) {
            let known: Vec<&str> = conn.roles.keys().map(String::as_str).collect();
            return Err(config_error(
                System::ArgoCd,
                format!(
                    "spec.argocd.roleBindings[{i}].role: {:?} is not a role of the platform ({})",
                    b.role,
                    known.join(", ")
                ),
            ));
        }
    }
    let description =
        if org.spec.display_name.trim().is_empty() { name.clone() } else { org.spec.display_name.trim().to_string() };
    let wanted = ProjectSpecWanted {
        name: name.clone(),
        description,
        source_repos: spec.source_repos.clone(),
        destinations: vec![],
        roles,
        revoke: BTreeMap::new(),
    };
    let outcome = a.ensure_project(&wanted).await?;
    let created =
        outcome == Outcome::Created || created_before(status, System::ArgoCd, &sdp_name, "project", &name, &name);
    status.argocd_project_created = Some(created);
    record(status, present(System::ArgoCd, &sdp_name, "project", &name, &name, created));
    Ok((format!("project {name} with {} role(s)", wanted.roles.len()), outcome))
}

async fn apply_org(org: &Organization, ctx: &Ctx, api: &Api<Organization>) -> Result<Action, Error> {
    let ns = org.namespace().unwrap_or_default();
    let generation = org.metadata.generation;
    let before = org.status.clone().unwrap_or_default();
    let mut status = before.clone();
    status.observed_generation = generation;
    let now = ctx.now();
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(sdp) = sdps.get_opt(&org.spec.sdp).await? else {
        status.phase = Some("Error".into());
        let msg = format!("SoftwareDeliveryPlatform {:?} not found in namespace {ns}", org.spec.sdp);
        set_condition(
            &mut status.conditions,
            crate::reconcile::ready_condition(false, "PlatformNotFound", msg, generation),
            now,
        );
        merge_status(api, &org.name_any(), &status).await?;
        return Ok(Action::requeue(Duration::from_secs(30)));
    };
    let mut errors = Vec::new();
    if let Some(conn) = &sdp.spec.keycloak {
        let r = async {
            let kc = keycloak(ctx, &ns, conn).await?;
            ensure_org_keycloak(&kc, org, &sdp, &mut status).await
        }
        .await;
        let c = match &r {
            Ok(o) => {
                let what =
                    format!("group {} ({})", org_group_name(org), status.keycloak_group_id.clone().unwrap_or_default());
                if *o != Outcome::Unchanged {
                    ctx.event(&org.object_ref(&()), false, outcome_reason(*o), format!("Keycloak: {what}")).await;
                }
                // the condition says the state, stable while in sync; what was done goes to an Event
                system_condition(System::Keycloak, "True", "InSync", what, generation)
            }
            Err(e) => system_condition(System::Keycloak, "False", reason_of(e), e.message.clone(), generation),
        };
        set_condition(&mut status.conditions, c, now);
        if let Err(e) = r {
            errors.push(e);
        }
    }
    let gitlab_wanted = org.spec.gitlab.as_ref().is_some_and(|g| g.enabled);
    match (&sdp.spec.gitlab, gitlab_wanted) {
        (Some(conn), true) => {
            let r = async {
                let gl = gitlab(ctx, &ns, conn).await?;
                ensure_org_gitlab(&gl, org, &sdp.name_any(), &mut status).await
            }
            .await;
            let c = match &r {
                Ok((what, o)) => {
                    if *o != Outcome::Unchanged {
                        ctx.event(&org.object_ref(&()), false, outcome_reason(*o), format!("GitLab: {what}")).await;
                    }
                    system_condition(System::GitLab, "True", "InSync", what.clone(), generation)
                }
                Err(e) => system_condition(System::GitLab, "False", reason_of(e), e.message.clone(), generation),
            };
            set_condition(&mut status.conditions, c, now);
            if let Err(e) = r {
                errors.push(e);
            }
        }
        (None, true) => {
            let msg = format!("spec.gitlab.enabled, but SoftwareDeliveryPlatform {} names no GitLab", sdp.name_any());
            set_condition(
                &mut status.conditions,
                system_condition(System::GitLab, "False", "Refused", msg.clone(), generation),
                now,
            );
            errors.push(config_error(System::GitLab, msg));
        }
        _ => status.conditions.retain(|c| c.type_ != "GitLabReady"),
    }
    let harbor_wanted = org.spec.harbor.as_ref().is_some_and(|h| h.enabled);
    let argocd_wanted = org.spec.argocd.as_ref().is_some_and(|a| a.enabled);
    for (system, wanted, configured) in [
        (System::Harbor, harbor_wanted, sdp.spec.harbor.is_some()),
        (System::ArgoCd, argocd_wanted, sdp.spec.argocd.is_some()),
    ] {
        if !wanted {
            let t = format!("{}Ready", system.name());
            status.conditions.retain(|c| c.type_ != t);
            continue;
        }
        let r: Result<(String, Outcome), ProvisionError> = if !configured {
            Err(config_error(
                system,
                format!(
                    "spec.{}.enabled, but SoftwareDeliveryPlatform {} names no {system}",
                    system.name().to_lowercase(),
                    sdp.name_any()
                ),
            ))
        } else if system == System::Harbor {
            let conn = sdp.spec.harbor.as_ref().expect("configured");
            async {
                let h = harbor(ctx, &ns, conn).await?;
                ensure_org_harbor(&h, org, &sdp, &mut status).await
            }
            .await
        } else {
            let conn = sdp.spec.argocd.as_ref().expect("configured");
            async {
                let a = argocd(ctx, &ns, conn).await?;
                ensure_org_argocd(&a, org, &sdp, conn, &mut status).await
            }
            .await
        };
        let c = match &r {
            Ok((what, o)) => {
                if *o != Outcome::Unchanged {
                    ctx.event(&org.object_ref(&()), false, outcome_reason(*o), format!("{system}: {what}")).await;
                }
                system_condition(system, "True", "InSync", what.clone(), generation)
            }
            Err(e) => system_condition(system, "False", reason_of(e), e.message.clone(), generation),
        };
        set_condition(&mut status.conditions, c, now);
        if let Err(e) = r {
            errors.push(e);
        }
    }
    settle_ready(&mut status, generation, now);
    announce(ctx, org, &before, &status).await;
    write_status(api, &org.name_any(), &before, &status).await?;
    next_action(&errors, ctx.settings.tenant_resync)
}

/// Removes what the organization provisioned, in the order Argo CD →
/// Harbor → GitLab → Keycloak, under `deletionPolicy: Delete`; only what
/// nines created goes.
async fn cleanup_org(org: &Organization, ctx: &Ctx) -> Result<Action, Error> {
    let ns = org.namespace().unwrap_or_default();
    let status = org.status.clone().unwrap_or_default();
    if org.spec.deletion_policy == DeletionPolicy::Orphan {
        ctx.event(
            &org.object_ref(&()),
            false,
            "Orphaned",
            "deletionPolicy Orphan: everything provisioned stays".into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(sdp) = sdps.get_opt(&org.spec.sdp).await? else {
        let note = format!("SoftwareDeliveryPlatform {} is gone: what it provisioned is left in place", org.spec.sdp);
        ctx.event(&org.object_ref(&()), true, "PlatformNotFound", note).await;
        return Ok(Action::await_change());
    };
    let sdp_name = sdp.name_any();
    // Argo CD, Harbor, then GitLab, then Keycloak: what refers to a group goes before it
    let blocked = async |e: ProvisionError| -> Error {
        ctx.event(&org.object_ref(&()), true, "DeletionWaiting", e.to_string()).await;
        Error::Provision(e)
    };
    if let (Some(conn), Some(r)) = (
        &sdp.spec.argocd,
        status.resources.iter().find(|r| r.system == System::ArgoCd.name() && r.kind == "project" && r.created),
    ) {
        let a = argocd(ctx, &ns, conn).await?;
        match a.delete_project(&r.name).await {
            Ok(_) => {
                ctx.event(&org.object_ref(&()), false, "Deleted", format!("Argo CD project {} deleted", r.name)).await
            }
            Err(e) => return Err(blocked(e).await),
        }
    }
    if let (Some(conn), Some(r)) = (
        &sdp.spec.harbor,
        status.resources.iter().find(|r| r.system == System::Harbor.name() && r.kind == "project" && r.created),
    ) {
        let h = harbor(ctx, &ns, conn).await?;
        match h.delete_project(&r.name).await {
            Ok(_) => {
                ctx.event(&org.object_ref(&()), false, "Deleted", format!("Harbor project {} deleted", r.name)).await
            }
            Err(e) => return Err(blocked(e).await),
        }
    }
    if let (Some(conn), Some(r)) = (
        &sdp.spec.gitlab,
        status.resources.iter().find(|r| r.system == System::GitLab.name() && r.kind == "group" && r.created),
    ) {
        let gl = gitlab(ctx, &ns, conn).await?;
        let id: i64 = r.id.as_deref().and_then(|i| i.parse().ok()).unwrap_or_default();
        let note = match gl.delete_group(id).await? {
            Deletion::Deleted => format!("GitLab group {} ({id}) deleted", r.name),
            Deletion::Scheduled(day) => format!("GitLab group {} ({id}) marked for deletion on {day}", r.name),
            Deletion::NotFound => format!("GitLab group {} ({id}) was already gone", r.name),
        };
        ctx.event(&org.object_ref(&()), false, "Deleted", note).await;
    }
    if let Some(conn) = &sdp.spec.keycloak {
        let kc = keycloak(ctx, &ns, conn).await.map_err(Error::Provision)?;
        let group = org_group_name(org);
        if let Some(g) = kc.group_by_path(&format!("/{group}")).await.map_err(Error::Provision)? {
            let ours = KeycloakAdmin::created_by_nines(&g)
                || created_before(&status, System::Keycloak, &sdp_name, "group", &group, &g.id);
            if ours {
                kc.delete_group(&g.id).await.map_err(Error::Provision)?;
                ctx.event(&org.object_ref(&()), false, "Deleted", format!("Keycloak group {group} ({}) deleted", g.id))
                    .await;
            } else {
                // adopted: only the subgroups nines created go
                for r in status.resources.iter().filter(|r| r.system == "Keycloak" && r.kind == "subgroup" && r.created)
                {
                    if let Some(id) = &r.id {
                        kc.delete_group(id).await.map_err(Error::Provision)?;
                    }
                }
                let note =
                    format!("Keycloak group {group} ({}) was adopted, not created by nines: left in place", g.id);
                ctx.event(&org.object_ref(&()), false, "Orphaned", note).await;
            }
        }
    }
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// ContactGroup

/// The platforms a multi-platform kind names, or why it names none.
pub(crate) fn platforms_of(list: &[String]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    v.sort();
    v.dedup();
    v
}

/// Looks a platform up in `ns`; a missing one is a Refused error naming it.
pub(crate) async fn platform(
    ctx: &Ctx,
    ns: &str,
    name: &str,
    system: System,
) -> Result<SoftwareDeliveryPlatform, ProvisionError> {
    let sdps: Api<SoftwareDeliveryPlatform> = Api::namespaced(ctx.client.clone(), ns);
    sdps.get_opt(name)
        .await
        .map_err(|e| {
            ProvisionError::new(system, ErrorKind::Transient, format!("reading SoftwareDeliveryPlatform {name}: {e}"))
        })?
        .ok_or_else(|| config_error(system, format!("SoftwareDeliveryPlatform {name:?} not found in namespace {ns}")))
}

/// The Keycloak client of platform `name`, or why there is none.
pub(crate) async fn platform_keycloak(ctx: &Ctx, ns: &str, name: &str) -> Result<Arc<KeycloakAdmin>, ProvisionError> {
    let sdp = platform(ctx, ns, name, System::Keycloak).await?;
    let conn =
        sdp.spec.keycloak.as_ref().ok_or_else(|| {
            config_error(System::Keycloak, format!("SoftwareDeliveryPlatform {name} names no Keycloak"))
        })?;
    keycloak(ctx, ns, conn).await
}

/// A per-platform condition message: `production: …; staging: …`.
pub(crate) fn per_platform(
    results: &[(String, Result<String, ProvisionError>)],
) -> (bool, String, Option<ProvisionError>) {
    let ok = results.iter().all(|(_, r)| r.is_ok());
    let message = results
        .iter()
        .map(|(p, r)| match r {
            Ok(m) => format!("{p}: {m}"),
            Err(e) => format!("{p}: {}", e.message),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let first_err = results.iter().find_map(|(_, r)| r.as_ref().err().cloned());
    (ok, message, first_err)
}

pub async fn reconcile_contact_group(cg: Arc<ContactGroup>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cg.namespace().unwrap_or_default();
    let api: Api<ContactGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let cg = crate::runtime::latest(&api, cg).await?;
    finalizer(&api, TENANT_FINALIZER, cg, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_contact_group(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_contact_group(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

pub(crate) fn unwrap_finalizer(e: kube::runtime::finalizer::Error<Error>) -> Error {
    match e {
        kube::runtime::finalizer::Error::ApplyFailed(e) | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(other.to_string()),
    }
}

/// A top-level Keycloak group with attributes, in one platform: found,
/// adopted or created, and recorded.
pub(crate) async fn ensure_top_group(
    kc: &KeycloakAdmin,
    sdp: &str,
    group: &str,
    attrs: &BTreeMap<String, Vec<String>>,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let (g, mut outcome) = match kc.group_by_path(&format!("/{group}")).await? {
        Some(g) => {
            let known = status.resources.iter().any(|r| {
                r.system == System::Keycloak.name()
                    && r.sdp == sdp
                    && r.kind == "group"
                    && r.id.as_deref() == Some(g.id.as_str())
            });
            let o = if known || KeycloakAdmin::created_by_nines(&g) { Outcome::Unchanged } else { Outcome::Adopted };
            (g, o)
        }
        None => kc.create_group(group, attrs).await?,
    };
    let created =
        KeycloakAdmin::created_by_nines(&g) || created_before(status, System::Keycloak, sdp, "group", group, &g.id);
    if !attrs.is_empty() && kc.set_attributes(&g.id, attrs).await? == Outcome::Updated && outcome == Outcome::Unchanged
    {
        outcome = Outcome::Updated;
    }
    record(status, present(System::Keycloak, sdp, "group", group, &g.id, created));
    Ok((g.id, outcome))
}

async fn apply_contact_group(cg: &ContactGroup, ctx: &Ctx, api: &Api<ContactGroup>) -> Result<Action, Error> {
    let ns = cg.namespace().unwrap_or_default();
    let generation = cg.metadata.generation;
    let before = cg.status.clone().unwrap_or_default();
    let mut status = before.clone();
    status.observed_generation = generation;
    let now = ctx.now();
    let group = cg.spec.keycloak.group_name.trim().to_string();
    let platforms = platforms_of(&cg.spec.sdp);
    let mut results = Vec::new();
    if group.is_empty() {
        results.push((String::from("-"), Err(config_error(System::Keycloak, "spec.keycloak.groupName is empty"))));
    } else if platforms.is_empty() {
        results.push((
            String::from("-"),
            Err(config_error(System::Keycloak, "spec.sdp names no SoftwareDeliveryPlatform")),
        ));
    }
    for p in &platforms {
        if group.is_empty() {
            break;
        }
        let r = async {
            let kc = platform_keycloak(ctx, &ns, p).await?;
            let (id, o) = ensure_top_group(&kc, p, &group, &cg.spec.keycloak.attributes, &mut status).await?;
            if o != Outcome::Unchanged {
                let note = format!("{p}: Keycloak group {group} ({id})");
                ctx.event(&cg.object_ref(&()), false, outcome_reason(o), note).await;
            }
            Ok(format!("group {group} ({id})"))
        }
        .await;
        results.push((p.clone(), r));
    }
    // platforms no longer named: what nines made there goes, or stays under Orphan
    let_go_of_dropped(ctx, cg, &ns, System::Keycloak, cg.spec.deletion_policy, &platforms, &mut status, &mut results)
        .await;
    let (ok, message, err) = per_platform(&results);
    let reason = match &err {
        Some(e) => reason_of(e),
        None => "InSync",
    };
    set_condition(
        &mut status.conditions,
        system_condition(System::Keycloak, if ok { "True" } else { "False" }, reason, message, generation),
        now,
    );
    status.keycloak_group_id = status.resources.iter().find(|r| r.kind == "group").and_then(|r| r.id.clone());
    settle_ready(&mut status, generation, now);
    announce(ctx, cg, &before, &status).await;
    write_status(api, &cg.name_any(), &before, &status).await?;
    next_action(&err.into_iter().collect::<Vec<_>>(), ctx.settings.tenant_resync)
}

async fn cleanup_contact_group(cg: &ContactGroup, ctx: &Ctx) -> Result<Action, Error> {
    let ns = cg.namespace().unwrap_or_default();
    if cg.spec.deletion_policy == DeletionPolicy::Orphan {
        return Ok(Action::await_change());
    }
    let status = cg.status.clone().unwrap_or_default();
    remove_everywhere(ctx, cg, &ns, System::Keycloak, &status).await?;
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// Contact

/// One Keycloak group a Contact belongs in: its platform, path and why.
#[derive(Debug, Clone, PartialEq)]
struct WantedGroup {
    sdp: String,
    path: String,
}

/// The groups a Contact's organizations and contact groups put it in, per
/// platform; or what cannot be resolved.
async fn wanted_groups(ctx: &Ctx, ns: &str, contact: &Contact) -> Result<Vec<WantedGroup>, ProvisionError> {
    let mut out = Vec::new();
    let orgs: Api<Organization> = Api::namespaced(ctx.client.clone(), ns);
    for (i, m) in contact.spec.organizations.iter().enumerate() {
        let org = orgs
            .get_opt(&m.name)
            .await
            .map_err(|e| ProvisionError::new(System::Keycloak, ErrorKind::Transient, e.to_string()))?
            .ok_or_else(|| {
                config_error(System::Keycloak, format!("organizations[{i}]: Organization {:?} not found", m.name))
            })?;
        let sdp = platform(ctx, ns, &org.spec.sdp, System::Keycloak).await?;
        let group = org_group_name(&org);
        let roles = role_subgroups(&sdp.spec.settings, &group);
        let path = if roles.is_empty() {
            format!("/{group}")
        } else {
            let (_, sub) = crate::mapping::tenant::subgroup_role_of(&m.role, &roles).ok_or_else(|| {
                let known: Vec<&str> = roles.iter().map(|(r, _)| r.as_str()).collect();
                config_error(
                    System::Keycloak,
                    format!(
                        "organizations[{i}].role: {:?} is not one of the platform's roles ({})",
                        m.role,
                        known.join(", ")
                    ),
                )
            })?;
            format!("/{group}/{sub}")
        };
        out.push(WantedGroup { sdp: org.spec.sdp.clone(), path });
    }
    let groups: Api<ContactGroup> = Api::namespaced(ctx.client.clone(), ns);
    for (i, a) in contact.spec.additional_groups.iter().enumerate() {
        let cg = groups
            .get_opt(&a.contact_group)
            .await
            .map_err(|e| ProvisionError::new(System::Keycloak, ErrorKind::Transient, e.to_string()))?
            .ok_or_else(|| {
                config_error(
                    System::Keycloak,
                    format!("additionalGroups[{i}]: ContactGroup {:?} not found", a.contact_group),
                )
            })?;
        for p in platforms_of(&cg.spec.sdp) {
            out.push(WantedGroup { sdp: p, path: format!("/{}", cg.spec.keycloak.group_name.trim()) });
        }
    }
    out.sort_by(|a, b| (&a.sdp, &a.path).cmp(&(&b.sdp, &b.path)));
    out.dedup();
    Ok(out)
}

pub async fn reconcile_contact(c: Arc<Contact>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = c.namespace().unwrap_or_default();
    let api: Api<Contact> = Api::namespaced(ctx.client.clone(), &ns);
    let c = crate::runtime::latest(&api, c).await?;
    finalizer(&api, TENANT_FINALIZER, c, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_contact(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_contact(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// The user a Contact names, in one platform's Keycloak.
async fn contact_user(
    kc: &KeycloakAdmin,
    contact: &Contact,
) -> Result<crate::provision::keycloak::User, ProvisionError> {
    let k = &contact.spec.keycloak;
    let username = k.username.as_deref().filter(|u| !u.trim().is_empty());
    let email = k.email.as_deref().filter(|e| !e.trim().is_empty());
    if username.is_none() && email.is_none() {
        return Err(config_error(System::Keycloak, "spec.keycloak names neither a username nor an email"));
    }
    kc.find_user(username, email).await?.ok_or_else(|| {
        config_error(
            System::Keycloak,
            format!(
                "no user {} in realm {}",
                [username.map(|u| format!("username {u:?}")), email.map(|e| format!("email {e:?}"))]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" or "),
                kc.realm()
            ),
        )
    })
}

/// What a membership pass did in one platform.
struct Memberships {
    /// Stable while in sync (it goes into the condition).
    summary: String,
    added: usize,
    removed: usize,
}

/// Puts the user in every wanted group of one platform and takes it out of
/// the groups nines put it in that are no longer wanted. Memberships it did
/// not grant are never removed.
async fn sync_memberships(
    kc: &KeycloakAdmin,
    sdp: &str,
    contact: &Contact,
    wanted: &[&WantedGroup],
    status: &mut TenantStatus,
) -> Result<Memberships, ProvisionError> {
    let user = contact_user(kc, contact).await?;
    let current: Vec<String> = kc.user_groups(&user.id).await?.into_iter().map(|g| g.id).collect();
    let mut added = 0;
    let mut keep = Vec::new();
    for w in wanted {
        let g = kc.group_by_path(&w.path).await?.ok_or_else(|| {
            ProvisionError::new(System::Keycloak, ErrorKind::Transient, format!("group {} does not exist yet", w.path))
        })?;
        let granted_before = status.resources.iter().any(|r| {
            r.sdp == sdp
                && r.kind == "membership"
                && r.name == w.path
                && r.created
                && r.id.as_deref() == Some(g.id.as_str())
        });
        let created = if current.contains(&g.id) {
            granted_before
        } else {
            kc.add_member(&user.id, &g.id).await?;
            added += 1;
            true
        };
        let mut r = present(System::Keycloak, sdp, "membership", &w.path, &g.id, created);
        r.message = format!("user {}", user.username);
        record(status, r);
        keep.push(w.path.clone());
    }
    // memberships nines granted that are no longer wanted
    let stale: Vec<ProvisionedResource> = status
        .resources
        .iter()
        .filter(|r| {
            r.system == System::Keycloak.name() && r.sdp == sdp && r.kind == "membership" && !keep.contains(&r.name)
        })
        .cloned()
        .collect();
    let mut removed = 0;
    for r in stale {
        if let (true, Some(id)) = (r.created, &r.id) {
            kc.remove_member(&user.id, id).await?;
            removed += 1;
        }
        status.resources.retain(|x| {
            !(x.system == System::Keycloak.name() && x.sdp == sdp && x.kind == "membership" && x.name == r.name)
        });
    }
    Ok(Memberships { summary: format!("user {} in {} group(s)", user.username, wanted.len()), added, removed })
}

/// One GitLab membership a Contact's organizations give it.
#[derive(Debug, Clone, PartialEq)]
struct WantedMember {
    sdp: String,
    path: String,
    level: u32,
}

/// The GitLab groups (with access levels) of a Contact's organizations that
/// have GitLab on, in platforms that name a GitLab.
async fn wanted_gitlab(ctx: &Ctx, ns: &str, contact: &Contact) -> Result<Vec<WantedMember>, ProvisionError> {
    let orgs: Api<Organization> = Api::namespaced(ctx.client.clone(), ns);
    let mut out = Vec::new();
    for (i, m) in contact.spec.organizations.iter().enumerate() {
        let Some(org) = orgs
            .get_opt(&m.name)
            .await
            .map_err(|e| ProvisionError::new(System::GitLab, ErrorKind::Transient, e.to_string()))?
        else {
            continue; // named in the Keycloak condition
        };
        if !org.spec.gitlab.as_ref().is_some_and(|g| g.enabled) {
            continue;
        }
        let sdp = platform(ctx, ns, &org.spec.sdp, System::GitLab).await?;
        if sdp.spec.gitlab.is_none() {
            continue;
        }
        let level = crate::mapping::tenant::gitlab_level_for_role(&m.role)
            .map_err(|e| config_error(System::GitLab, format!("organizations[{i}].role: {e}")))?;
        out.push(WantedMember { sdp: org.spec.sdp.clone(), path: org_gitlab_path(&org), level });
    }
    out.sort_by(|a, b| (&a.sdp, &a.path).cmp(&(&b.sdp, &b.path)));
    out.dedup_by(|a, b| a.sdp == b.sdp && a.path == b.path);
    Ok(out)
}

/// Puts the Contact's GitLab user into its organizations' groups at the
/// role's level, and takes back the memberships nines granted that are no
/// longer wanted; per platform. Empty when GitLab plays no part.
async fn contact_gitlab(
    ctx: &Ctx,
    ns: &str,
    contact: &Contact,
    status: &mut TenantStatus,
) -> Vec<(String, Result<String, ProvisionError>)> {
    let wanted = match wanted_gitlab(ctx, ns, contact).await {
        Ok(w) => w,
        Err(e) => return vec![("-".to_string(), Err(e))],
    };
    let mut platforms: Vec<String> = wanted.iter().map(|w| w.sdp.clone()).collect();
    platforms.extend(status.resources.iter().filter(|r| r.system == System::GitLab.name()).map(|r| r.sdp.clone()));
    let platforms = platforms_of(&platforms);
    let mut results = Vec::new();
    for p in platforms {
        let mine: Vec<&WantedMember> = wanted.iter().filter(|w| w.sdp == p).collect();
        let r = async {
            let Some(gl) = platform_gitlab(ctx, ns, &p).await? else {
                return Ok("the platform names no GitLab".to_string());
            };
            let k = &contact.spec.keycloak;
            let username = k.username.as_deref().filter(|u| !u.trim().is_empty());
            let email = k.email.as_deref().filter(|e| !e.trim().is_empty());
            let user = gl.find_user(username, email).await?.ok_or_else(|| {
                config_error(System::GitLab, format!("no GitLab user {}", username.or(email).unwrap_or("(unnamed)")))
            })?;
            let mut keep = Vec::new();
            for w in &mine {
                let g = gl.group(&w.path).await?.ok_or_else(|| {
                    ProvisionError::new(
                        System::GitLab,
                        ErrorKind::Transient,
                        format!("group {} does not exist yet", w.path),
                    )
                })?;
                let id = g.id.to_string();
                let o = gl.ensure_member(g.id, user.id, w.level).await?;
                let created =
                    o == Outcome::Created || created_before(status, System::GitLab, &p, "membership", &w.path, &id);
                let mut r = present(System::GitLab, &p, "membership", &w.path, &id, created);
                r.message = format!("user {} at access level {}", user.username, w.level);
                record(status, r);
                keep.push(w.path.clone());
            }
            let stale: Vec<ProvisionedResource> = status
                .resources
                .iter()
                .filter(|r| {
                    r.system == System::GitLab.name() && r.sdp == p && r.kind == "membership" && !keep.contains(&r.name)
                })
                .cloned()
                .collect();
            for r in stale {
                if let (true, Some(id)) = (r.created, r.id.as_deref().and_then(|i| i.parse::<i64>().ok())) {
                    gl.remove_member(id, user.id).await?;
                }
                status
                    .resources
                    .retain(|x| !(x.system == r.system && x.sdp == r.sdp && x.kind == r.kind && x.name == r.name));
            }
            Ok(format!("user {} in {} group(s)", user.username, mine.len()))
        }
        .await;
        results.push((p, r));
    }
    results
}

async fn apply_contact(contact: &Contact, ctx: &Ctx, api: &Api<Contact>) -> Result<Action, Error> {
    let ns = contact.namespace().unwrap_or_default();
    let generation = contact.metadata.generation;
    let before = contact.status.clone().unwrap_or_default();
    let mut status = before.clone();
    status.observed_generation = generation;
    let now = ctx.now();
    let mut results = Vec::new();
    match wanted_groups(ctx, &ns, contact).await {
        Err(e) => results.push(("-".to_string(), Err(e))),
        Ok(wanted) => {
            let platforms = platforms_of(&wanted.iter().map(|w| w.sdp.clone()).collect::<Vec<_>>());
            // platforms no longer involved: remove what nines granted there
            let gone: Vec<String> = platforms_of(
                &status
                    .resources
                    .iter()
                    .filter(|r| r.system == System::Keycloak.name())
                    .map(|r| r.sdp.clone())
                    .filter(|p| !platforms.contains(p))
                    .collect::<Vec<_>>(),
            );
            for p in platforms.iter().chain(gone.iter()) {
                let mine: Vec<&WantedGroup> = wanted.iter().filter(|w| &w.sdp == p).collect();
                let r = async {
                    let kc = platform_keycloak(ctx, &ns, p).await?;
                    sync_memberships(&kc, p, contact, &mine, &mut status).await
                }
                .await;
                if let Ok(m) = &r
                    && m.added + m.removed > 0
                {
                    let note = format!("{p}: {} added, {} removed; {}", m.added, m.removed, m.summary);
                    ctx.event(&contact.object_ref(&()), false, "MembershipsChanged", note).await;
                }
                results.push((p.clone(), r.map(|m| m.summary)));
            }
        }
    }
    let (ok, message, err) = per_platform(&results);
    let reason = match &err {
        Some(e) => reason_of(e),
        None => "InSync",
    };
    set_condition(
        &mut status.conditions,
        system_condition(System::Keycloak, if ok { "True" } else { "False" }, reason, message, generation),
        now,
    );
    let mut errors: Vec<ProvisionError> = err.into_iter().collect();
    // GitLab: the organizations' groups, at the access level of the role
    let gl_results = contact_gitlab(ctx, &ns, contact, &mut status).await;
    if gl_results.is_empty() {
        status.conditions.retain(|c| c.type_ != "GitLabReady");
    } else {
        let (ok, message, err) = per_platform(&gl_results);
        let reason = err.as_ref().map(reason_of).unwrap_or("InSync");
        let c = system_condition(System::GitLab, if ok { "True" } else { "False" }, reason, message, generation);
        set_condition(&mut status.conditions, c, now);
        errors.extend(err);
    }
    settle_ready(&mut status, generation, now);
    announce(ctx, contact, &before, &status).await;
    write_status(api, &contact.name_any(), &before, &status).await?;
    next_action(&errors, ctx.settings.tenant_resync)
}

/// Takes the user out of the groups nines put it in: GitLab, then Keycloak.
async fn cleanup_contact(contact: &Contact, ctx: &Ctx) -> Result<Action, Error> {
    let ns = contact.namespace().unwrap_or_default();
    let status = contact.status.clone().unwrap_or_default();
    let gl_platforms = platforms_of(
        &status
            .resources
            .iter()
            .filter(|r| r.system == System::GitLab.name() && r.created)
            .map(|r| r.sdp.clone())
            .collect::<Vec<_>>(),
    );
    for p in gl_platforms {
        let gl = match platform_gitlab(ctx, &ns, &p).await {
            Ok(Some(gl)) => gl,
            Ok(None) => continue,
            Err(e) if e.kind == ErrorKind::Refused => continue,
            Err(e) => return Err(Error::Provision(e)),
        };
        let k = &contact.spec.keycloak;
        let Some(user) = gl.find_user(k.username.as_deref(), k.email.as_deref()).await? else { continue };
        for r in status.resources.iter().filter(|r| r.system == System::GitLab.name() && r.sdp == p && r.created) {
            if let Some(id) = r.id.as_deref().and_then(|i| i.parse::<i64>().ok()) {
                gl.remove_member(id, user.id).await?;
            }
        }
    }
    let platforms = platforms_of(
        &status
            .resources
            .iter()
            .filter(|r| r.system == System::Keycloak.name())
            .map(|r| r.sdp.clone())
            .collect::<Vec<_>>(),
    );
    for p in platforms {
        let granted: Vec<&ProvisionedResource> = status
            .resources
            .iter()
            .filter(|r| r.system == System::Keycloak.name() && r.sdp == p && r.kind == "membership" && r.created)
            .collect();
        if granted.is_empty() {
            continue;
        }
        let kc = match platform_keycloak(ctx, &ns, &p).await {
            Ok(kc) => kc,
            Err(e) if e.kind == ErrorKind::Refused => continue,
            Err(e) => return Err(Error::Provision(e)),
        };
        let user = match contact_user(&kc, contact).await {
            Ok(u) => u,
            Err(e) if e.kind == ErrorKind::Refused => continue, // the user is gone: nothing to take back
            Err(e) => return Err(Error::Provision(e)),
        };
        for r in granted {
            if let Some(id) = &r.id {
                kc.remove_member(&user.id, id).await?;
            }
        }
    }
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// Running

/// The tenant controllers, until `stop`: platforms, and organizations
/// (reconciled again when their platform changes).
pub async fn run_tenants(ctx: Arc<Ctx>, stop: tokio::sync::watch::Receiver<bool>) {
    use crate::runtime::{ctrl_all, run_ctrl};
    use kube::runtime::reflector::ObjectRef;
    use kube::runtime::watcher;
    let client = ctx.client.clone();
    let sdps = ctrl_all::<SoftwareDeliveryPlatform>(&client);
    let orgs = ctrl_all::<Organization>(&client);
    let org_store = orgs.store();
    let orgs =
        orgs.watches(Api::<SoftwareDeliveryPlatform>::all(client.clone()), watcher::Config::default(), move |p| {
            let ns = p.namespace();
            let name = p.name_any();
            org_store
                .state()
                .into_iter()
                .filter(|o| o.namespace() == ns && o.spec.sdp == name)
                .map(|o| ObjectRef::from_obj(&*o))
                .collect::<Vec<_>>()
        });
    let groups = ctrl_all::<ContactGroup>(&client);
    let contacts = ctrl_all::<Contact>(&client);
    tokio::join!(
        run_ctrl(sdps, reconcile_sdp, &ctx, &stop, "softwaredeliveryplatform"),
        run_ctrl(orgs, reconcile_org, &ctx, &stop, "organization"),
        run_ctrl(groups, reconcile_contact_group, &ctx, &stop, "contactgroup"),
        run_ctrl(contacts, reconcile_contact, &ctx, &stop, "contact"),
    );
}

/// A system's mark in `nines operator status`: ✓ in sync, ✗ failed, … not
/// yet known, - not configured.
pub fn system_mark(status: &TenantStatus, system: &str, configured: bool) -> String {
    if !configured {
        return "-".into();
    }
    let t = format!("{system}Ready");
    match status.conditions.iter().find(|c| c.type_ == t).map(|c| c.status.as_str()) {
        Some("True") => "✓",
        Some("False") => "✗",
        _ => "…",
    }
    .into()
}

/// Removes, in every platform the status records for `system`, what nines
/// made there (a finalizer's cleanup under `deletionPolicy: Delete`).
pub(crate) async fn remove_everywhere<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    ns: &str,
    system: System,
    status: &TenantStatus,
) -> Result<(), Error> {
    let mine: Vec<ProvisionedResource> =
        status.resources.iter().filter(|r| r.system == system.name()).cloned().collect();
    for p in platforms_of(&mine.iter().map(|r| r.sdp.clone()).collect::<Vec<_>>()) {
        let Some(sdp) = cleanup_platform(ctx, obj, ns, &p, system).await? else { continue };
        let records: Vec<ProvisionedResource> = mine.iter().filter(|r| r.sdp == p).cloned().collect();
        told_removal(ctx, obj, remove_in(ctx, ns, system, &sdp, &p, &records).await).await?;
    }
    Ok(())
}

/// The platforms the status holds records of for `system` that `platforms`
/// (the spec's) no longer names: under `deletionPolicy: Delete` what nines
/// made there is removed as deleting the object would, under `Orphan` it is
/// left; either way its records go, and with them that platform's part of
/// the status. A removal that fails or must wait keeps the records and adds
/// the platform's failure to `results` (retried). Callers of kinds with a
/// list of platforms skip this while the list is empty: that is a mistake
/// the status reports, not a removal everywhere.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn let_go_of_dropped<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    ns: &str,
    system: System,
    policy: DeletionPolicy,
    platforms: &[String],
    status: &mut TenantStatus,
    results: &mut Vec<PlatformResult>,
) {
    let dropped = platforms_of(
        &status
            .resources
            .iter()
            .filter(|r| r.system == system.name() && !platforms.contains(&r.sdp))
            .map(|r| r.sdp.clone())
            .collect::<Vec<_>>(),
    );
    for p in dropped {
        let records: Vec<ProvisionedResource> =
            status.resources.iter().filter(|r| r.system == system.name() && r.sdp == p).cloned().collect();
        let r = if policy == DeletionPolicy::Orphan {
            let note = format!("{p}: no longer in spec.sdp; deletionPolicy Orphan: what nines made there stays");
            ctx.event(&obj.object_ref(&()), false, "Orphaned", note).await;
            Ok(())
        } else {
            match cleanup_platform(ctx, obj, ns, &p, system).await {
                Ok(None) => Ok(()),
                Ok(Some(sdp)) => told_removal(ctx, obj, remove_in(ctx, ns, system, &sdp, &p, &records).await).await,
                Err(e) => Err(e),
            }
        };
        match r {
            Ok(()) => status.resources.retain(|x| !(x.system == system.name() && x.sdp == p)),
            Err(mut e) => {
                e.message = format!("no longer in spec.sdp, removing: {}", e.message);
                results.push((p, Err(e)));
            }
        }
    }
}

pub(crate) type PlatformResult = (String, Result<String, ProvisionError>);

/// The recorded resource of `system`, platform, kind and name, if any.
pub(crate) fn recorded<'a>(
    status: &'a TenantStatus,
    system: System,
    sdp: &str,
    kind: &str,
    name: &str,
) -> Option<&'a ProvisionedResource> {
    status.resources.iter().find(|r| r.system == system.name() && r.sdp == sdp && r.kind == kind && r.name == name)
}

/// Harbor and Argo CD answer `Adopted` on every pass over something nines
/// did not create; once it is in the record with the same id, that is
/// nothing new (no Event).
pub(crate) fn settled(o: Outcome, known: bool) -> Outcome {
    if o == Outcome::Adopted && known { Outcome::Unchanged } else { o }
}

/// The Event of what a pass did in one platform; nothing while in sync.
pub(crate) async fn told<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    sdp: &str,
    system: System,
    o: Outcome,
    what: &str,
) {
    if o != Outcome::Unchanged {
        ctx.event(&obj.object_ref(&()), false, outcome_reason(o), format!("{sdp}: {system}: {what}")).await;
    }
}

/// The Events of a removal in one platform; a removal that must wait (a
/// Harbor project holding repositories, an Argo CD project used by
/// applications) is said in a Warning, retried with backoff, never forced.
pub(crate) async fn told_removal<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    r: Result<Vec<(&'static str, String)>, ProvisionError>,
) -> Result<(), ProvisionError> {
    match r {
        Ok(notes) => {
            for (reason, note) in notes {
                ctx.event(&obj.object_ref(&()), false, reason, note).await;
            }
            Ok(())
        }
        Err(e) => {
            if e.kind == ErrorKind::Blocked {
                ctx.event(&obj.object_ref(&()), true, "DeletionWaiting", e.to_string()).await;
            }
            Err(e)
        }
    }
}

/// The platform a recorded resource lives in, at removal. A platform that
/// is gone leaves what it holds in place (an Event says so).
pub(crate) async fn cleanup_platform<K: Resource<DynamicType = ()>>(
    ctx: &Ctx,
    obj: &K,
    ns: &str,
    sdp: &str,
    system: System,
) -> Result<Option<SoftwareDeliveryPlatform>, ProvisionError> {
    match platform(ctx, ns, sdp, system).await {
        Ok(p) => Ok(Some(p)),
        Err(e) if e.kind == ErrorKind::Refused => {
            let note = format!("{sdp}: {}; what nines made there is left in place", e.message);
            ctx.event(&obj.object_ref(&()), true, "PlatformNotFound", note).await;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Removes what nines made in platform `p` for one object, as its deletion
/// does, from the object's records of `system` there; answers the Events
/// to tell. Each kind's records say what to remove: a Keycloak `group`, a
/// Harbor `project` (or in an adopted one its `member`s), an Argo CD
/// `project` (or in an adopted one its `binding`s) or `cluster`, a GitLab
/// `group` (or in an adopted one its `membership`s). What nines adopted
/// stays.
pub(crate) async fn remove_in(
    ctx: &Ctx,
    ns: &str,
    system: System,
    sdp: &SoftwareDeliveryPlatform,
    p: &str,
    records: &[ProvisionedResource],
) -> Result<Vec<(&'static str, String)>, ProvisionError> {
    match system {
        System::Keycloak => keycloak_remove(ctx, ns, sdp, p, records).await,
        System::Harbor => harbor_remove(ctx, ns, sdp, p, records).await,
        System::ArgoCd => argocd_remove(ctx, ns, sdp, p, records).await,
        System::GitLab => gitlab_remove(ctx, ns, sdp, p, records).await,
        // a nines registration lives in no platform (see let_go_of_nines)
        System::Nines => Ok(vec![]),
    }
}

/// A HarborProject's part of [`remove_in`]: its project if nines created it
/// (Harbor refuses while it holds repositories: Blocked), else the
/// memberships nines granted in it.
pub(crate) async fn harbor_remove(
    ctx: &Ctx,
    ns: &str,
    sdp: &SoftwareDeliveryPlatform,
    p: &str,
    records: &[ProvisionedResource],
) -> Result<Vec<(&'static str, String)>, ProvisionError> {
    let (Some(conn), Some(project)) = (&sdp.spec.harbor, records.iter().find(|r| r.kind == "project")) else {
        return Ok(vec![]);
    };
    let h = harbor(ctx, ns, conn).await?;
    if project.created {
        h.delete_project(&project.name).await?;
        return Ok(vec![("Deleted", format!("{p}: Harbor project {} deleted", project.name))]);
    }
    for m in records.iter().filter(|r| r.kind == "member" && r.created) {
        h.remove_group_member(&project.name, &m.name).await?;
    }
    Ok(vec![("Orphaned", format!("{p}: Harbor project {} was adopted: left in place", project.name))])
}

/// The Argo CD part of [`remove_in`]: an ArgoCDProject's project if nines
/// created it (Argo CD refuses while applications use it: Blocked), else
/// the role bindings nines granted in it; a K8sCluster's registration if
/// nines made it.
pub(crate) async fn argocd_remove(
    ctx: &Ctx,
    ns: &str,
    sdp: &SoftwareDeliveryPlatform,
    p: &str,
    records: &[ProvisionedResource],
) -> Result<Vec<(&'static str, String)>, ProvisionError> {
    let Some(conn) = &sdp.spec.argocd else { return Ok(vec![]) };
    let a = argocd(ctx, ns, conn).await?;
    let mut notes = Vec::new();
    for r in records.iter().filter(|r| r.kind == "project") {
        if r.created {
            a.delete_project(&r.name).await?;
            notes.push(("Deleted", format!("{p}: Argo CD project {} deleted", r.name)));
            continue;
        }
        let mut revoke: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for b in records.iter().filter(|b| b.kind == "binding" && b.created && b.id.as_deref() == Some(&r.name)) {
            if let Some((role, group)) = b.name.split_once(':') {
                revoke.entry(role.to_string()).or_default().push(group.to_string());
            }
        }
        if !revoke.is_empty() {
            a.revoke_bindings(&r.name, &revoke).await?;
        }
        notes.push(("Orphaned", format!("{p}: Argo CD project {} was adopted: left in place", r.name)));
    }
    for r in records.iter().filter(|r| r.kind == "cluster") {
        if r.created {
            a.delete_cluster(&r.name).await?;
            notes.push(("Deleted", format!("{p}: Argo CD cluster {} removed", r.name)));
        } else {
            notes.push(("Orphaned", format!("{p}: Argo CD cluster {} was adopted: left in place", r.name)));
        }
    }
    Ok(notes)
}

/// A GitLabGroup's part of [`remove_in`]: its group if nines created it,
/// else the memberships nines granted in it.
pub(crate) async fn gitlab_remove(
    ctx: &Ctx,
    ns: &str,
    sdp: &SoftwareDeliveryPlatform,
    p: &str,
    records: &[ProvisionedResource],
) -> Result<Vec<(&'static str, String)>, ProvisionError> {
    let (Some(conn), Some(r)) = (&sdp.spec.gitlab, records.iter().find(|r| r.kind == "group")) else {
        return Ok(vec![]);
    };
    let Some(id) = r.id.as_deref().and_then(|i| i.parse::<i64>().ok()) else { return Ok(vec![]) };
    let gl = gitlab(ctx, ns, conn).await?;
    if !r.created {
        for m in records.iter().filter(|m| m.kind == "membership" && m.created) {
            if let Some((_, username)) = m.name.rsplit_once(':')
                && let Some(user) = gl.find_user(Some(username), None).await?
            {
                gl.remove_member(id, user.id).await?;
            }
        }
        return Ok(vec![("Orphaned", format!("{p}: GitLab group {} ({id}) was adopted: left in place", r.name))]);
    }
    let note = match gl.delete_group(id).await? {
        Deletion::Deleted => format!("{p}: GitLab group {} ({id}) deleted", r.name),
        Deletion::Scheduled(day) => format!("{p}: GitLab group {} ({id}) marked for deletion on {day}", r.name),
        Deletion::NotFound => format!("{p}: GitLab group {} ({id}) was already gone", r.name),
    };
    Ok(vec![("Deleted", note)])
}

/// A ContactGroup's part of [`remove_in`]: the Keycloak groups nines
/// created.
pub(crate) async fn keycloak_remove(
    ctx: &Ctx,
    ns: &str,
    sdp: &SoftwareDeliveryPlatform,
    p: &str,
    records: &[ProvisionedResource],
) -> Result<Vec<(&'static str, String)>, ProvisionError> {
    let Some(conn) = &sdp.spec.keycloak else { return Ok(vec![]) };
    let mut notes = Vec::new();
    for r in records.iter().filter(|r| r.kind == "group") {
        let Some(id) = r.id.as_deref() else { continue };
        if !r.created {
            notes.push(("Orphaned", format!("{p}: Keycloak group {} ({id}) was adopted: left in place", r.name)));
            continue;
        }
        keycloak(ctx, ns, conn).await?.delete_group(id).await?;
        notes.push(("Deleted", format!("{p}: Keycloak group {} ({id}) deleted", r.name)));
    }
    Ok(notes)
}
