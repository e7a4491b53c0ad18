//! The standalone tenant kinds: HarborProject, ArgoCDProject and
//! GitLabGroup, each provisioned in every platform its `spec.sdp` lists,
//! and K8sCluster, registered with nines (in `spec.workspace`) and in the
//! Argo CD of its one platform.
//!
//! They keep the rules of [`crate::tenant`] and reuse its steps (clients
//! per platform, `status.resources` records, per-system conditions, status
//! written only when it changed, finalizer): what exists is adopted, nines
//! deletes only what it created and only under `deletionPolicy: Delete`
//! (a K8sCluster has no policy: what nines registered goes with it), a
//! platform that fails does not stop the others, and a resync in sync only
//! reads. A platform dropped from `spec.sdp` is let go of as deletion
//! would (its resources removed under `Delete`, left under `Orphan`, and
//! forgotten either way; `crate::tenant::let_go_of_dropped`). The
//! organization-bound provisioning and the removal steps every tenant kind
//! shares live in [`crate::tenant`]; the clients and their vendors'
//! semantics in [`crate::provision`].
//!
//! Access of an organization (`organizationAccess`) reaches its people
//! through the Keycloak groups they are in: the organization's role
//! subgroups when its platform makes them (Contacts are put into those,
//! not into the organization's group), else the organization's group.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Resource, ResourceExt};

use crate::api::{ApiError, ClusterRegistration, NinesClient};
use crate::crd::*;
use crate::mapping::tenant::{gitlab_access_level, harbor_role_id, project_policy, quantity_bytes, role_subgroups};
use crate::provision::argocd::{Destination, ProjectSpecWanted, RoleWanted};
use crate::provision::gitlab::Visibility;
use crate::provision::{ErrorKind, Outcome, ProvisionError, System};
use crate::reconcile::{NinesClusterStep, k8s_cluster_workspace, nines_cluster_step, set_condition};
use crate::runtime::{Ctx, Error};
use crate::tenant::{
    PlatformResult, TENANT_FINALIZER, announce, argocd, config_error, created_before, gitlab, harbor,
    let_go_of_dropped, next_action, org_group_name, per_platform, platform, platforms_of, present, reason_of, record,
    recorded, remove_everywhere, secret_entry, settle_ready, settled, system_condition, told, unwrap_finalizer,
    write_status,
};

/// The end of every apply: the system's condition from the per-platform
/// results (removed when no platform plays a part), `Ready`, Events for
/// what changed, the status written if it changed, and the next look.
async fn finish<K>(
    ctx: &Ctx,
    obj: &K,
    api: &Api<K>,
    system: System,
    before: &TenantStatus,
    status: TenantStatus,
    results: &[PlatformResult],
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    finish_systems(ctx, obj, api, before, status, &[(system, Some(results))]).await
}

/// [`finish`] for several systems; a system given `None` keeps its
/// condition as it is.
async fn finish_systems<K>(
    ctx: &Ctx,
    obj: &K,
    api: &Api<K>,
    before: &TenantStatus,
    mut status: TenantStatus,
    parts: &[(System, Option<&[PlatformResult]>)],
) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let generation = obj.meta().generation;
    let now = ctx.now();
    status.observed_generation = generation;
    let mut errors = Vec::new();
    for (system, results) in parts {
        let Some(results) = results else { continue };
        if results.is_empty() {
            let t = format!("{}Ready", system.name());
            status.conditions.retain(|c| c.type_ != t);
            continue;
        }
        let (ok, message, err) = per_platform(results);
        let reason = err.as_ref().map(reason_of).unwrap_or("InSync");
        let c = system_condition(*system, if ok { "True" } else { "False" }, reason, message, generation);
        set_condition(&mut status.conditions, c, now);
        errors.extend(err);
    }
    settle_ready(&mut status, generation, now);
    announce(ctx, obj, before, &status).await;
    write_status(api, &obj.name_any(), before, &status).await?;
    next_action(&errors, ctx.settings.tenant_resync)
}

/// The platforms a multi-platform object names, or the result that says it
/// names none.
fn named_platforms(system: System, sdp: &[String], results: &mut Vec<PlatformResult>) -> Vec<String> {
    let platforms = platforms_of(sdp);
    if platforms.is_empty() {
        results.push(("-".into(), Err(config_error(system, "spec.sdp names no SoftwareDeliveryPlatform"))));
    }
    platforms
}

/// The Keycloak groups through which an organization's people reach what
/// it is given access to, in its platform: its role subgroups when the
/// platform makes them, else its group.
fn organization_groups(org: &Organization, sdp: &SoftwareDeliveryPlatform) -> Vec<String> {
    let group = org_group_name(org);
    let subgroups: Vec<String> = role_subgroups(&sdp.spec.settings, &group).into_iter().map(|(_, n)| n).collect();
    if subgroups.is_empty() { vec![group] } else { subgroups }
}

/// The organizations `organizationAccess` names, each with its index;
/// those of another platform than `sdp` play no part there.
async fn organizations_in(
    ctx: &Ctx,
    ns: &str,
    system: System,
    access: &[OrganizationAccess],
    sdp: &str,
) -> Result<Vec<(usize, Organization)>, ProvisionError> {
    let orgs: Api<Organization> = Api::namespaced(ctx.client.clone(), ns);
    let mut out = Vec::new();
    for (i, a) in access.iter().enumerate() {
        let org = orgs
            .get_opt(&a.organization)
            .await
            .map_err(|e| ProvisionError::new(system, ErrorKind::Transient, e.to_string()))?
            .ok_or_else(|| {
                config_error(system, format!("organizationAccess[{i}]: Organization {:?} not found", a.organization))
            })?;
        if org.spec.sdp == sdp {
            out.push((i, org));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// HarborProject

pub async fn reconcile_harbor_project(hp: Arc<HarborProject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = hp.namespace().unwrap_or_default();
    let api: Api<HarborProject> = Api::namespaced(ctx.client.clone(), &ns);
    let hp = crate::runtime::latest(&api, hp).await?;
    finalizer(&api, TENANT_FINALIZER, hp, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_harbor_project(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_harbor_project(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// How much a Harbor role allows, for a group named twice: the stronger
/// role wins (the ids are not in that order).
fn harbor_rank(role_id: u32) -> u32 {
    match role_id {
        1 => 5, // projectAdmin
        4 => 4, // maintainer
        2 => 3, // developer
        3 => 2, // guest
        _ => 1, // limitedGuest
    }
}

/// The OIDC groups a HarborProject makes members in platform `sdp`, with
/// their Harbor role ids. Resolved before anything is written.
async fn harbor_members(
    ctx: &Ctx,
    ns: &str,
    hp: &HarborProject,
    sdp: &SoftwareDeliveryPlatform,
) -> Result<BTreeMap<String, u32>, ProvisionError> {
    let sys = System::Harbor;
    let mut wanted: Vec<(String, u32)> = Vec::new();
    for (i, a) in hp.spec.access_control.iter().enumerate() {
        let group = a.keycloak_group.trim();
        if group.is_empty() {
            return Err(config_error(sys, format!("accessControl[{i}].keycloakGroup is empty")));
        }
        let role =
            a.role.as_deref().ok_or_else(|| config_error(sys, format!("accessControl[{i}].role is required")))?;
        let id = harbor_role_id(role).map_err(|e| config_error(sys, format!("accessControl[{i}].role: {e}")))?;
        wanted.push((group.to_string(), id));
    }
    for (i, org) in organizations_in(ctx, ns, sys, &hp.spec.organization_access, &sdp.name_any()).await? {
        let a = &hp.spec.organization_access[i];
        let role =
            a.role.as_deref().ok_or_else(|| config_error(sys, format!("organizationAccess[{i}].role is required")))?;
        let id = harbor_role_id(role).map_err(|e| config_error(sys, format!("organizationAccess[{i}].role: {e}")))?;
        wanted.extend(organization_groups(&org, sdp).into_iter().map(|g| (g, id)));
    }
    let mut out: BTreeMap<String, u32> = BTreeMap::new();
    for (group, id) in wanted {
        let e = out.entry(group).or_insert(id);
        if harbor_rank(id) > harbor_rank(*e) {
            *e = id;
        }
    }
    Ok(out)
}

/// The project, its quota and its group members in one platform.
async fn harbor_in(
    ctx: &Ctx,
    ns: &str,
    hp: &HarborProject,
    p: &str,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sys = System::Harbor;
    let sdp = platform(ctx, ns, p, sys).await?;
    let conn = sdp
        .spec
        .harbor
        .as_ref()
        .ok_or_else(|| config_error(sys, format!("SoftwareDeliveryPlatform {p} names no Harbor")))?;
    let quota = match hp.spec.storage_quota.as_deref() {
        Some(q) => Some(quantity_bytes(q).map_err(|e| config_error(sys, format!("spec.storageQuota: {e}")))?),
        None => None,
    };
    let members = harbor_members(ctx, ns, hp, &sdp).await?;
    let h = harbor(ctx, ns, conn).await?;
    let name = hp.spec.project_name.trim();
    let (project, o) = h.ensure_project(name, hp.spec.public, quota).await?;
    let id = project.project_id.to_string();
    let known = recorded(status, sys, p, "project", name).is_some_and(|r| r.id.as_deref() == Some(id.as_str()));
    let mut outcome = settled(o, known);
    let created = o == Outcome::Created || created_before(status, sys, p, "project", name, &id);
    // a renamed project: the old one drops out of the record (it stays in Harbor)
    status.resources.retain(|r| !(r.system == sys.name() && r.sdp == p && r.kind == "project" && r.name != name));
    record(status, present(sys, p, "project", name, &id, created));
    for (group, role) in &members {
        let o = h.ensure_group_member(name, group, *role).await?;
        let prior = recorded(status, sys, p, "member", group).cloned();
        // the member id is read once; while in sync the record keeps it
        let member_id = match prior.as_ref().and_then(|r| r.id.clone()) {
            Some(id) if o == Outcome::Unchanged => id,
            _ => h.group_member(name, group).await?.map(|m| m.id.to_string()).unwrap_or_default(),
        };
        let granted = o == Outcome::Created || prior.is_some_and(|r| r.created);
        let mut r = present(sys, p, "member", group, &member_id, granted);
        r.message = format!("OIDC group with role {role}");
        record(status, r);
        if o != Outcome::Unchanged && outcome == Outcome::Unchanged {
            outcome = Outcome::Updated;
        }
    }
    // memberships no longer wanted: nines takes back those it granted
    let stale: Vec<ProvisionedResource> = status
        .resources
        .iter()
        .filter(|r| r.system == sys.name() && r.sdp == p && r.kind == "member" && !members.contains_key(&r.name))
        .cloned()
        .collect();
    for r in stale {
        if r.created && h.remove_group_member(name, &r.name).await? && outcome == Outcome::Unchanged {
            outcome = Outcome::Updated;
        }
        status.resources.retain(|x| !(x.system == r.system && x.sdp == r.sdp && x.kind == r.kind && x.name == r.name));
    }
    let origin = if created { "" } else { ", adopted" };
    let quota_text = quota.map(|b| format!(", quota {b} bytes")).unwrap_or_default();
    Ok((format!("project {name} ({id}{origin}{quota_text}), {} group member(s)", members.len()), outcome))
}

async fn apply_harbor_project(hp: &HarborProject, ctx: &Ctx, api: &Api<HarborProject>) -> Result<Action, Error> {
    let ns = hp.namespace().unwrap_or_default();
    let before = hp.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let mut results = Vec::new();
    let platforms = named_platforms(System::Harbor, &hp.spec.sdp, &mut results);
    if hp.spec.project_name.trim().is_empty() {
        results.push(("-".into(), Err(config_error(System::Harbor, "spec.projectName is empty"))));
    } else {
        for p in &platforms {
            let r = harbor_in(ctx, &ns, hp, p, &mut status).await;
            if let Ok((what, o)) = &r {
                told(ctx, hp, p, System::Harbor, *o, what).await;
            }
            results.push((p.clone(), r.map(|(what, _)| what)));
        }
    }
    if !platforms.is_empty() {
        let policy = hp.spec.deletion_policy;
        let_go_of_dropped(ctx, hp, &ns, System::Harbor, policy, &platforms, &mut status, &mut results).await;
    }
    status.harbor_project_id =
        status.resources.iter().find(|r| r.kind == "project").and_then(|r| r.id.as_deref()?.parse().ok());
    finish(ctx, hp, api, System::Harbor, &before, status, &results).await
}

/// Deletes the projects nines created, in every platform; in a project it
/// adopted, takes back only the memberships it granted. A project that
/// still holds repositories waits (Harbor's 412), never forced.
async fn cleanup_harbor_project(hp: &HarborProject, ctx: &Ctx) -> Result<Action, Error> {
    if hp.spec.deletion_policy == DeletionPolicy::Orphan {
        let note = "deletionPolicy Orphan: the Harbor projects stay".to_string();
        ctx.event(&hp.object_ref(&()), false, "Orphaned", note).await;
        return Ok(Action::await_change());
    }
    let ns = hp.namespace().unwrap_or_default();
    let status = hp.status.clone().unwrap_or_default();
    remove_everywhere(ctx, hp, &ns, System::Harbor, &status).await?;
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// ArgoCDProject

pub async fn reconcile_argocd_project(ap: Arc<ArgoCDProject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = ap.namespace().unwrap_or_default();
    let api: Api<ArgoCDProject> = Api::namespaced(ctx.client.clone(), &ns);
    let ap = crate::runtime::latest(&api, ap).await?;
    finalizer(&api, TENANT_FINALIZER, ap, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_argocd_project(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_argocd_project(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// The project's destinations: a `server` as given, a `clusterRef` as the
/// API server of that K8sCluster (Argo CD knows a cluster by its server
/// URL; by name only once it is registered).
async fn argocd_destinations(ctx: &Ctx, ns: &str, ap: &ArgoCDProject) -> Result<Vec<Destination>, ProvisionError> {
    let sys = System::ArgoCd;
    let clusters: Api<K8sCluster> = Api::namespaced(ctx.client.clone(), ns);
    let mut out = Vec::new();
    for (i, d) in ap.spec.destinations.iter().enumerate() {
        let server = d.server.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let cluster = d.cluster_ref.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let server = match (server, cluster) {
            (Some(s), None) => s.to_string(),
            (None, Some(c)) => {
                let k = clusters
                    .get_opt(c)
                    .await
                    .map_err(|e| {
                        ProvisionError::new(sys, ErrorKind::Transient, format!("reading K8sCluster {c}: {e}"))
                    })?
                    .ok_or_else(|| {
                        config_error(sys, format!("destinations[{i}].clusterRef: K8sCluster {c:?} not found in {ns}"))
                    })?;
                k.spec.api_server.trim().to_string()
            }
            _ => return Err(config_error(sys, format!("destinations[{i}]: name either server or clusterRef"))),
        };
        out.push(Destination::server(&server, &d.namespace));
    }
    Ok(out)
}

/// One role per role `accessControl` names, bound to its Keycloak groups,
/// with the platform's policies of that role for this project.
fn argocd_roles(ap: &ArgoCDProject, conn: &ArgoConnection, project: &str) -> Result<Vec<RoleWanted>, ProvisionError> {
    let sys = System::ArgoCd;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, a) in ap.spec.access_control.iter().enumerate() {
        let role =
            a.role.as_deref().ok_or_else(|| config_error(sys, format!("accessControl[{i}].role is required")))?;
        if !conn.roles.contains_key(role) {
            let known: Vec<&str> = conn.roles.keys().map(String::as_str).collect();
            return Err(config_error(
                sys,
                format!("accessControl[{i}].role: {role:?} is not a role of the platform ({})", known.join(", ")),
            ));
        }
        let group = a.keycloak_group.trim();
        if group.is_empty() {
            return Err(config_error(sys, format!("accessControl[{i}].keycloakGroup is empty")));
        }
        let list = groups.entry(role.to_string()).or_default();
        if !list.iter().any(|g| g == group) {
            list.push(group.to_string());
        }
    }
    Ok(groups
        .into_iter()
        .map(|(role, groups)| RoleWanted {
            description: format!("{role} of {project}, kept by nines"),
            policies: conn.roles[&role].policies.iter().map(|p| project_policy(p, project)).collect(),
            name: role,
            groups,
        })
        .collect())
}

async fn argocd_in(
    ctx: &Ctx,
    ns: &str,
    ap: &ArgoCDProject,
    p: &str,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sys = System::ArgoCd;
    let sdp = platform(ctx, ns, p, sys).await?;
    let conn = sdp
        .spec
        .argocd
        .as_ref()
        .ok_or_else(|| config_error(sys, format!("SoftwareDeliveryPlatform {p} names no Argo CD")))?;
    let name = ap.spec.project_name.trim();
    let roles = argocd_roles(ap, conn, name)?;
    // the groups nines bound to roles accessControl no longer names: taken back
    let named: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let mut revoke: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in status.resources.iter().filter(|r| {
        r.system == sys.name() && r.sdp == p && r.kind == "binding" && r.created && r.id.as_deref() == Some(name)
    }) {
        if let Some((role, group)) = r.name.split_once(':')
            && !named.contains(&role)
        {
            revoke.entry(role.to_string()).or_default().push(group.to_string());
        }
    }
    let wanted = ProjectSpecWanted {
        name: name.to_string(),
        description: ap.spec.description.trim().to_string(),
        source_repos: ap.spec.source_repos.clone(),
        destinations: argocd_destinations(ctx, ns, ap).await?,
        roles,
        revoke,
    };
    let a = argocd(ctx, ns, conn).await?;
    let (o, found) = a.ensure_project_bindings(&wanted).await?;
    let known = recorded(status, sys, p, "project", name).is_some();
    let created = o == Outcome::Created || created_before(status, sys, p, "project", name, name);
    status.resources.retain(|r| !(r.system == sys.name() && r.sdp == p && r.kind == "project" && r.name != name));
    record(status, present(sys, p, "project", name, name, created));
    // each binding recorded with whether nines granted it (it was not there
    // before nines bound it): only those are ever taken back
    let mut bound = Vec::new();
    for role in &wanted.roles {
        for group in &role.groups {
            let key = format!("{}:{group}", role.name);
            let granted = !found.contains(&(role.name.clone(), group.clone()))
                || created_before(status, sys, p, "binding", &key, name);
            let mut r = present(sys, p, "binding", &key, name, granted);
            r.message = format!("group {group} bound to role {} of project {name}", role.name);
            record(status, r);
            bound.push(key);
        }
    }
    status.resources.retain(|r| {
        !(r.system == sys.name()
            && r.sdp == p
            && r.kind == "binding"
            && (r.id.as_deref() != Some(name) || !bound.contains(&r.name)))
    });
    let origin = if created { "" } else { ", adopted" };
    let what = format!(
        "project {name} with {} role(s) and {} destination(s){origin}",
        wanted.roles.len(),
        wanted.destinations.len()
    );
    Ok((what, settled(o, known)))
}

async fn apply_argocd_project(ap: &ArgoCDProject, ctx: &Ctx, api: &Api<ArgoCDProject>) -> Result<Action, Error> {
    let ns = ap.namespace().unwrap_or_default();
    let before = ap.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let mut results = Vec::new();
    let platforms = named_platforms(System::ArgoCd, &ap.spec.sdp, &mut results);
    if ap.spec.project_name.trim().is_empty() {
        results.push(("-".into(), Err(config_error(System::ArgoCd, "spec.projectName is empty"))));
    } else {
        for p in &platforms {
            let r = argocd_in(ctx, &ns, ap, p, &mut status).await;
            if let Ok((what, o)) = &r {
                told(ctx, ap, p, System::ArgoCd, *o, what).await;
            }
            results.push((p.clone(), r.map(|(what, _)| what)));
        }
    }
    if !platforms.is_empty() {
        let policy = ap.spec.deletion_policy;
        let_go_of_dropped(ctx, ap, &ns, System::ArgoCd, policy, &platforms, &mut status, &mut results).await;
    }
    status.argocd_project_created = status.resources.iter().find(|r| r.kind == "project").map(|r| r.created);
    finish(ctx, ap, api, System::ArgoCd, &before, status, &results).await
}

/// Deletes the projects nines created; Argo CD refuses while applications
/// use one, and nines waits. In a project it adopted, only the role
/// bindings it granted are taken back.
async fn cleanup_argocd_project(ap: &ArgoCDProject, ctx: &Ctx) -> Result<Action, Error> {
    if ap.spec.deletion_policy == DeletionPolicy::Orphan {
        let note = "deletionPolicy Orphan: the Argo CD projects stay".to_string();
        ctx.event(&ap.object_ref(&()), false, "Orphaned", note).await;
        return Ok(Action::await_change());
    }
    let ns = ap.namespace().unwrap_or_default();
    let status = ap.status.clone().unwrap_or_default();
    remove_everywhere(ctx, ap, &ns, System::ArgoCd, &status).await?;
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// GitLabGroup

pub async fn reconcile_gitlab_group(g: Arc<GitLabGroup>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = g.namespace().unwrap_or_default();
    let api: Api<GitLabGroup> = Api::namespaced(ctx.client.clone(), &ns);
    let g = crate::runtime::latest(&api, g).await?;
    finalizer(&api, TENANT_FINALIZER, g, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_gitlab_group(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_gitlab_group(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// The group at `groupPath` in one platform. A nested path needs its
/// parent to exist (another GitLabGroup, an Organization or a person makes
/// it): nines creates the last segment only.
async fn gitlab_in(
    ctx: &Ctx,
    ns: &str,
    g: &GitLabGroup,
    p: &str,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sys = System::GitLab;
    let sdp = platform(ctx, ns, p, sys).await?;
    let conn = sdp
        .spec
        .gitlab
        .as_ref()
        .ok_or_else(|| config_error(sys, format!("SoftwareDeliveryPlatform {p} names no GitLab")))?;
    let path = g.spec.group_path.trim().trim_matches('/');
    let visibility: Visibility = g
        .spec
        .visibility
        .as_deref()
        .unwrap_or("private")
        .parse()
        .map_err(|e: String| config_error(sys, format!("spec.visibility: {e}")))?;
    // the access lists are checked, so that a mistake shows although they are not provisioned
    for (i, a) in g.spec.access_control.iter().enumerate() {
        gitlab_access_level(a.access_level.as_deref().unwrap_or_default())
            .map_err(|e| config_error(sys, format!("accessControl[{i}].accessLevel: {e}")))?;
    }
    for (i, a) in g.spec.organization_access.iter().enumerate() {
        gitlab_access_level(a.access_level.as_deref().unwrap_or_default())
            .map_err(|e| config_error(sys, format!("organizationAccess[{i}].accessLevel: {e}")))?;
    }
    let gl = gitlab(ctx, ns, conn).await?;
    let (parent, leaf) = match path.rsplit_once('/') {
        Some((parent, leaf)) => (Some(parent), leaf),
        None => (None, path),
    };
    let parent_id = match parent {
        Some(pp) => Some(
            gl.group(pp)
                .await?
                .ok_or_else(|| {
                    ProvisionError::new(sys, ErrorKind::Transient, format!("parent group {pp} does not exist yet"))
                })?
                .id,
        ),
        None => None,
    };
    let (group, o) = gl.ensure_group(leaf, leaf, visibility, parent_id).await?;
    let id = group.id.to_string();
    let known = recorded(status, sys, p, "group", path).is_some_and(|r| r.id.as_deref() == Some(id.as_str()));
    let created = o == Outcome::Created || created_before(status, sys, p, "group", path, &id);
    // GitLab keeps no mark of who made a group: one found at the path that
    // is not in the record was there before nines
    let outcome = if !known && o != Outcome::Created { Outcome::Adopted } else { o };
    status.resources.retain(|r| !(r.system == sys.name() && r.sdp == p && r.kind == "group" && r.name != path));
    record(status, present(sys, p, "group", path, &id, created));
    let origin = if created { "" } else { ", adopted" };
    let mut what = format!("group {} ({id}{origin}, {})", group.full_path, group.visibility);
    if !(g.spec.access_control.is_empty() && g.spec.organization_access.is_empty()) {
        let n = gitlab_group_members(ctx, ns, g, &sdp, &gl, group.id, p, status).await?;
        what.push_str(&format!("; {n} member(s) from Keycloak groups"));
    } else {
        status.resources.retain(|r| !(r.system == sys.name() && r.sdp == p && r.kind == "membership"));
    }
    Ok((what, outcome))
}

/// The people of the Keycloak groups `accessControl` names, and of the
/// organizations `organizationAccess` names (their role subgroups, else
/// their group), made members of the GitLab group at the level given: a
/// Keycloak user is the GitLab user of the same username. A person in two
/// lists gets the higher level. Memberships nines granted and no longer
/// wants are taken back; others are never touched. Returns how many.
#[allow(clippy::too_many_arguments)]
async fn gitlab_group_members(
    ctx: &Ctx,
    ns: &str,
    g: &GitLabGroup,
    sdp: &SoftwareDeliveryPlatform,
    gl: &crate::provision::gitlab::GitLabClient,
    group_id: i64,
    p: &str,
    status: &mut TenantStatus,
) -> Result<usize, ProvisionError> {
    let sys = System::GitLab;
    let conn = sdp.spec.keycloak.as_ref().ok_or_else(|| {
        config_error(
            sys,
            format!("accessControl and organizationAccess need a Keycloak in SoftwareDeliveryPlatform {p}"),
        )
    })?;
    let kc = crate::tenant::keycloak(ctx, ns, conn).await?;
    // Keycloak group path -> access level
    let mut sources: Vec<(String, u32)> = Vec::new();
    for a in &g.spec.access_control {
        let level =
            gitlab_access_level(a.access_level.as_deref().unwrap_or_default()).map_err(|e| config_error(sys, e))?;
        sources.push((format!("/{}", a.keycloak_group.trim().trim_matches('/')), level));
    }
    for (i, org) in organizations_in(ctx, ns, sys, &g.spec.organization_access, p).await? {
        let level = gitlab_access_level(g.spec.organization_access[i].access_level.as_deref().unwrap_or_default())
            .map_err(|e| config_error(sys, e))?;
        let top = org_group_name(&org);
        for name in organization_groups(&org, sdp) {
            let path = if name == top { format!("/{top}") } else { format!("/{top}/{name}") };
            sources.push((path, level));
        }
    }
    // username -> level
    let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
    for (path, level) in &sources {
        let kg = kc.group_by_path(path).await?.ok_or_else(|| {
            ProvisionError::new(
                System::Keycloak,
                ErrorKind::Transient,
                format!("Keycloak group {path} does not exist yet"),
            )
        })?;
        for u in kc.group_members(&kg.id).await? {
            let e = wanted.entry(u.username).or_insert(0);
            *e = (*e).max(*level);
        }
    }
    let gid = group_id.to_string();
    let mut keep = Vec::new();
    for (username, level) in &wanted {
        let Some(user) = gl.find_user(Some(username), None).await? else {
            // not in GitLab (yet): nothing to grant
            continue;
        };
        let name = format!("{}:{username}", g.spec.group_path.trim().trim_matches('/'));
        let o = gl.ensure_member(group_id, user.id, *level).await?;
        let created = o == Outcome::Created || created_before(status, sys, p, "membership", &name, &gid);
        let mut r = present(sys, p, "membership", &name, &gid, created);
        r.message = format!("user {username} at access level {level}");
        record(status, r);
        keep.push(name);
    }
    let stale: Vec<ProvisionedResource> = status
        .resources
        .iter()
        .filter(|r| r.system == sys.name() && r.sdp == p && r.kind == "membership" && !keep.contains(&r.name))
        .cloned()
        .collect();
    for r in stale {
        if r.created
            && let Some(username) = r.name.rsplit_once(':').map(|(_, u)| u)
            && let Some(user) = gl.find_user(Some(username), None).await?
        {
            gl.remove_member(group_id, user.id).await?;
        }
        status.resources.retain(|x| !(x.system == r.system && x.sdp == r.sdp && x.kind == r.kind && x.name == r.name));
    }
    Ok(keep.len())
}

async fn apply_gitlab_group(g: &GitLabGroup, ctx: &Ctx, api: &Api<GitLabGroup>) -> Result<Action, Error> {
    let ns = g.namespace().unwrap_or_default();
    let before = g.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let mut results = Vec::new();
    let platforms = named_platforms(System::GitLab, &g.spec.sdp, &mut results);
    if g.spec.group_path.trim().trim_matches('/').is_empty() {
        results.push(("-".into(), Err(config_error(System::GitLab, "spec.groupPath is empty"))));
    } else {
        for p in &platforms {
            let r = gitlab_in(ctx, &ns, g, p, &mut status).await;
            if let Ok((what, o)) = &r {
                told(ctx, g, p, System::GitLab, *o, what).await;
            }
            results.push((p.clone(), r.map(|(what, _)| what)));
        }
    }
    if !platforms.is_empty() {
        let policy = g.spec.deletion_policy;
        let_go_of_dropped(ctx, g, &ns, System::GitLab, policy, &platforms, &mut status, &mut results).await;
    }
    status.gitlab_group_id =
        status.resources.iter().find(|r| r.kind == "group").and_then(|r| r.id.as_deref()?.parse().ok());
    finish(ctx, g, api, System::GitLab, &before, status, &results).await
}

/// Deletes the groups nines created (with what they hold: GitLab's own
/// semantics; with delayed deletion only marked, the Event says until when).
async fn cleanup_gitlab_group(g: &GitLabGroup, ctx: &Ctx) -> Result<Action, Error> {
    if g.spec.deletion_policy == DeletionPolicy::Orphan {
        let note = "deletionPolicy Orphan: the GitLab groups stay".to_string();
        ctx.event(&g.object_ref(&()), false, "Orphaned", note).await;
        return Ok(Action::await_change());
    }
    let ns = g.namespace().unwrap_or_default();
    let status = g.status.clone().unwrap_or_default();
    remove_everywhere(ctx, g, &ns, System::GitLab, &status).await?;
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// ContactGroup (its controller lives in tenant.rs)

// ---------------------------------------------------------------------------
// K8sCluster

pub async fn reconcile_k8s_cluster(k: Arc<K8sCluster>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = k.namespace().unwrap_or_default();
    let api: Api<K8sCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let k = crate::runtime::latest(&api, k).await?;
    finalizer(&api, TENANT_FINALIZER, k, |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply_k8s_cluster(&o, &ctx, &api).await,
            FinalizerEvent::Cleanup(o) => cleanup_k8s_cluster(&o, &ctx).await,
        }
    })
    .await
    .map_err(unwrap_finalizer)
}

/// The service-account token the cluster is reached with, read now from
/// its Secret (so a rotated token is taken up on the next pass).
async fn cluster_token(ctx: &Ctx, ns: &str, k: &K8sCluster) -> Result<String, ProvisionError> {
    let sys = System::ArgoCd;
    let auth = &k.spec.authentication;
    let Some(sa) = &auth.service_account_token else {
        let why = if auth.kubeconfig.is_some() {
            "authentication.kubeconfig is not supported for Argo CD registration: use serviceAccountToken"
        } else {
            "authentication.serviceAccountToken is required"
        };
        return Err(config_error(sys, why));
    };
    let r = &sa.secret_ref;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = secrets
        .get_opt(&r.name)
        .await
        .map_err(|e| ProvisionError::new(sys, ErrorKind::Transient, format!("reading Secret {}: {e}", r.name)))?
        .ok_or_else(|| config_error(sys, format!("Secret {} not found in namespace {ns}", r.name)))?;
    secret_entry(&secret, Some(&r.key), "token").map_err(|e| config_error(sys, e))
}

/// The cluster registered in the platform's Argo CD under the object's
/// name at its API server.
async fn cluster_in(
    ctx: &Ctx,
    ns: &str,
    k: &K8sCluster,
    p: &str,
    conn: &ArgoConnection,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sys = System::ArgoCd;
    let server = k.spec.api_server.trim();
    if server.is_empty() {
        return Err(config_error(sys, "spec.apiServer is empty"));
    }
    let token = cluster_token(ctx, ns, k).await?;
    let a = argocd(ctx, ns, conn).await?;
    let ca = k.spec.ca_certificate.as_deref().filter(|c| !c.trim().is_empty());
    let name = k.name_any();
    let o = a.ensure_cluster(&name, server, &token, ca).await?;
    let known = recorded(status, sys, p, "cluster", server).is_some();
    let created = o == Outcome::Created || created_before(status, sys, p, "cluster", server, server);
    // a moved API server: what nines registered at the old one goes
    let moved: Vec<ProvisionedResource> = status
        .resources
        .iter()
        .filter(|r| r.system == sys.name() && r.sdp == p && r.kind == "cluster" && r.name != server)
        .cloned()
        .collect();
    for r in moved {
        if r.created {
            a.delete_cluster(&r.name).await?;
        }
        status.resources.retain(|x| !(x.system == sys.name() && x.sdp == p && x.kind == "cluster" && x.name == r.name));
    }
    let mut r = present(sys, p, "cluster", server, server, created);
    r.message = format!("registered as {name}");
    record(status, r);
    let origin = if created { "" } else { ", adopted" };
    Ok((format!("cluster {name} at {server}{origin}"), settled(o, known)))
}

/// A failed call to nines' API, as a provisioning failure of system Nines.
fn nines_error(what: &str, e: ApiError) -> ProvisionError {
    let kind = match &e {
        ApiError::Api { status: 401 | 403, .. } => ErrorKind::Unauthorized,
        e if e.is_transient() => ErrorKind::Transient,
        _ => ErrorKind::Refused,
    };
    ProvisionError::new(System::Nines, kind, format!("{what}: {e}"))
}

/// Records that the cluster is not registered with nines, and why.
fn nines_skipped(status: &mut TenantStatus, name: &str, why: String) {
    let mut r = present(System::Nines, "", "cluster", name, "", false);
    r.id = None;
    r.state = "Skipped".into();
    r.message = why;
    record(status, r);
}

/// The cluster registered with nines as `<workspace>/<name>`, through the
/// operator's API client. The API keeps one cluster per workspace and
/// answers a registration in a taken workspace with the cluster it holds
/// (overwriting its API server URL), so the clusters are listed first
/// ([`nines_cluster_step`]): in sync, that list is the only call.
async fn nines_in(
    api: &NinesClient,
    k: &K8sCluster,
    ws: &str,
    status: &mut TenantStatus,
) -> Result<(String, Outcome), ProvisionError> {
    let sys = System::Nines;
    let name = k.name_any();
    let node_id = format!("{ws}/{name}");
    let server = Some(k.spec.api_server.trim()).filter(|s| !s.is_empty());
    let clusters = api.list_clusters().await.map_err(|e| nines_error("listing the clusters", e))?;
    let existing = clusters.into_iter().find(|c| c.workspace == ws);
    let prior = recorded(status, sys, "", "cluster", &node_id).cloned();
    let step = nines_cluster_step(
        existing.as_ref().map(|c| (c.name.as_deref().unwrap_or_default(), c.api_server_url.as_deref())),
        &name,
        server,
    );
    let (id, outcome) = match (step, existing) {
        (NinesClusterStep::Taken { name: other }, _) => {
            return Err(config_error(
                sys,
                format!("workspace {ws} has the cluster {other} in nines already (one cluster per workspace)"),
            ));
        }
        (NinesClusterStep::InSync, Some(c)) => {
            (c.id.unwrap_or_default(), if prior.is_some() { Outcome::Unchanged } else { Outcome::Adopted })
        }
        _ => {
            let req = ClusterRegistration {
                workspace: ws.to_string(),
                cluster_name: Some(name.clone()),
                api_server_url: server.map(str::to_string),
                kubernetes_version: None,
            };
            let r = api.register_cluster(&req).await.map_err(|e| nines_error(&format!("registering {node_id}"), e))?;
            if !r.registered || r.name.as_deref() != Some(name.as_str()) {
                // registered by someone else meanwhile: the next pass says whom
                return Err(ProvisionError::new(
                    sys,
                    ErrorKind::Transient,
                    format!("registering {node_id}: the API answered with cluster {:?}", r.name),
                ));
            }
            let o = if r.created {
                Outcome::Created
            } else if prior.is_some() {
                Outcome::Updated
            } else {
                Outcome::Adopted
            };
            (r.id.unwrap_or_default(), o)
        }
    };
    let created = outcome == Outcome::Created || prior.is_some_and(|r| r.created);
    // a `Skipped` note goes; a former registration whose removal failed stays to be retried
    status.resources.retain(|r| r.system != sys.name() || r.name == node_id || r.state != "Skipped");
    let mut r = present(sys, "", "cluster", &node_id, &id, created);
    r.message = match server {
        Some(s) => format!("workspace {ws}, API server {s}"),
        None => format!("workspace {ws}"),
    };
    record(status, r);
    let origin = if created { "" } else { ", adopted" };
    Ok((format!("cluster {node_id} ({id}{origin})"), outcome))
}

/// The nines part of a K8sCluster: registered in `spec.workspace` when the
/// operator has nines' API; else a `Skipped` record says why. `None`
/// leaves the `NinesReady` condition as it is (API sync not resolved yet:
/// what was registered before is not forgotten for that).
async fn register_with_nines(ctx: &Ctx, k: &K8sCluster, status: &mut TenantStatus) -> Option<Vec<PlatformResult>> {
    let sys = System::Nines;
    let name = k.name_any();
    let sync = ctx.sync.borrow().clone();
    let Some(sync) = sync else {
        if status.resources.iter().any(|r| r.system == sys.name() && r.state != "Skipped") {
            return None;
        }
        let why = "the operator has no nines API sync (OperatorConfig api_sync off or not resolved yet)";
        nines_skipped(status, &name, why.into());
        return Some(vec![]);
    };
    let own = format!("{}/{}/{}", sync.node.organization, sync.node.platform, sync.node.environment);
    let ws = match k8s_cluster_workspace(k.spec.workspace.as_deref(), &name, &own) {
        Ok(Some(ws)) => ws,
        Ok(None) => {
            if let Err(e) = let_go_of_nines(ctx, k, Some(&sync.api), status, None).await {
                return Some(vec![("-".into(), Err(e))]);
            }
            nines_skipped(status, &name, "spec.workspace is not set: not registered with nines".into());
            return Some(vec![]);
        }
        Err(why) => return Some(vec![("-".into(), Err(config_error(sys, why)))]),
    };
    // a registration in the workspace the spec named before goes; failing
    // that does not keep the cluster out of its new workspace
    let mut results = Vec::new();
    if let Err(e) = let_go_of_nines(ctx, k, Some(&sync.api), status, Some(&format!("{ws}/{name}"))).await {
        results.push(("-".into(), Err(e)));
    }
    let r = nines_in(&sync.api, k, &ws, status).await;
    if let Ok((what, o)) = &r {
        told(ctx, k, &ws, sys, *o, what).await;
    }
    results.push((ws, r.map(|(what, _)| what)));
    Some(results)
}

/// Lets go of the nines records other than `keep` (the workspace changed or
/// was unset, or the object is deleted): a registration nines made is
/// removed through `api` (one already gone is fine), one it adopted stays;
/// either way its record goes. A removal that fails keeps its record and
/// ends the pass with that failure (retried). Without `api` (no API sync)
/// what nines made cannot be removed: that is a failure too, not a
/// forgetting.
async fn let_go_of_nines(
    ctx: &Ctx,
    k: &K8sCluster,
    api: Option<&NinesClient>,
    status: &mut TenantStatus,
    keep: Option<&str>,
) -> Result<(), ProvisionError> {
    let sys = System::Nines;
    let gone: Vec<ProvisionedResource> =
        status.resources.iter().filter(|r| r.system == sys.name() && Some(r.name.as_str()) != keep).cloned().collect();
    for r in gone {
        let id = r.id.as_deref().filter(|id| !id.is_empty());
        match id {
            Some(id) if r.created && r.state != "Skipped" => {
                let Some(api) = api else {
                    let why = format!("removing {}: the operator has no nines API sync", r.name);
                    return Err(ProvisionError::new(sys, ErrorKind::Transient, why));
                };
                let removed =
                    api.delete_cluster(id).await.map_err(|e| nines_error(&format!("removing {}", r.name), e))?;
                let note = if removed {
                    format!("nines: cluster {} ({id}) removed", r.name)
                } else {
                    format!("nines: cluster {} ({id}) was already gone", r.name)
                };
                ctx.event(&k.object_ref(&()), false, "Deleted", note).await;
            }
            _ if r.state != "Skipped" => {
                let note = format!("nines: cluster {} was adopted: left in place", r.name);
                ctx.event(&k.object_ref(&()), false, "Orphaned", note).await;
            }
            _ => {}
        }
        status.resources.retain(|x| !(x.system == sys.name() && x.name == r.name));
    }
    Ok(())
}

async fn apply_k8s_cluster(k: &K8sCluster, ctx: &Ctx, api: &Api<K8sCluster>) -> Result<Action, Error> {
    let ns = k.namespace().unwrap_or_default();
    let before = k.status.clone().unwrap_or_default();
    let mut status = before.clone();
    let p = k.spec.sdp.trim().to_string();
    let mut results = Vec::new();
    if !p.is_empty() {
        match platform(ctx, &ns, &p, System::ArgoCd).await {
            Err(e) => results.push((p.clone(), Err(e))),
            // a platform without Argo CD: nothing to register the cluster in
            Ok(sdp) => {
                if let Some(conn) = &sdp.spec.argocd {
                    let r = cluster_in(ctx, &ns, k, &p, conn, &mut status).await;
                    if let Ok((what, o)) = &r {
                        told(ctx, k, &p, System::ArgoCd, *o, what).await;
                    }
                    results.push((p.clone(), r.map(|(what, _)| what)));
                }
            }
        }
    } else if k.spec.workspace.as_deref().is_none_or(|w| w.trim().is_empty()) {
        let why = "spec.sdp names no SoftwareDeliveryPlatform and spec.workspace no nines workspace: \
                   the cluster is registered nowhere";
        results.push(("-".into(), Err(config_error(System::ArgoCd, why))));
    }
    // a platform no longer named: the registration nines made in its Argo CD goes
    let named: Vec<String> = [p.clone()].into_iter().filter(|p| !p.is_empty()).collect();
    let_go_of_dropped(ctx, k, &ns, System::ArgoCd, DeletionPolicy::Delete, &named, &mut status, &mut results).await;
    let nines = register_with_nines(ctx, k, &mut status).await;
    let parts = [(System::ArgoCd, Some(results.as_slice())), (System::Nines, nines.as_deref())];
    finish_systems(ctx, k, api, &before, status, &parts).await
}

/// Removes the registrations nines made in Argo CD and with nines; one it
/// adopted stays. A K8sCluster has no `deletionPolicy`: what nines
/// registered goes with it. Without the operator's API sync the nines
/// registration cannot be removed, and the deletion waits (retried) as an
/// Endpoint's does.
async fn cleanup_k8s_cluster(k: &K8sCluster, ctx: &Ctx) -> Result<Action, Error> {
    let ns = k.namespace().unwrap_or_default();
    let mut status = k.status.clone().unwrap_or_default();
    remove_everywhere(ctx, k, &ns, System::ArgoCd, &status).await?;
    let sync = ctx.sync.borrow().clone();
    let_go_of_nines(ctx, k, sync.as_ref().map(|s| &s.api), &mut status, None).await?;
    Ok(Action::await_change())
}

// ---------------------------------------------------------------------------
// Running

/// The controllers of the standalone kinds, until `stop`. An ArgoCDProject
/// is reconciled again when a K8sCluster of its namespace changes (its
/// `clusterRef` destinations follow the cluster's API server).
pub async fn run_standalone(ctx: Arc<Ctx>, stop: tokio::sync::watch::Receiver<bool>) {
    use crate::runtime::{ctrl_all, run_ctrl};
    use kube::runtime::reflector::ObjectRef;
    use kube::runtime::watcher;
    let client = ctx.client.clone();
    let projects = ctrl_all::<ArgoCDProject>(&client);
    let store = projects.store();
    let projects = projects.watches(Api::<K8sCluster>::all(client.clone()), watcher::Config::default(), move |k| {
        let ns = k.namespace();
        let name = k.name_any();
        store
            .state()
            .into_iter()
            .filter(|p| {
                p.namespace() == ns && p.spec.destinations.iter().any(|d| d.cluster_ref.as_deref() == Some(&name))
            })
            .map(|p| ObjectRef::from_obj(&*p))
            .collect::<Vec<_>>()
    });
    tokio::join!(
        run_ctrl(ctrl_all::<HarborProject>(&client), reconcile_harbor_project, &ctx, &stop, "harborproject"),
        run_ctrl(projects, reconcile_argocd_project, &ctx, &stop, "argocdproject"),
        run_ctrl(ctrl_all::<GitLabGroup>(&client), reconcile_gitlab_group, &ctx, &stop, "gitlabgroup"),
        run_ctrl(ctrl_all::<K8sCluster>(&client), reconcile_k8s_cluster, &ctx, &stop, "k8scluster"),
    );
}
