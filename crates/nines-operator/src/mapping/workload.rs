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
