//! Velero `Backup` and `Schedule` → nines Backup and BackupSchedule CRs
//! (the seed's field and phase mapping), and backup reports for the
//! services declared in the namespaces a backup covers.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::crd::{BackupScheduleSpec, BackupSpec, SourceRef};
use crate::mapping::BackupReport;

/// Label Velero puts on backups made by a schedule.
pub const SCHEDULE_LABEL: &str = "velero.io/schedule-name";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VeleroBackup {
    #[serde(default)]
    pub spec: VeleroBackupSpec,
    #[serde(default)]
    pub status: VeleroBackupStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroBackupSpec {
    pub ttl: Option<String>,
    #[serde(default)]
    pub included_namespaces: Vec<String>,
    #[serde(default)]
    pub excluded_namespaces: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroBackupStatus {
    pub phase: Option<String>,
    pub start_timestamp: Option<String>,
    pub completion_timestamp: Option<String>,
    #[serde(default)]
    pub progress: VeleroProgress,
    pub errors: Option<i64>,
    pub warnings: Option<i64>,
    pub failure_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroProgress {
    pub items_backed_up: Option<i64>,
    pub total_items: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct VeleroSchedule {
    #[serde(default)]
    pub spec: VeleroScheduleSpec,
    #[serde(default)]
    pub status: VeleroScheduleStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroScheduleSpec {
    #[serde(default)]
    pub schedule: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub template: VeleroBackupSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VeleroScheduleStatus {
    pub last_backup: Option<LastBackup>,
}

/// Velero writes `lastBackup` as a timestamp; the seed shows an object
/// with `startTime` and `name`. Both are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LastBackup {
    Time(String),
    Detail {
        #[serde(rename = "startTime")]
        start_time: Option<String>,
        name: Option<String>,
    },
}

/// Velero phase → nines backup status (seed: Completed→completed, Failed→failed).
pub fn backup_status(phase: Option<&str>) -> &'static str {
    match phase.unwrap_or("") {
        "" | "New" => "new",
        "InProgress"
        | "WaitingForPluginOperations"
        | "WaitingForPluginOperationsPartiallyFailed"
        | "Finalizing"
        | "FinalizingPartiallyFailed" => "in_progress",
        "Completed" => "completed",
        "PartiallyFailed" => "partially_failed",
        "Failed" | "FailedValidation" => "failed",
        "Deleting" => "deleting",
        _ => "unknown",
    }
}

/// The report a finished backup sends (`success` or `failed`); `None` while it runs.
pub fn report_status(status: &str) -> Option<&'static str> {
    match status {
        "completed" => Some("success"),
        "failed" | "partially_failed" => Some("failed"),
        _ => None,
    }
}

pub fn backup_spec(
    name: &str,
    namespace: &str,
    uid: &str,
    labels: &BTreeMap<String, String>,
    b: &VeleroBackup,
) -> BackupSpec {
    let s = &b.status;
    BackupSpec {
        name: name.into(),
        status: backup_status(s.phase.as_deref()).into(),
        retention_policy: b.spec.ttl.clone(),
        started_at: s.start_timestamp.clone(),
        completed_at: s.completion_timestamp.clone(),
        items_backed_up: s.progress.items_backed_up,
        schedule_name: labels.get(SCHEDULE_LABEL).cloned(),
        included_namespaces: b.spec.included_namespaces.clone(),
        excluded_namespaces: b.spec.excluded_namespaces.clone(),
        errors: s.errors,
        warnings: s.warnings,
        source_velero: SourceRef { name: name.into(), namespace: namespace.into(), uid: uid.into(), revision: None },
        source_cnpg: None,
    }
}

pub fn schedule_spec(name: &str, namespace: &str, uid: &str, s: &VeleroSchedule) -> BackupScheduleSpec {
    let (at, last) = match &s.status.last_backup {
        None => (None, None),
        Some(LastBackup::Time(t)) => (Some(t.clone()), None),
        Some(LastBackup::Detail { start_time, name }) => (start_time.clone(), name.clone()),
    };
    BackupScheduleSpec {
        name: name.into(),
        schedule_cron: s.spec.schedule.clone(),
        paused: s.spec.paused,
        last_backup_at: at,
        last_backup_name: last,
        retention_policy: s.spec.template.ttl.clone(),
        included_namespaces: s.spec.template.included_namespaces.clone(),
        source_velero: SourceRef { name: name.into(), namespace: namespace.into(), uid: uid.into(), revision: None },
        source_cnpg: None,
    }
}

/// Does a backup with these namespace lists cover `ns`? Empty or `*` includes all.
pub fn covers(included: &[String], excluded: &[String], ns: &str) -> bool {
    !excluded.iter().any(|e| e == ns) && (included.is_empty() || included.iter().any(|i| i == "*" || i == ns))
}

/// A service the operator applied, with the namespace it runs in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NamespacedService {
    pub namespace: String,
    pub node_id: String,
    pub service: String,
}

/// One report per service in a covered namespace, once the backup finished.
pub fn backup_reports(spec: &BackupSpec, services: &[NamespacedService]) -> Vec<BackupReport> {
    let Some(status) = report_status(&spec.status) else { return Vec::new() };
    let when = spec.completed_at.clone().or(spec.started_at.clone());
    let tool = match &spec.source_cnpg {
        Some(c) => format!("CloudNativePG backup of cluster {}:", c.cluster),
        None => "velero backup".to_string(),
    };
    let message = format!(
        "{tool} {} {}{}",
        spec.name,
        spec.status,
        spec.items_backed_up.map(|n| format!(", {n} items")).unwrap_or_default()
    );
    services
        .iter()
        .filter(|s| covers(&spec.included_namespaces, &spec.excluded_namespaces, &s.namespace))
        .map(|s| BackupReport {
            service: s.service.clone(),
            node_id: s.node_id.clone(),
            status: status.into(),
            size_bytes: None,
            timestamp: when.clone(),
            message: Some(message.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_table() {
        let rows = [
            (None, "new", None),
            (Some("New"), "new", None),
            (Some("InProgress"), "in_progress", None),
            (Some("Finalizing"), "in_progress", None),
            (Some("Completed"), "completed", Some("success")),
            (Some("PartiallyFailed"), "partially_failed", Some("failed")),
            (Some("Failed"), "failed", Some("failed")),
            (Some("FailedValidation"), "failed", Some("failed")),
            (Some("Deleting"), "deleting", None),
            (Some("Exploded"), "unknown", None),
        ];
        for (phase, status, report) in rows {
            assert_eq!(backup_status(phase), status, "{phase:?}");
            assert_eq!(report_status(status), report, "{phase:?}");
        }
    }

    #[test]
    fn backup_fields() {
        let b: VeleroBackup = serde_json::from_value(serde_json::json!({
            "spec": {"ttl": "720h0m0s", "includedNamespaces": ["production"]},
            "status": {"phase": "Completed", "startTimestamp": "2025-01-01T02:00:00Z",
                       "completionTimestamp": "2025-01-01T02:05:00Z", "progress": {"itemsBackedUp": 42, "totalItems": 42}}
        }))
        .unwrap();
        let labels = BTreeMap::from([(SCHEDULE_LABEL.to_string(), "daily".to_string())]);
        let s = backup_spec("daily-20250101", "velero", "u1", &labels, &b);
        assert_eq!(s.status, "completed");
        assert_eq!(s.retention_policy.as_deref(), Some("720h0m0s"));
        assert_eq!(s.started_at.as_deref(), Some("2025-01-01T02:00:00Z"));
        assert_eq!(s.completed_at.as_deref(), Some("2025-01-01T02:05:00Z"));
        assert_eq!(s.items_backed_up, Some(42));
        assert_eq!(s.schedule_name.as_deref(), Some("daily"));
        let svc = |ns: &str, name: &str| NamespacedService {
            namespace: ns.into(),
            node_id: "o/p/e/c".into(),
            service: name.into(),
        };
        let reports = backup_reports(&s, &[svc("production", "postgresql"), svc("staging", "redis")]);
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].service, "postgresql");
        assert_eq!(reports[0].status, "success");
        assert_eq!(reports[0].timestamp.as_deref(), Some("2025-01-01T02:05:00Z"));
        assert_eq!(reports[0].message.as_deref(), Some("velero backup daily-20250101 completed, 42 items"));
    }

    #[test]
    fn schedule_fields_both_shapes() {
        let velero: VeleroSchedule = serde_json::from_value(serde_json::json!({
            "spec": {"schedule": "0 2 * * *", "paused": true, "template": {"ttl": "168h"}},
            "status": {"lastBackup": "2025-01-01T02:00:00Z"}
        }))
        .unwrap();
        let s = schedule_spec("daily", "velero", "u", &velero);
        assert_eq!((s.schedule_cron.as_str(), s.paused), ("0 2 * * *", true));
        assert_eq!(s.last_backup_at.as_deref(), Some("2025-01-01T02:00:00Z"));
        assert_eq!(s.retention_policy.as_deref(), Some("168h"));
        let seed: VeleroSchedule = serde_json::from_value(serde_json::json!({
            "spec": {"schedule": "@daily"},
            "status": {"lastBackup": {"startTime": "2025-01-02T00:00:00Z", "name": "daily-20250102"}}
        }))
        .unwrap();
        let s = schedule_spec("daily", "velero", "u", &seed);
        assert_eq!(s.last_backup_name.as_deref(), Some("daily-20250102"));
        assert_eq!(s.last_backup_at.as_deref(), Some("2025-01-02T00:00:00Z"));
    }

    #[test]
    fn coverage() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(covers(&[], &[], "a"));
        assert!(covers(&v(&["*"]), &[], "a"));
        assert!(!covers(&v(&["*"]), &v(&["a"]), "a"));
        assert!(!covers(&v(&["b"]), &[], "a"));
    }
}
