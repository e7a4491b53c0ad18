//! The documents the operator sends to `POST /api/v1/services/apply`: the
//! `it-ops.yaml` document of `nines_core::apply` plus a top-level `checks:`
//! list. Endpoints become one document each; ConfigMaps with an
//! `it-ops.yaml` key are validated and sent with their namespace filled in.

use nines_core::FieldErrors;
use nines_core::apply::{HierarchyDoc, ItOpsDocument, ServiceDoc};
use nines_probe::CheckSpec;
use serde::{Deserialize, Serialize};

use crate::crd::EndpointSpec;
use crate::mapping::velero::NamespacedService;

/// The ConfigMap key holding service declarations.
pub const CONFIGMAP_KEY: &str = "it-ops.yaml";

/// One apply document: the core document, whose `checks` carry
/// serialized [`CheckSpec`]s (tagged by `type`).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct ApplyDocument {
    pub doc: ItOpsDocument,
}

/// A hierarchy node as its four parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub organization: String,
    pub platform: String,
    pub environment: String,
    pub cluster: String,
}

impl Node {
    pub fn parse(s: &str) -> Option<Node> {
        match nines_core::NodeId::parse("nodeId", s).ok()? {
            nines_core::NodeId::Path { organization, platform, environment, cluster } => {
                Some(Node { organization, platform, environment, cluster })
            }
            nines_core::NodeId::Unknown => None,
        }
    }

    pub fn id(&self) -> String {
        format!("{}/{}/{}/{}", self.organization, self.platform, self.environment, self.cluster)
    }

    fn hierarchy(&self) -> HierarchyDoc {
        HierarchyDoc {
            organization: self.organization.clone(),
            platform: self.platform.clone(),
            environment: self.environment.clone(),
            cluster: self.cluster.clone(),
            service: None,
        }
    }
}

/// The service name of an Endpoint CR: `<namespace>-<name>`, unique per cluster.
pub fn endpoint_service_name(namespace: &str, cr_name: &str) -> String {
    format!("{namespace}-{cr_name}")
}

/// The document of one Endpoint CR.
pub fn endpoint_document(
    node: &Node,
    namespace: &str,
    cr_name: &str,
    spec: &EndpointSpec,
    check: CheckSpec,
) -> ApplyDocument {
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("host".to_string(), serde_yaml_ng::Value::String(spec.remote_address.clone()));
    if !spec.source_ingress.is_empty() {
        metadata.insert("ingress".to_string(), serde_yaml_ng::Value::String(spec.source_ingress.clone()));
    }
    ApplyDocument {
        doc: ItOpsDocument {
            version: "1".into(),
            hierarchy: node.hierarchy(),
            service: ServiceDoc {
                name: Some(endpoint_service_name(namespace, cr_name)),
                display_name: Some(spec.display_name.clone()),
                criticality: None,
                sla_group: None,
                workload_type: None,
                workload_name: None,
                kind: Some("endpoint".into()),
                tags: vec!["endpoint".into(), "ingress".into()],
            },
            metadata,
            operations: None,
            namespace: Some(namespace.into()),
            checks: vec![serde_json::to_value(check).expect("checks serialize")],
        },
    }
}

/// The service name of a StatusService: `status-<namespace>-<name>`.
pub fn status_service_name(namespace: &str, cr_name: &str) -> String {
    format!("status-{namespace}-{cr_name}")
}

/// The document of one StatusService (no checks: its status comes from
/// the operator's health reports of the Service's ready endpoints).
pub fn status_service_document(
    node: &Node,
    namespace: &str,
    cr_name: &str,
    display_name: &str,
    service: &str,
) -> ApplyDocument {
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("kubernetesService".to_string(), serde_yaml_ng::Value::String(service.to_string()));
    ApplyDocument {
        doc: ItOpsDocument {
            version: "1".into(),
            hierarchy: node.hierarchy(),
            service: ServiceDoc {
                name: Some(status_service_name(namespace, cr_name)),
                display_name: Some(if display_name.is_empty() {
                    cr_name.to_string()
                } else {
                    display_name.to_string()
                }),
                criticality: None,
                sla_group: None,
                workload_type: None,
                workload_name: None,
                kind: Some("workload".into()),
                tags: vec!["status-service".into()],
            },
            metadata,
            operations: None,
            namespace: Some(namespace.into()),
            checks: Vec::new(),
        },
    }
}

/// A workload named by a declared service, for readiness reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    pub node_id: String,
    pub service: String,
    pub namespace: String,
    pub workload_type: String,
    pub workload_name: String,
}

/// The validated documents of a ConfigMap, with `namespace` set to the
/// ConfigMap's where absent; plus the services and workloads they declare.
#[derive(Debug, Clone)]
pub struct ConfigMapServices {
    pub documents: Vec<ApplyDocument>,
    pub services: Vec<NamespacedService>,
    pub workloads: Vec<WorkloadRef>,
}

pub fn configmap_documents(text: &str, namespace: &str) -> Result<ConfigMapServices, FieldErrors> {
    let specs = nines_core::apply::parse_documents(text)?;
    let mut documents = Vec::new();
    for d in serde_yaml_ng::Deserializer::from_str(text) {
        let v = serde_yaml_ng::Value::deserialize(d)
            .map_err(|e| FieldErrors(vec![nines_core::FieldError::new("document", "invalid_yaml", e.to_string())]))?;
        if v.is_null() {
            continue;
        }
        let mut doc: ItOpsDocument = serde_yaml_ng::from_value(v)
            .map_err(|e| FieldErrors(vec![nines_core::FieldError::invalid("document", e.to_string())]))?;
        doc.namespace.get_or_insert_with(|| namespace.to_string());
        documents.push(ApplyDocument { doc });
    }
    let mut services = Vec::new();
    let mut workloads = Vec::new();
    for s in &specs {
        let ns = s.namespace.clone().unwrap_or_else(|| namespace.to_string());
        services.push(NamespacedService {
            namespace: ns.clone(),
            node_id: s.node.to_string(),
            service: s.name.clone(),
        });
        if let (Some(t), Some(n)) = (&s.workload_type, &s.workload_name) {
            workloads.push(WorkloadRef {
                node_id: s.node.to_string(),
                service: s.name.clone(),
                namespace: ns,
                workload_type: t.clone(),
                workload_name: n.clone(),
            });
        }
    }
    Ok(ConfigMapServices { documents, services, workloads })
}

/// A service the operator registered from a ConfigMap, as remembered in
/// its [`REGISTERED_ANNOTATION`]: what the ConfigMap's finalizer deletes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredService {
    pub node_id: String,
    pub service: String,
}

/// Annotation on an `it-ops.yaml` ConfigMap listing, as JSON, the services
/// the operator registered from it.
pub const REGISTERED_ANNOTATION: &str = "operator.nines.dev/registered-services";

/// The registered services of a ConfigMap's annotation, sorted; `Err` when
/// the annotation is there but not a list of `{nodeId, service}`.
pub fn parse_registered(annotation: Option<&str>) -> Result<Vec<RegisteredService>, String> {
    let Some(text) = annotation.filter(|t| !t.trim().is_empty()) else { return Ok(Vec::new()) };
    let mut v: Vec<RegisteredService> =
        serde_json::from_str(text).map_err(|e| format!("annotation {REGISTERED_ANNOTATION}: {e}"))?;
    v.sort();
    v.dedup();
    Ok(v)
}

/// The annotation value for `services` (sorted, no duplicates).
pub fn render_registered(services: &[RegisteredService]) -> String {
    let mut v = services.to_vec();
    v.sort();
    v.dedup();
    serde_json::to_string(&v).expect("plain strings serialize")
}

/// The services a ConfigMap declares, as they are registered.
pub fn declared_services(services: &[NamespacedService]) -> Vec<RegisteredService> {
    let mut v: Vec<RegisteredService> =
        services.iter().map(|s| RegisteredService { node_id: s.node_id.clone(), service: s.service.clone() }).collect();
    v.sort();
    v.dedup();
    v
}

/// Several documents as one YAML stream, the request body of apply.
pub fn render(docs: &[ApplyDocument]) -> String {
    docs.iter().map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).expect("documents serialize"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_document_round_trips_through_the_core_parser() {
        let node = Node::parse("acme/platform/prod/c1").unwrap();
        let spec = EndpointSpec {
            display_name: "app.example.com".into(),
            remote_address: "app.example.com".into(),
            remote_port: 443,
            kind: "http".into(),
            tls: true,
            path: "/health".into(),
            timeout: 10,
            interval: 30,
            expected_status_codes: vec!["200".into()],
            expected_body: None,
            source_ingress: "webapp".into(),
        };
        let check = crate::mapping::endpoint::check_for_endpoint(&spec).unwrap();
        let d = endpoint_document(&node, "production", "app-example-com", &spec, check.clone());
        let text = render(&[d]);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text.trim_start_matches("---\n")).unwrap();
        let checks: Vec<CheckSpec> = serde_yaml_ng::from_value(v["checks"].clone()).unwrap();
        assert_eq!(checks, vec![check]);
        assert_eq!(v["checks"][0]["type"], serde_yaml_ng::Value::from("http"));
        let specs = nines_core::apply::parse_documents(&text).unwrap();
        assert_eq!(specs[0].name, "production-app-example-com");
        assert_eq!(specs[0].kind, "endpoint");
        assert_eq!(specs[0].namespace.as_deref(), Some("production"));
        assert_eq!(specs[0].node.to_string(), "acme/platform/prod/c1");
    }

    #[test]
    fn configmap_documents_get_the_namespace_and_name_workloads() {
        let text = "version: \"1\"\nhierarchy: {organization: a, platform: b, environment: c, cluster: d}\nservice: {name: pg, workloadType: statefulset, workloadName: postgresql}\n---\nversion: \"1\"\nhierarchy: {organization: a, platform: b, environment: c, cluster: d}\nservice: {name: s3}\nnamespace: other\n";
        let out = configmap_documents(text, "db").unwrap();
        assert_eq!(out.documents.len(), 2);
        assert_eq!(out.documents[0].doc.namespace.as_deref(), Some("db"));
        assert_eq!(out.documents[1].doc.namespace.as_deref(), Some("other"));
        assert_eq!(out.services.iter().map(|s| s.namespace.as_str()).collect::<Vec<_>>(), ["db", "other"]);
        assert_eq!(
            out.workloads,
            [WorkloadRef {
                node_id: "a/b/c/d".into(),
                service: "pg".into(),
                namespace: "db".into(),
                workload_type: "statefulset".into(),
                workload_name: "postgresql".into()
            }]
        );
        let rendered = render(&out.documents);
        assert_eq!(nines_core::apply::parse_documents(&rendered).unwrap().len(), 2);
        let errs = configmap_documents("version: \"1\"\nservice: {name: x}\n", "db").unwrap_err();
        assert_eq!(errs.0[0].field, "hierarchy");
    }

    #[test]
    fn registered_services_round_trip_through_the_annotation() {
        let svc = |n: &str, s: &str| RegisteredService { node_id: n.into(), service: s.into() };
        let v = vec![svc("a/b/c/d", "web"), svc("a/b/c/d", "db"), svc("a/b/c/d", "web")];
        let text = render_registered(&v);
        assert_eq!(text, r#"[{"nodeId":"a/b/c/d","service":"db"},{"nodeId":"a/b/c/d","service":"web"}]"#);
        assert_eq!(parse_registered(Some(&text)).unwrap(), vec![svc("a/b/c/d", "db"), svc("a/b/c/d", "web")]);
        assert_eq!(parse_registered(None).unwrap(), vec![]);
        assert_eq!(parse_registered(Some(" ")).unwrap(), vec![]);
        assert!(parse_registered(Some("{\"nodeId\": 1}")).unwrap_err().contains(REGISTERED_ANNOTATION));
        let declared = declared_services(&[
            NamespacedService { namespace: "x".into(), node_id: "a/b/c/d".into(), service: "web".into() },
            NamespacedService { namespace: "y".into(), node_id: "a/b/c/d".into(), service: "web".into() },
        ]);
        assert_eq!(declared, vec![svc("a/b/c/d", "web")]);
    }
}
