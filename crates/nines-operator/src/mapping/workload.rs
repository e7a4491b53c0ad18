//! Workload readiness (Deployment, StatefulSet, DaemonSet named by a
//! service's `workloadType`/`workloadName`) → OPERATIONAL, DEGRADED or DOWN.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use nines_core::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
}

impl WorkloadKind {
    /// `workloadType` as users write it (any case).
    pub fn parse(s: &str) -> Option<WorkloadKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deployment" | "deploy" => Some(WorkloadKind::Deployment),
            "statefulset" | "sts" => Some(WorkloadKind::StatefulSet),
            "daemonset" | "ds" => Some(WorkloadKind::DaemonSet),
            _ => None,
        }
    }
}

/// Desired and ready replicas (scheduled and ready pods for a DaemonSet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    pub desired: i32,
    pub ready: i32,
}

pub fn deployment_replicas(d: &Deployment) -> Replicas {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    Replicas { desired, ready: d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) }
}

pub fn statefulset_replicas(s: &StatefulSet) -> Replicas {
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    Replicas { desired, ready: s.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0) }
}

pub fn daemonset_replicas(d: &DaemonSet) -> Replicas {
    let st = d.status.clone().unwrap_or_default();
    Replicas { desired: st.desired_number_scheduled, ready: st.number_ready }
}

/// All desired ready: OPERATIONAL; some: DEGRADED; none, scaled to zero or
/// missing: DOWN (a service scaled to zero serves nobody).
pub fn workload_status(r: Option<Replicas>) -> (Status, String) {
    match r {
        None => (Status::Down, "workload not found".into()),
        Some(Replicas { desired, .. }) if desired <= 0 => (Status::Down, "scaled to zero".into()),
        Some(Replicas { desired, ready }) if ready >= desired => {
            (Status::Operational, format!("{ready}/{desired} ready"))
        }
        Some(Replicas { desired, ready }) if ready > 0 => (Status::Degraded, format!("{ready}/{desired} ready")),
        Some(Replicas { desired, .. }) => (Status::Down, format!("0/{desired} ready")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_table() {
        let r = |desired, ready| Some(Replicas { desired, ready });
        let rows = [
            (r(3, 3), Status::Operational, "3/3 ready"),
            (r(3, 4), Status::Operational, "4/3 ready"),
            (r(3, 2), Status::Degraded, "2/3 ready"),
            (r(3, 0), Status::Down, "0/3 ready"),
            (r(0, 0), Status::Down, "scaled to zero"),
            (None, Status::Down, "workload not found"),
        ];
        for (rep, status, msg) in rows {
            assert_eq!(workload_status(rep), (status, msg.to_string()), "{rep:?}");
        }
    }

    #[test]
    fn replicas_from_objects() {
        let d: Deployment =
            serde_json::from_value(serde_json::json!({"spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"readyReplicas": 2}}))
                .unwrap();
        assert_eq!(deployment_replicas(&d), Replicas { desired: 3, ready: 2 });
        let s: StatefulSet = serde_json::from_value(
            serde_json::json!({"spec": {"selector": {}, "serviceName": "x", "template": {}}, "status": {"replicas": 1}}),
        )
        .unwrap();
        assert_eq!(statefulset_replicas(&s), Replicas { desired: 1, ready: 0 });
        let ds: DaemonSet =
            serde_json::from_value(serde_json::json!({"status": {"desiredNumberScheduled": 5, "numberReady": 5,
            "currentNumberScheduled": 5, "numberMisscheduled": 0}}))
            .unwrap();
        assert_eq!(daemonset_replicas(&ds), Replicas { desired: 5, ready: 5 });
        assert_eq!(WorkloadKind::parse("StatefulSet"), Some(WorkloadKind::StatefulSet));
        assert_eq!(WorkloadKind::parse("job"), None);
    }
}

/// Where a Deployment's rollout stands, as the operator last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// `deployment.kubernetes.io/revision`, set by the deployment controller.
    pub revision: String,
    /// Container name → image, of the pod template.
    pub images: std::collections::BTreeMap<String, String>,
    pub phase: RolloutPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutPhase {
    Progressing,
    Finished,
    Failed,
}

impl Rollout {
    /// The rollout of a Deployment; `None` before the controller numbered a revision.
    pub fn of(d: &Deployment) -> Option<Rollout> {
        let revision = d.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision")?.clone();
        let spec = d.spec.as_ref();
        let images = spec
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| p.containers.iter().map(|c| (c.name.clone(), c.image.clone().unwrap_or_default())).collect())
            .unwrap_or_default();
        let st = d.status.clone().unwrap_or_default();
        let want = spec.and_then(|s| s.replicas).unwrap_or(1);
        let failed = st.conditions.iter().flatten().any(|c| {
            c.type_ == "Progressing" && c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        let observed = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
        let done = observed
            && st.updated_replicas.unwrap_or(0) >= want
            && st.available_replicas.unwrap_or(0) >= want
            && st.replicas.unwrap_or(0) <= want;
        let phase = if failed {
            RolloutPhase::Failed
        } else if done {
            RolloutPhase::Finished
        } else {
            RolloutPhase::Progressing
        };
        Some(Rollout { revision, images, phase })
    }
}

/// What changed between two sightings of a Deployment's rollout, as the
/// messages of activities: a new revision started (with the images that
/// changed), finished, or failed to progress. The first sighting says
/// nothing: it is where the operator came in, not a change.
pub fn rollout_changes(name: &str, before: Option<&Rollout>, now: &Rollout) -> Vec<String> {
    let Some(before) = before else { return Vec::new() };
    let mut out = Vec::new();
    if before.revision != now.revision {
        let changed: Vec<String> = now
            .images
            .iter()
            .filter(|(c, i)| before.images.get(*c) != Some(*i))
            .map(|(c, i)| match before.images.get(c) {
                Some(old) => format!("{c}: {old} \u{2192} {i}"),
                None => format!("{c}: {i} (new)"),
            })
            .collect();
        let what = if changed.is_empty() { String::new() } else { format!(" ({})", changed.join(", ")) };
        out.push(format!("Deployment {name}: rollout of revision {} started{what}", now.revision));
        match now.phase {
            RolloutPhase::Finished => out.push(format!("Deployment {name}: revision {} rolled out", now.revision)),
            RolloutPhase::Failed => {
                out.push(format!("Deployment {name}: revision {} failed to progress", now.revision))
            }
            RolloutPhase::Progressing => {}
        }
        return out;
    }
    if before.phase != now.phase {
        match now.phase {
            RolloutPhase::Finished => out.push(format!("Deployment {name}: revision {} rolled out", now.revision)),
            RolloutPhase::Failed => {
                out.push(format!("Deployment {name}: revision {} failed to progress", now.revision))
            }
            RolloutPhase::Progressing => {}
        }
    }
    out
}

#[cfg(test)]
mod rollout_tests {
    use super::*;

    fn deployment(revision: &str, image: &str, status: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "generation": 2, "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 2, "selector": {}, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
            "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn a_rollout_starts_finishes_or_fails() {
        let done =
            serde_json::json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2});
        let going =
            serde_json::json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2});
        let stuck = serde_json::json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]});
        let r1 = Rollout::of(&deployment("1", "shop:1.0", done.clone())).unwrap();
        assert_eq!(r1.phase, RolloutPhase::Finished);
        // first sighting: nothing
        assert!(rollout_changes("web", None, &r1).is_empty());
        // same revision, same phase: nothing
        assert!(rollout_changes("web", Some(&r1), &r1).is_empty());
        let r2 = Rollout::of(&deployment("2", "shop:1.1", going)).unwrap();
        assert_eq!(
            rollout_changes("web", Some(&r1), &r2),
            vec!["Deployment web: rollout of revision 2 started (app: shop:1.0 \u{2192} shop:1.1)".to_string()]
        );
        let r2_done = Rollout::of(&deployment("2", "shop:1.1", done)).unwrap();
        assert_eq!(
            rollout_changes("web", Some(&r2), &r2_done),
            vec!["Deployment web: revision 2 rolled out".to_string()]
        );
        let r3 = Rollout::of(&deployment("3", "shop:1.2", stuck)).unwrap();
        let got = rollout_changes("web", Some(&r2_done), &r3);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], "Deployment web: revision 3 failed to progress");
        // no revision yet (no controller numbered it): not tracked
        let mut d = deployment("1", "x", serde_json::json!({}));
        d.metadata.annotations = None;
        assert!(Rollout::of(&d).is_none());
    }
}
