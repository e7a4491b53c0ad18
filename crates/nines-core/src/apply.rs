//! Config as code: the `it-ops.yaml` document (the SLA seed's ConfigMap).
//!
//! One file may hold several YAML documents. Parsing is strict (unknown
//! fields are errors) and every problem is reported with its path, e.g.
//! `documents[1].service.criticality: unknown criticality "urgent"`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::error::{FieldError, FieldErrors};
use crate::model::{Criticality, NodeId, check_name};
use crate::wire::{LinkedService, check_tags};

/// One it-ops document: a service, where it sits in the hierarchy, and what
/// nines should expect of it. A file (or request body) may hold several,
/// separated by `---`; JSON is accepted too. Unknown fields are errors.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItOpsDocument {
    /// Document format version; only "1" exists.
    #[schema(example = "1")]
    pub version: String,
    /// Where the service sits: its node is
    /// `organization/platform/environment/cluster`.
    pub hierarchy: HierarchyDoc,
    /// The service itself.
    pub service: ServiceDoc,
    /// Free-form facts about the service, shown on its page. Values are
    /// strings (numbers and booleans are taken as their text); a few keys
    /// have a meaning of their own. At most 64 keys of 128 characters, each
    /// value at most 4096 bytes.
    #[serde(default)]
    #[schema(value_type = MetadataDoc)]
    pub metadata: BTreeMap<String, serde_yaml_ng::Value>,
    /// What nines expects of the service's operations.
    #[serde(default)]
    pub operations: Option<OperationsDoc>,
    /// Kubernetes namespace the service runs in (the ConfigMap's namespace
    /// when the operator applies it); namespace-level backup reports use it.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Active checks of the service, run by the server or by agents.
    // Kept raw here: the probe engine (nines-probe) parses and validates them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<serde_json::Value>,
}

/// The node a service belongs to. Each segment is a name: not empty, at most
/// 253 characters, without whitespace, `/` or `\`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HierarchyDoc {
    /// Organization: API keys are scoped to it.
    pub organization: String,
    /// Platform (a product or team) within the organization.
    pub platform: String,
    /// Environment, e.g. `prod` or `staging`.
    pub environment: String,
    /// Cluster (or site) the service runs in.
    pub cluster: String,
    /// The service's name, as an alternative to `service.name`; when both
    /// are given they must be equal.
    #[serde(default)]
    pub service: Option<String>,
}

/// Identified by its node and `name`; applying the document again updates
/// everything else.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceDoc {
    /// Name of the service, unique under its node. Required unless
    /// `hierarchy.service` names it.
    #[serde(default)]
    pub name: Option<String>,
    /// Name shown in the dashboard and on the status page (at most 200
    /// characters).
    #[serde(default)]
    pub display_name: Option<String>,
    /// How much the service matters; sets its SLA tier.
    #[serde(default)]
    #[schema(value_type = Option<Criticality>, default = Criticality::default)]
    pub criticality: Option<String>,
    /// SLA group the service counts towards (a name).
    #[serde(default)]
    pub sla_group: Option<String>,
    /// Kubernetes workload whose readiness the operator reports as the
    /// service's status: `deployment`, `statefulset` or `daemonset` (any
    /// case; `deploy`, `sts`, `ds` too).
    #[serde(default)]
    pub workload_type: Option<String>,
    /// Name of that workload in `namespace`.
    #[serde(default)]
    pub workload_name: Option<String>,
    /// Kind of service, free-form (`database`, `api`, ...). Default
    /// `workload` when `workloadType` is set, `external` otherwise.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Tags to filter by: at most 64 names.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The keys of `metadata` that mean something to nines. Only documents them:
/// `metadata` is parsed as a map so that any other key is kept as it is.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetadataDoc {
    /// Services that depend on this one, listed on its Storage tab (at most
    /// 200).
    #[serde(default)]
    pub used_by: Option<Vec<LinkedDoc>>,
    /// Allocated storage in bytes: the first storage figure until a storage
    /// report arrives.
    #[serde(default)]
    #[schema(example = "107374182400")]
    pub allocated_storage: Option<String>,
    /// Used storage in bytes; with `allocatedStorage` it gives the free share
    /// when `freePercent` is absent.
    #[serde(default)]
    #[schema(example = "53687091200")]
    pub used_storage: Option<String>,
    /// Free share of the storage in percent (0 to 100).
    #[serde(default)]
    #[schema(example = "50")]
    pub free_percent: Option<String>,
}

/// Backups are the only operation watched so far.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationsDoc {
    /// The service's backups.
    #[serde(default)]
    pub backup: Option<BackupDoc>,
}

/// The backup expectation of a service, checked against backup reports.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackupDoc {
    /// Whether backups are expected at all; a missing or late one then
    /// counts against the service.
    #[serde(default)]
    #[schema(default = false)]
    pub expected: bool,
    /// Age in days after which the last successful backup is overdue
    /// (greater than 0).
    #[serde(default)]
    #[schema(default = json!(DEFAULT_BACKUP_MAX_AGE_DAYS))]
    pub max_age_days: Option<f64>,
    /// Cron expression of the backup schedule, shown with the backups.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Size of the backup storage, e.g. `100Gi`, shown with the backups.
    #[serde(default)]
    pub storage_size: Option<String>,
}

/// Backup expectation of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSpec {
    pub expected: bool,
    pub max_age_days: f64,
    pub schedule: Option<String>,
    pub storage_size: Option<String>,
}

/// Default `maxAgeDays` when a backup is expected but no age is given.
pub const DEFAULT_BACKUP_MAX_AGE_DAYS: f64 = 1.0;

/// A validated service declaration, ready for storage.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub organization: String,
    pub node: NodeId,
    pub name: String,
    pub display_name: Option<String>,
    pub criticality: Criticality,
    pub sla_group: Option<String>,
    pub kind: String,
    pub tags: Vec<String>,
    pub namespace: Option<String>,
    pub workload_type: Option<String>,
    pub workload_name: Option<String>,
    /// Free-form metadata as JSON (string values, `usedBy` kept as a list).
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub used_by: Vec<LinkedService>,
    pub backup: Option<BackupSpec>,
    /// Initial storage facts from `metadata` (allocated, used, free %).
    pub storage: Option<(Option<u64>, Option<u64>, f64)>,
    /// Raw check declarations (validated by the probe engine).
    pub checks: Vec<serde_json::Value>,
    /// Path prefix of this document in its file (`documents[2].` or empty).
    pub prefix: String,
}

fn yaml_to_json(v: &serde_yaml_ng::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn scalar_string(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parse every YAML document in `text` (JSON is YAML too) and validate them.
/// Returns all problems at once; nothing is returned when any document is bad.
pub fn parse_documents(text: &str) -> Result<Vec<ServiceSpec>, FieldErrors> {
    let (specs, errs) = parse_documents_lenient(text);
    errs.into_result(specs)
}

/// Like [`parse_documents`], but returns the valid documents alongside the
/// problems of the others, so callers can validate more (checks) and report
/// every problem at once.
pub fn parse_documents_lenient(text: &str) -> (Vec<ServiceSpec>, FieldErrors) {
    let mut errs = FieldErrors::default();
    let mut raw: Vec<serde_yaml_ng::Value> = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        match serde_yaml_ng::Value::deserialize(doc) {
            Ok(serde_yaml_ng::Value::Null) => {}
            Ok(v) => raw.push(v),
            Err(e) => {
                errs.push(FieldError::new("document", "invalid_yaml", e.to_string()));
                return (Vec::new(), errs);
            }
        }
    }
    if raw.is_empty() {
        errs.push(FieldError::new("document", "missing_field", "no document found"));
        return (Vec::new(), errs);
    }
    let many = raw.len() > 1;
    let mut specs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, v) in raw.into_iter().enumerate() {
        let prefix = if many { format!("documents[{i}].") } else { String::new() };
        if let Some(f) = serde_json::to_value(&v).ok().as_ref().and_then(crate::wire::nul_field) {
            errs.push(crate::wire::nul_error(format!("{prefix}{f}")));
            continue;
        }
        let doc: ItOpsDocument = match serde_path_to_error::deserialize(v) {
            Ok(d) => d,
            Err(e) => {
                errs.push(path_error(&prefix, &e));
                continue;
            }
        };
        match validate(&doc, &prefix) {
            Ok(spec) => {
                let key = (spec.node.to_string(), spec.name.clone());
                if !seen.insert(key) {
                    errs.push(FieldError::invalid(
                        format!("{prefix}service.name"),
                        format!("service {:?} under {} is declared twice in this file", spec.name, spec.node),
                    ));
                }
                specs.push(spec)
            }
            Err(e) => errs.0.extend(e.0),
        }
    }
    (specs, errs)
}

/// Turn a serde error with its path into a field error.
pub fn path_error<E: std::fmt::Display>(prefix: &str, e: &serde_path_to_error::Error<E>) -> FieldError {
    let msg = e.inner().to_string();
    let path = e.path().to_string();
    let base = if path == "." { String::new() } else { path };
    // serde names the culprit in backticks for unknown and missing fields
    let named = msg.split('`').nth(1).map(str::to_string);
    let (code, field) = if msg.starts_with("unknown field") {
        // the path already ends with the unknown key
        let ends = named.as_deref().is_some_and(|n| base == n || base.ends_with(&format!(".{n}")));
        ("unknown_field", if ends { base } else { join(&base, named.as_deref()) })
    } else if msg.starts_with("missing field") {
        ("missing_field", join(&base, named.as_deref()))
    } else {
        ("invalid_value", base)
    };
    // a value wrong as a whole is named by the prefix (`metadata.usedBy`,
    // `checks[0]`), or is the document itself
    let field = match (field.is_empty(), prefix.trim_end_matches('.')) {
        (true, "") => "document".to_string(),
        (true, whole) => whole.to_string(),
        (false, _) => format!("{prefix}{field}"),
    };
    // serde_yaml_ng appends a location; keep the reason itself
    let reason = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    FieldError::new(field, code, reason)
}

fn join(base: &str, name: Option<&str>) -> String {
    match (base.is_empty(), name) {
        (true, Some(n)) => n.to_string(),
        (false, Some(n)) => format!("{base}.{n}"),
        (_, None) => base.to_string(),
    }
}

/// Bounds of a document's free-form fields: each is returned in every list,
/// so none may grow without limit.
pub const MAX_DISPLAY_NAME: usize = 200;
pub const MAX_METADATA_KEYS: usize = 64;
pub const MAX_METADATA_KEY: usize = 128;
pub const MAX_METADATA_VALUE: usize = 4096;
pub const MAX_USED_BY: usize = 200;

fn check_bounds(
    doc: &ItOpsDocument,
    metadata: &BTreeMap<String, serde_json::Value>,
    used_by: &[LinkedService],
    p: &str,
    errs: &mut FieldErrors,
) {
    let text = |field: String, v: &str, max: usize, errs: &mut FieldErrors| {
        if v.chars().count() > max {
            errs.push(FieldError::invalid(field, format!("at most {max} characters, got {}", v.chars().count())));
        } else if v.chars().any(|c| c.is_control() && c != '\t') {
            errs.push(FieldError::invalid(field, "must not contain control characters"));
        }
    };
    if let Some(d) = &doc.service.display_name {
        text(format!("{p}service.displayName"), d, MAX_DISPLAY_NAME, errs);
    }
    if metadata.len() > MAX_METADATA_KEYS {
        errs.push(FieldError::invalid(
            format!("{p}metadata"),
            format!("at most {MAX_METADATA_KEYS} keys, got {}", metadata.len()),
        ));
    }
    for (k, v) in metadata {
        if k.chars().count() > MAX_METADATA_KEY {
            errs.push(FieldError::invalid(
                format!("{p}metadata"),
                format!("key {:?}…: at most {MAX_METADATA_KEY} characters", k.chars().take(20).collect::<String>()),
            ));
        }
        if let Some(s) = v.as_str()
            && s.len() > MAX_METADATA_VALUE
        {
            errs.push(FieldError::invalid(
                format!("{p}metadata.{k}"),
                format!("at most {MAX_METADATA_VALUE} bytes, got {}", s.len()),
            ));
        }
    }
    if used_by.len() > MAX_USED_BY {
        errs.push(FieldError::invalid(
            format!("{p}metadata.usedBy"),
            format!("at most {MAX_USED_BY} entries, got {}", used_by.len()),
        ));
    }
    for (j, l) in used_by.iter().enumerate() {
        if let Some(d) = &l.display_name {
            text(format!("{p}metadata.usedBy[{j}].displayName"), d, MAX_DISPLAY_NAME, errs);
        }
    }
}

fn validate(doc: &ItOpsDocument, p: &str) -> Result<ServiceSpec, FieldErrors> {
    let mut errs = FieldErrors::default();
    if doc.version != "1" {
        errs.push(FieldError::invalid(
            format!("{p}version"),
            format!("unsupported version {:?}; expected \"1\"", doc.version),
        ));
    }
    let h = &doc.hierarchy;
    let path = format!("{}/{}/{}/{}", h.organization, h.platform, h.environment, h.cluster);
    let node = match NodeId::parse(&format!("{p}hierarchy"), &path) {
        Ok(NodeId::Unknown) => {
            errs.push(FieldError::invalid(format!("{p}hierarchy"), "a declared service needs a real hierarchy"));
            None
        }
        Ok(n) => Some(n),
        Err(e) => {
            errs.push(e);
            None
        }
    };
    let name = match (&doc.service.name, &h.service) {
        (Some(a), Some(b)) if a != b => {
            errs.push(FieldError::invalid(
                format!("{p}hierarchy.service"),
                format!("{b:?} differs from service.name {a:?}"),
            ));
            None
        }
        (Some(a), _) | (None, Some(a)) => Some(a.clone()),
        (None, None) => {
            errs.push(FieldError::missing(format!("{p}service.name")));
            None
        }
    };
    if let Some(n) = &name
        && let Err(r) = check_name(n)
    {
        errs.push(FieldError::invalid(format!("{p}service.name"), r));
    }
    let criticality = match doc.service.criticality.as_deref() {
        None => Criticality::default(),
        Some(c) => c.parse().unwrap_or_else(|r: String| {
            errs.push(FieldError::invalid(format!("{p}service.criticality"), r));
            Criticality::default()
        }),
    };
    if let Some(g) = &doc.service.sla_group
        && let Err(r) = check_name(g)
    {
        errs.push(FieldError::invalid(format!("{p}service.slaGroup"), r));
    }
    if let Err(mut e) = check_tags(&doc.service.tags) {
        e.field = format!("{p}service.{}", e.field);
        errs.push(e);
    }
    if let Some(ns) = &doc.namespace
        && let Err(r) = check_name(ns)
    {
        errs.push(FieldError::invalid(format!("{p}namespace"), r));
    }
    let mut metadata = BTreeMap::new();
    let mut used_by = Vec::new();
    for (k, v) in &doc.metadata {
        if k == "usedBy" {
            match serde_path_to_error::deserialize::<_, Vec<LinkedDoc>>(v.clone()) {
                Ok(list) => {
                    for (j, l) in list.iter().enumerate() {
                        if let Err(r) = check_name(&l.name) {
                            errs.push(FieldError::invalid(format!("{p}metadata.usedBy[{j}].name"), r));
                        }
                    }
                    used_by = list
                        .into_iter()
                        .map(|l| LinkedService { name: l.name, display_name: l.display_name })
                        .collect();
                }
                Err(e) => errs.push(path_error(&format!("{p}metadata.usedBy"), &e)),
            }
            metadata.insert(k.clone(), yaml_to_json(v));
            continue;
        }
        match scalar_string(v) {
            Some(s) => {
                metadata.insert(k.clone(), serde_json::Value::String(s));
            }
            None => {
                errs.push(FieldError::invalid(format!("{p}metadata.{k}"), "metadata values are strings (or usedBy)"))
            }
        }
    }
    check_bounds(doc, &metadata, &used_by, p, &mut errs);
    let num = |key: &str, errs: &mut FieldErrors| -> Option<f64> {
        let s = metadata.get(key)?.as_str()?.to_string();
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => {
                errs.push(FieldError::invalid(
                    format!("{p}metadata.{key}"),
                    format!("{s:?} is not a non-negative number"),
                ));
                None
            }
        }
    };
    let alloc = num("allocatedStorage", &mut errs).map(|v| v.round() as u64);
    let used = num("usedStorage", &mut errs).map(|v| v.round() as u64);
    let free = num("freePercent", &mut errs);
    if let Some(f) = free
        && f > 100.0
    {
        errs.push(FieldError::invalid(format!("{p}metadata.freePercent"), "must be between 0 and 100"));
    }
    let storage = match (alloc, used, free) {
        (None, None, None) => None,
        (a, u, Some(f)) => Some((a, u, f)),
        (Some(a), Some(u), None) if a > 0 && u <= a => Some((Some(a), Some(u), (a - u) as f64 * 100.0 / a as f64)),
        (Some(a), Some(u), None) => {
            errs.push(FieldError::invalid(
                format!("{p}metadata.usedStorage"),
                format!("{u} does not fit allocatedStorage {a}"),
            ));
            None
        }
        (a, u, None) => Some((a, u, 100.0)),
    };
    let backup = doc.operations.as_ref().and_then(|o| o.backup.as_ref()).map(|b| {
        let max_age = b.max_age_days.unwrap_or(DEFAULT_BACKUP_MAX_AGE_DAYS);
        if !(max_age.is_finite() && max_age > 0.0) {
            errs.push(FieldError::invalid(format!("{p}operations.backup.maxAgeDays"), "must be greater than 0"));
        }
        BackupSpec {
            expected: b.expected,
            max_age_days: max_age,
            schedule: b.schedule.clone(),
            storage_size: b.storage_size.clone(),
        }
    });
    let kind = doc
        .service
        .kind
        .clone()
        .unwrap_or_else(|| if doc.service.workload_type.is_some() { "workload".into() } else { "external".into() });
    if !errs.is_empty() {
        return Err(errs);
    }
    let node = node.expect("checked");
    Ok(ServiceSpec {
        organization: node.organization().unwrap_or_default().to_string(),
        node,
        name: name.expect("checked"),
        display_name: doc.service.display_name.clone(),
        criticality,
        sla_group: doc.service.sla_group.clone(),
        kind,
        tags: doc.service.tags.clone(),
        namespace: doc.namespace.clone(),
        workload_type: doc.service.workload_type.clone(),
        workload_name: doc.service.workload_name.clone(),
        metadata,
        used_by,
        backup,
        storage,
        checks: doc.checks.clone(),
        prefix: p.to_string(),
    })
}

/// A service that depends on this one.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkedDoc {
    /// Its name (a name, as `service.name`).
    pub name: String,
    /// Its display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

#[cfg(test)]
mod bounds_tests {
    #[test]
    fn free_form_fields_are_bounded_and_named() {
        let base = "version: \"1\"\nhierarchy: {organization: o, platform: p, environment: e, cluster: c}\n";
        let long = "x".repeat(900_000);
        let doc = format!("{base}service: {{name: s, displayName: {long}}}\n");
        let e = super::parse_documents(&doc).unwrap_err();
        assert_eq!(e.0[0].field, "service.displayName", "{e}");
        let doc = format!("{base}service: {{name: s}}\nmetadata: {{note: {long}}}\n");
        assert_eq!(super::parse_documents(&doc).unwrap_err().0[0].field, "metadata.note");
        let many: String = (0..65).map(|i| format!("k{i}: v\n  ")).collect();
        let doc = format!("{base}service: {{name: s}}\nmetadata:\n  {many}\n");
        assert_eq!(super::parse_documents(&doc).unwrap_err().0[0].field, "metadata");
        let ok = format!("{base}service: {{name: s, displayName: Checkout API}}\nmetadata: {{owner: team-a}}\n");
        assert!(super::parse_documents(&ok).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const SEED_EXAMPLE: &str = r#"
version: "1"
hierarchy:
  organization: "myorg"
  platform: "myplatform"
  environment: "prod"
  cluster: "cluster1"
  service: "postgresql"
service:
  name: "postgresql"
  criticality: "critical"
  slaGroup: "payment-system"
  workloadType: "statefulset"
  workloadName: "postgresql"
  type: "database"
  tags:
    - database
    - storage
metadata:
  serviceType: "PostgreSQL"
  allocatedStorage: "107374182400" # 100 GB in bytes
  usedStorage: "53687091200" # 50 GB in bytes
  freePercent: "50"
  version: "17.4"
  usedBy: # Linked services (shown in Storage tab)
    - name: "payment-api"
      displayName: "Payment API"
    - name: "user-service"
      displayName: "User Service"
operations:
  backup:
    expected: true
    maxAgeDays: 1
    schedule: "0 2 * * *"
    storageSize: "100Gi"
"#;

    #[test]
    fn the_seed_example_parses() {
        let specs = parse_documents(SEED_EXAMPLE).unwrap();
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(s.node.to_string(), "myorg/myplatform/prod/cluster1");
        assert_eq!(s.name, "postgresql");
        assert_eq!(s.criticality, Criticality::Critical);
        assert_eq!(s.sla_group.as_deref(), Some("payment-system"));
        assert_eq!(s.kind, "database");
        assert_eq!(s.used_by.len(), 2);
        assert_eq!(s.used_by[0].display_name.as_deref(), Some("Payment API"));
        assert_eq!(s.backup.as_ref().unwrap().max_age_days, 1.0);
        assert_eq!(s.storage, Some((Some(107374182400), Some(53687091200), 50.0)));
        assert_eq!(s.metadata["version"], serde_json::json!("17.4"));
    }

    #[test]
    fn several_documents_and_every_problem_at_once() {
        let text = format!(
            "{SEED_EXAMPLE}\n---\nversion: \"2\"\nhierarchy: {{organization: a, platform: b, environment: c, cluster: d}}\nservice: {{name: x, criticality: urgent}}\n---\nversion: \"1\"\nhierarchy: {{organization: a, platform: b, environment: c, cluster: d}}\nservice: {{name: y, colour: red}}\n"
        );
        let errs = parse_documents(&text).unwrap_err();
        let got: Vec<String> = errs.0.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            got,
            vec![
                "documents[1].version: unsupported version \"2\"; expected \"1\"".to_string(),
                "documents[1].service.criticality: unknown criticality \"urgent\"; expected one of critical, high, medium, low".to_string(),
                "documents[2].service.colour: unknown field `colour`, expected one of `name`, `displayName`, `criticality`, `slaGroup`, `workloadType`, `workloadName`, `type`, `tags`".to_string(),
            ]
        );
        assert_eq!(errs.0[2].code, "unknown_field");
    }

    #[test]
    fn missing_fields_are_named() {
        let errs = parse_documents("version: \"1\"\nservice: {name: x}\n").unwrap_err();
        assert_eq!(errs.0[0].field, "hierarchy");
        assert_eq!(errs.0[0].code, "missing_field");
        let errs = parse_documents(
            "version: \"1\"\nhierarchy: {organization: a, platform: b, environment: c, cluster: d}\nservice: {}\n",
        )
        .unwrap_err();
        assert_eq!(errs.0[0].field, "service.name");
    }

    /// `MetadataDoc` only documents `metadata`: each key it names must be one
    /// that validation reads, so a value no free-form key would refuse is
    /// refused for each of them.
    #[test]
    fn the_documented_metadata_keys_mean_something() {
        let schema = serde_json::to_value(<MetadataDoc as utoipa::PartialSchema>::schema()).unwrap();
        let keys: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        let doc = |k: &str| {
            format!(
                "version: \"1\"\nhierarchy: {{organization: a, platform: b, environment: c, cluster: d}}\nservice: {{name: x}}\nmetadata: {{{k}: \"-1\"}}\n"
            )
        };
        assert!(parse_documents(&doc("owner")).is_ok());
        for k in keys {
            let errs = parse_documents(&doc(k)).expect_err(k);
            assert_eq!(errs.0[0].field, format!("metadata.{k}"), "{errs}");
        }
    }

    #[test]
    fn bad_metadata_and_backup_are_reported() {
        let text = "version: \"1\"\nhierarchy: {organization: a, platform: b, environment: c, cluster: d}\nservice: {name: x}\nmetadata: {allocatedStorage: lots}\noperations: {backup: {expected: true, maxAgeDays: 0}}\n";
        let errs = parse_documents(text).unwrap_err();
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["metadata.allocatedStorage", "operations.backup.maxAgeDays"]);
    }
}
