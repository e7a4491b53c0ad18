//! CloudNativePG `Backup` and `ScheduledBackup` (postgresql.cnpg.io/v1) →
//! nines Backup and BackupSchedule CRs. A CNPG backup covers one database
//! cluster in one namespace, so its reports go to the services declared in
//! that namespace, as a Velero backup's go to those of the namespaces it
//! covers.

use serde::Deserialize;

use crate::crd::{BackupScheduleSpec, BackupSpec, CnpgSource};

/// Label CNPG puts on backups made by a ScheduledBackup.
pub const SCHEDULED_LABEL: &str = "cnpg.io/scheduled-backup";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CnpgBackup {
    #[serde(default)]
    pub spec: CnpgBackupSpec,
    #[serde(default)]
    pub status: CnpgBackupStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClusterRef {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CnpgBackupSpec {
    #[serde(default)]
    pub cluster: ClusterRef,
    pub method: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CnpgBackupStatus {
    pub phase: Option<String>,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    pub error: Option<String>,
    pub method: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CnpgScheduledBackup {
    #[serde(default)]
    pub spec: CnpgScheduledSpec,
    #[serde(default)]
    pub status: CnpgScheduledStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CnpgScheduledSpec {
    /// Six fields: seconds first.
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub suspend: bool,
    #[serde(default)]
    pub cluster: ClusterRef,
    pub method: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CnpgScheduledStatus {
    pub last_schedule_time: Option<String>,
}

/// CNPG phase → nines backup status.
pub fn backup_status(phase: Option<&str>) -> &'static str {
    match phase.unwrap_or("").to_ascii_lowercase().as_str() {
        "" | "pending" => "new",
        "started" | "running" | "finalizing" => "in_progress",
        "completed" => "completed",
        "failed" | "walarchivingfailing" => "failed",
        _ => "unknown",
    }
}

pub fn backup_spec(
    name: &str,
    namespace: &str,
    uid: &str,
    labels: &std::collections::BTreeMap<String, String>,
    b: &CnpgBackup,
) -> BackupSpec {
    let s = &b.status;
    BackupSpec {
        name: name.into(),
        status: backup_status(s.phase.as_deref()).into(),
        retention_policy: None,
        started_at: s.started_at.clone(),
        completed_at: s.stopped_at.clone(),
        items_backed_up: None,
        schedule_name: labels.get(SCHEDULED_LABEL).cloned(),
        included_namespaces: vec![namespace.to_string()],
        excluded_namespaces: Vec::new(),
        errors: s.error.as_ref().map(|_| 1),
        warnings: None,
        source_velero: Default::default(),
        source_cnpg: Some(CnpgSource {
            name: name.into(),
            namespace: namespace.into(),
            uid: uid.into(),
            cluster: b.spec.cluster.name.clone(),
            method: s.method.clone().or(b.spec.method.clone()),
        }),
    }
}

pub fn schedule_spec(name: &str, namespace: &str, uid: &str, s: &CnpgScheduledBackup) -> BackupScheduleSpec {
    BackupScheduleSpec {
        name: name.into(),
        schedule_cron: s.spec.schedule.clone(),
        paused: s.spec.suspend,
        last_backup_at: s.status.last_schedule_time.clone(),
        last_backup_name: None,
        retention_policy: None,
        included_namespaces: vec![namespace.to_string()],
        source_velero: Default::default(),
        source_cnpg: Some(CnpgSource {
            name: name.into(),
            namespace: namespace.into(),
            uid: uid.into(),
            cluster: s.spec.cluster.name.clone(),
            method: s.spec.method.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::velero::{NamespacedService, backup_reports};

    #[test]
    fn phase_table() {
        let rows = [
            (None, "new"),
            (Some("pending"), "new"),
            (Some("started"), "in_progress"),
            (Some("running"), "in_progress"),
            (Some("completed"), "completed"),
            (Some("failed"), "failed"),
            (Some("walArchivingFailing"), "failed"),
            (Some("exploded"), "unknown"),
        ];
        for (phase, want) in rows {
            assert_eq!(backup_status(phase), want, "{phase:?}");
        }
    }

    #[test]
    fn a_finished_backup_reports_to_the_services_of_its_namespace() {
        let b: CnpgBackup = serde_json::from_value(serde_json::json!({
            "spec": {"cluster": {"name": "pg-main"}, "method": "barmanObjectStore"},
            "status": {"phase": "completed", "startedAt": "2026-12-01T01:00:00Z", "stoppedAt": "2026-12-01T01:04:00Z"}
        }))
        .unwrap();
        let labels = [(SCHEDULED_LABEL.to_string(), "nightly".to_string())].into();
        let spec = backup_spec("pg-main-20261201", "db", "u1", &labels, &b);
        assert_eq!(spec.status, "completed");
        assert_eq!(spec.schedule_name.as_deref(), Some("nightly"));
        assert_eq!(spec.source_cnpg.as_ref().unwrap().cluster, "pg-main");
        let svc = |ns: &str, name: &str| NamespacedService {
            namespace: ns.into(),
            node_id: "acme/k8s/prod/c1".into(),
            service: name.into(),
        };
        let reports = backup_reports(&spec, &[svc("db", "orders-db"), svc("web", "shop")]);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].service, "orders-db");
        assert_eq!(reports[0].status, "success");
        assert_eq!(reports[0].timestamp.as_deref(), Some("2026-12-01T01:04:00Z"));
        assert!(reports[0].message.as_deref().unwrap().contains("CloudNativePG backup of cluster pg-main"));
        // running: nothing yet; failed: a failure
        let mut running = b.clone();
        running.status.phase = Some("running".into());
        assert!(backup_reports(&backup_spec("x", "db", "u", &labels, &running), &[svc("db", "orders-db")]).is_empty());
        let mut failed = b;
        failed.status.phase = Some("failed".into());
        failed.status.error = Some("can't reach the object store".into());
        let spec = backup_spec("x", "db", "u", &labels, &failed);
        assert_eq!(spec.errors, Some(1));
        assert_eq!(backup_reports(&spec, &[svc("db", "orders-db")])[0].status, "failed");
    }
}
