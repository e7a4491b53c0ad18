//! Reconcile decisions as pure functions: given what was observed and what
//! CRs exist, what to create, patch or delete; when to add or remove the
//! cleanup finalizer; when to sync to the API; how long to back off. The
//! controllers execute these decisions and nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::crd::{Condition, LocalClusterConfig, LocalClusterStatus};

/// First retry delay after an error.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// 5 s, 10 s, 20 s, 40 s, then 60 s for every further consecutive failure.
pub fn backoff(consecutive_failures: u32) -> Duration {
    let n = consecutive_failures.saturating_sub(1).min(16);
    (BACKOFF_BASE * 2u32.pow(n)).min(BACKOFF_MAX)
}

/// What the finalizer protocol asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerStep {
    /// Not deleting and no finalizer yet: add it before talking to the API.
    Add,
    /// Not deleting, finalizer present: do the normal work.
    Apply,
    /// Deleting with our finalizer: delete the API object, then remove the finalizer.
    Cleanup,
    /// Deleting without our finalizer: nothing left to do.
    Done,
}

pub fn finalizer_step(has_finalizer: bool, deleting: bool) -> FinalizerStep {
    match (deleting, has_finalizer) {
        (false, false) => FinalizerStep::Add,
        (false, true) => FinalizerStep::Apply,
        (true, true) => FinalizerStep::Cleanup,
        (true, false) => FinalizerStep::Done,
    }
}

/// Should a CR be sent to the API again? When its spec hash changed, when
/// it never synced, or when the last sync is older than `resync`.
pub fn needs_sync(
    hash: &str,
    synced_hash: Option<&str>,
    last_synced: Option<Timestamp>,
    now: Timestamp,
    resync: SignedDuration,
) -> bool {
    synced_hash != Some(hash) || last_synced.is_none_or(|t| now.duration_since(t) >= resync)
}

/// One change to the discovered CRs of a source object.
#[derive(Debug, Clone, PartialEq)]
pub enum MirrorAction<S> {
    Create {
        name: String,
        spec: S,
    },
    Patch {
        name: String,
        spec: S,
    },
    Delete {
        name: String,
    },
    /// The name is taken by a CR from another source; left alone, reported as an Event.
    Conflict {
        name: String,
        owner: String,
    },
}

/// An existing discovered CR: its spec and the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing<S> {
    pub spec: S,
    pub source: String,
}

/// Bring the CRs of `source` to `desired`: create what is missing, patch
/// what differs, delete what `source` owns but no longer wants. CRs of
/// other sources are never touched.
pub fn plan_mirror<S: Clone + PartialEq>(
    source: &str,
    desired: &[(String, S)],
    existing: &BTreeMap<String, Existing<S>>,
) -> Vec<MirrorAction<S>> {
    let mut out = Vec::new();
    for (name, spec) in desired {
        match existing.get(name) {
            None => out.push(MirrorAction::Create { name: name.clone(), spec: spec.clone() }),
            Some(e) if e.source != source => {
                out.push(MirrorAction::Conflict { name: name.clone(), owner: e.source.clone() })
            }
            Some(e) if e.spec != *spec => out.push(MirrorAction::Patch { name: name.clone(), spec: spec.clone() }),
            Some(_) => {}
        }
    }
    for (name, e) in existing {
        if e.source == source && !desired.iter().any(|(n, _)| n == name) {
            out.push(MirrorAction::Delete { name: name.clone() });
        }
    }
    out
}

/// What the ConfigMap controller does about the services of one ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan<T> {
    /// Registered before applying (the union of old and new), so that a
    /// crash after the apply still knows what to delete; `None`: unchanged.
    pub remember_first: Option<Vec<T>>,
    /// Registered before and declared no more: to delete from the API.
    pub withdraw: Vec<T>,
    /// Registered at the end (what is declared now); `None`: unchanged.
    pub remember_last: Option<Vec<T>>,
}

/// Plan the registration of a ConfigMap's services: `registered` from its
/// annotation, `declared` by its document now (both sorted, no duplicates).
pub fn plan_services<T: Clone + Ord>(registered: &[T], declared: &[T]) -> ServicePlan<T> {
    let mut union: Vec<T> = registered.iter().chain(declared).cloned().collect();
    union.sort();
    union.dedup();
    let withdraw: Vec<T> = registered.iter().filter(|r| !declared.contains(r)).cloned().collect();
    ServicePlan {
        remember_first: (union.as_slice() != registered).then(|| union.clone()),
        withdraw,
        remember_last: (union.as_slice() != declared).then(|| declared.to_vec()),
    }
}

/// Artifact CRs to change, given the images in use now.
#[derive(Debug, Clone, PartialEq)]
pub enum ArtifactAction {
    /// Image in use: create or refresh the CR and its usage.
    Upsert { name: String },
    /// No pod uses it any more: record zero pods (starts the stale clock).
    MarkUnused { name: String },
    /// Unused for longer than the threshold: remove the CR (the API object is kept).
    Delete { name: String },
}

/// `existing`: CR name → (pods last counted, last time a pod used it).
pub fn plan_artifacts(
    in_use: &[String],
    existing: &BTreeMap<String, (i64, Option<Timestamp>)>,
    now: Timestamp,
    cleanup: bool,
    stale_after: SignedDuration,
) -> Vec<ArtifactAction> {
    let mut out: Vec<ArtifactAction> = in_use.iter().map(|n| ArtifactAction::Upsert { name: n.clone() }).collect();
    for (name, (pods, last_seen)) in existing {
        if in_use.contains(name) {
            continue;
        }
        let stale = last_seen.is_none_or(|t| now.duration_since(t) >= stale_after);
        if cleanup && *pods == 0 && stale {
            out.push(ArtifactAction::Delete { name: name.clone() });
        } else if *pods != 0 {
            out.push(ArtifactAction::MarkUnused { name: name.clone() });
        }
    }
    out
}

/// What to do about registering the local cluster (seed: local cluster
/// registration): once the status holds a node, nothing; otherwise
/// register under `cluster_name`, and the API decides whether it already
/// had one (its answer wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterRegistration {
    Disabled,
    AlreadyRegistered { node_id: String },
    NoName,
    Register { name: String },
}

pub fn cluster_registration(spec: &LocalClusterConfig, status: Option<&LocalClusterStatus>) -> ClusterRegistration {
    if !spec.enabled {
        return ClusterRegistration::Disabled;
    }
    if let Some(node_id) = status.and_then(|s| s.node_id.clone()) {
        return ClusterRegistration::AlreadyRegistered { node_id };
    }
    match spec.cluster_name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => ClusterRegistration::Register { name: n.to_string() },
        None => ClusterRegistration::NoName,
    }
}

/// The nines workspace a K8sCluster is registered in: `spec.workspace`
/// (`organization/platform/environment`), each segment a valid name, and
/// the object's name a valid cluster name. `Ok(None)` when the spec names
/// no workspace (the cluster is then not registered with nines). The
/// operator's own workspace (`own`) is refused: a workspace has one
/// cluster, and that one is the cluster the operator runs in (the local
/// cluster registration would otherwise take the K8sCluster's for its own).
pub fn k8s_cluster_workspace(workspace: Option<&str>, name: &str, own: &str) -> Result<Option<String>, String> {
    let Some(ws) = workspace.map(|w| w.trim().trim_matches('/')).filter(|w| !w.is_empty()) else {
        return Ok(None);
    };
    let parts: Vec<&str> = ws.split('/').collect();
    if parts.len() != 3 {
        return Err(format!(
            "spec.workspace: expected organization/platform/environment (3 segments), got {} in {ws:?}",
            parts.len()
        ));
    }
    for (what, p) in ["organization", "platform", "environment"].iter().zip(&parts) {
        nines_core::check_name(p).map_err(|r| format!("spec.workspace: {what} segment {p:?}: {r}"))?;
    }
    nines_core::check_name(name).map_err(|r| format!("metadata.name {name:?} as a nines cluster name: {r}"))?;
    if ws == own.trim_matches('/') {
        return Err(format!(
            "spec.workspace: {ws} is the operator's own workspace, whose one cluster is the cluster the operator runs in"
        ));
    }
    Ok(Some(ws.to_string()))
}

/// What registering a K8sCluster with nines asks for, given the cluster
/// the API lists for its workspace (name and API server URL). The API keeps
/// one cluster per workspace, and a registration in a workspace that has
/// one returns that one and overwrites its API server URL: so nines looks
/// first and registers only where the workspace is free or holds this
/// cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NinesClusterStep {
    /// The workspace's cluster is this one, at this API server: no write.
    InSync,
    /// Register: a new cluster, or this one at a moved API server.
    Register,
    /// The workspace holds another cluster: it is left alone.
    Taken { name: String },
}

/// `api_server` None: the spec names none, and the API keeps what it has.
pub fn nines_cluster_step(
    existing: Option<(&str, Option<&str>)>,
    name: &str,
    api_server: Option<&str>,
) -> NinesClusterStep {
    match existing {
        None => NinesClusterStep::Register,
        Some((n, _)) if n != name => NinesClusterStep::Taken { name: n.to_string() },
        Some((_, url)) if api_server.is_none() || url == api_server => NinesClusterStep::InSync,
        Some(_) => NinesClusterStep::Register,
    }
}

/// Set a condition the way the API conventions ask: `lastTransitionTime`
/// moves only when `status` changes.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: Timestamp) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(c) => {
            new.last_transition_time =
                if c.status == new.status { c.last_transition_time.clone() } else { now.to_string() };
            *c = new;
        }
        None => {
            new.last_transition_time = now.to_string();
            conditions.push(new);
        }
    }
}

/// A `Ready` condition.
pub fn ready_condition(ok: bool, reason: &str, message: impl Into<String>, generation: Option<i64>) -> Condition {
    Condition {
        type_: "Ready".into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: String::new(),
        observed_generation: generation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_services_are_remembered_before_and_withdrawn_after() {
        // first apply: remember the new services before, nothing to delete, nothing to rewrite after
        let p = plan_services::<&str>(&[], &["a", "b"]);
        assert_eq!(p, ServicePlan { remember_first: Some(vec!["a", "b"]), withdraw: vec![], remember_last: None });
        // unchanged: nothing at all
        let p = plan_services(&["a", "b"], &["a", "b"]);
        assert_eq!(p, ServicePlan { remember_first: None, withdraw: vec![], remember_last: None });
        // one removed: delete it, then remember the rest
        let p = plan_services(&["a", "b"], &["a"]);
        assert_eq!(p, ServicePlan { remember_first: None, withdraw: vec!["b"], remember_last: Some(vec!["a"]) });
        // one replaced: remember both first, delete the old, remember the new
        let p = plan_services(&["a", "b"], &["a", "c"]);
        assert_eq!(p.remember_first, Some(vec!["a", "b", "c"]));
        assert_eq!(p.withdraw, vec!["b"]);
        assert_eq!(p.remember_last, Some(vec!["a", "c"]));
        // everything removed
        let p = plan_services(&["a"], &[]);
        assert_eq!(p, ServicePlan { remember_first: None, withdraw: vec!["a"], remember_last: Some(vec![]) });
    }

    #[test]
    fn backoff_doubles_from_5s_to_60s() {
        let got: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(got, [5, 10, 20, 40, 60, 60, 60]);
        assert_eq!(backoff(0).as_secs(), 5);
        assert_eq!(backoff(u32::MAX).as_secs(), 60);
    }

    #[test]
    fn finalizer_table() {
        let rows = [
            (false, false, FinalizerStep::Add),
            (true, false, FinalizerStep::Apply),
            (true, true, FinalizerStep::Cleanup),
            (false, true, FinalizerStep::Done),
        ];
        for (has, deleting, want) in rows {
            assert_eq!(finalizer_step(has, deleting), want);
        }
    }

    #[test]
    fn sync_when_hash_changes_or_resync_is_due() {
        let now: Timestamp = "2025-01-01T01:00:00Z".parse().unwrap();
        let r = SignedDuration::from_mins(10);
        let ago = |m: i64| Some(now - SignedDuration::from_mins(m));
        assert!(needs_sync("a", None, None, now, r));
        assert!(needs_sync("a", Some("b"), ago(1), now, r));
        assert!(!needs_sync("a", Some("a"), ago(1), now, r));
        assert!(needs_sync("a", Some("a"), ago(10), now, r));
    }

    #[test]
    fn mirror_plan() {
        let ex = |spec: i32, src: &str| Existing { spec, source: src.to_string() };
        let existing = BTreeMap::from([
            ("same".to_string(), ex(1, "ing")),
            ("changed".to_string(), ex(1, "ing")),
            ("gone".to_string(), ex(1, "ing")),
            ("taken".to_string(), ex(1, "other")),
            ("unrelated".to_string(), ex(1, "other")),
        ]);
        let desired =
            vec![("same".to_string(), 1), ("changed".to_string(), 2), ("new".to_string(), 3), ("taken".to_string(), 4)];
        let plan = plan_mirror("ing", &desired, &existing);
        assert_eq!(
            plan,
            vec![
                MirrorAction::Patch { name: "changed".into(), spec: 2 },
                MirrorAction::Create { name: "new".into(), spec: 3 },
                MirrorAction::Conflict { name: "taken".into(), owner: "other".into() },
                MirrorAction::Delete { name: "gone".into() },
            ]
        );
        // applying the same desired state to its own result changes nothing
        let after: BTreeMap<String, Existing<i32>> = desired
            .iter()
            .filter(|(n, _)| n != "taken")
            .map(|(n, s)| (n.clone(), ex(*s, "ing")))
            .chain([("taken".to_string(), ex(1, "other"))])
            .collect();
        assert_eq!(
            plan_mirror("ing", &desired, &after),
            vec![MirrorAction::Conflict { name: "taken".into(), owner: "other".into() }]
        );
        // a skipped Ingress deletes its endpoints
        assert_eq!(plan_mirror::<i32>("ing", &[], &after).len(), 3,);
    }

    #[test]
    fn artifact_plan_keeps_unused_images_for_an_hour() {
        let now: Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        let ago = |m: i64| Some(now - SignedDuration::from_mins(m));
        let existing = BTreeMap::from([
            ("running".to_string(), (2, ago(0))),
            ("just-stopped".to_string(), (1, ago(1))),
            ("idle-30m".to_string(), (0, ago(30))),
            ("idle-2h".to_string(), (0, ago(120))),
        ]);
        let hour = SignedDuration::from_hours(1);
        let plan = plan_artifacts(&["running".into(), "new".into()], &existing, now, true, hour);
        assert_eq!(
            plan,
            vec![
                ArtifactAction::Upsert { name: "running".into() },
                ArtifactAction::Upsert { name: "new".into() },
                ArtifactAction::Delete { name: "idle-2h".into() },
                ArtifactAction::MarkUnused { name: "just-stopped".into() },
            ]
        );
        let no_cleanup = plan_artifacts(&[], &existing, now, false, hour);
        assert!(!no_cleanup.iter().any(|a| matches!(a, ArtifactAction::Delete { .. })));
    }

    #[test]
    fn local_cluster_rules() {
        let spec = |enabled, name: Option<&str>| LocalClusterConfig { enabled, cluster_name: name.map(String::from) };
        let done = LocalClusterStatus { node_id: Some("a/b/c/d".into()), created: false, registered_at: None };
        assert_eq!(cluster_registration(&spec(false, Some("x")), None), ClusterRegistration::Disabled);
        assert_eq!(
            cluster_registration(&spec(true, Some("x")), Some(&done)),
            ClusterRegistration::AlreadyRegistered { node_id: "a/b/c/d".into() }
        );
        assert_eq!(
            cluster_registration(&spec(true, Some("x")), None),
            ClusterRegistration::Register { name: "x".into() }
        );
        assert_eq!(cluster_registration(&spec(true, Some(" ")), None), ClusterRegistration::NoName);
        assert_eq!(cluster_registration(&spec(true, None), None), ClusterRegistration::NoName);
    }

    #[test]
    fn k8s_cluster_workspaces() {
        let own = "acme/k8s/test";
        assert_eq!(k8s_cluster_workspace(None, "prod", own), Ok(None));
        assert_eq!(k8s_cluster_workspace(Some(" "), "prod", own), Ok(None));
        assert_eq!(k8s_cluster_workspace(Some("acme/k8s/prod/"), "prod", own), Ok(Some("acme/k8s/prod".into())));
        assert_eq!(
            k8s_cluster_workspace(Some("acme/prod"), "prod", own),
            Err("spec.workspace: expected organization/platform/environment (3 segments), got 2 in \"acme/prod\""
                .into())
        );
        assert!(k8s_cluster_workspace(Some("acme/k 8s/prod"), "prod", own).unwrap_err().contains("platform segment"));
        assert!(k8s_cluster_workspace(Some("acme/k8s/test"), "prod", own).unwrap_err().contains("operator's own"));
    }

    #[test]
    fn nines_cluster_steps() {
        let url = Some("https://api.prod:6443");
        assert_eq!(nines_cluster_step(None, "prod", url), NinesClusterStep::Register);
        assert_eq!(nines_cluster_step(None, "prod", None), NinesClusterStep::Register);
        assert_eq!(nines_cluster_step(Some(("prod", url)), "prod", url), NinesClusterStep::InSync);
        assert_eq!(nines_cluster_step(Some(("prod", None)), "prod", url), NinesClusterStep::Register);
        assert_eq!(nines_cluster_step(Some(("prod", Some("https://old"))), "prod", url), NinesClusterStep::Register);
        assert_eq!(nines_cluster_step(Some(("prod", Some("https://old"))), "prod", None), NinesClusterStep::InSync);
        assert_eq!(
            nines_cluster_step(Some(("local", url)), "prod", url),
            NinesClusterStep::Taken { name: "local".into() }
        );
    }

    #[test]
    fn conditions_keep_their_transition_time() {
        let t1: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let t2: Timestamp = "2025-01-01T00:05:00Z".parse().unwrap();
        let mut cs = Vec::new();
        set_condition(&mut cs, ready_condition(true, "Synced", "ok", Some(1)), t1);
        set_condition(&mut cs, ready_condition(true, "Synced", "still ok", Some(2)), t2);
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0].last_transition_time, "2025-01-01T00:00:00Z");
        assert_eq!(cs[0].message, "still ok");
        set_condition(&mut cs, ready_condition(false, "ApiError", "down", Some(2)), t2);
        assert_eq!(cs[0].last_transition_time, "2025-01-01T00:05:00Z");
    }
}
