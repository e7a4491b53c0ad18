//! CRD generation: every nines kind as a `CustomResourceDefinition`, rendered
//! as YAML for `nines operator crds`, `install-crds` and the Helm chart (whose
//! `crds/` folder is checked for drift by `tests/crd_drift.rs`).

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::crd::*;

/// Every CRD, discovery and config kinds first, then the tenant kinds.
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        OperatorConfig::crd(),
        Endpoint::crd(),
        Certificate::crd(),
        Backup::crd(),
        BackupSchedule::crd(),
        K8sApp::crd(),
        Artifact::crd(),
        K8sCluster::crd(),
        StatusService::crd(),
        StatusServiceGroup::crd(),
        SoftwareDeliveryPlatform::crd(),
        Organization::crd(),
        Contact::crd(),
        ContactGroup::crd(),
        GitLabGroup::crd(),
        HarborProject::crd(),
        ArgoCDProject::crd(),
    ]
}

/// The CRD whose kind, plural, singular or short name is `name` (any case).
pub fn find_crd(name: &str) -> Option<CustomResourceDefinition> {
    let n = name.to_ascii_lowercase();
    all_crds().into_iter().find(|c| {
        let names = &c.spec.names;
        names.kind.to_ascii_lowercase() == n
            || names.plural == n
            || names.singular.as_deref() == Some(n.as_str())
            || names.short_names.iter().flatten().any(|s| *s == n)
    })
}

/// One YAML document, as `kubectl apply -f` takes it.
pub fn to_yaml(crd: &CustomResourceDefinition) -> String {
    serde_yaml_ng::to_string(crd).expect("a CRD always serializes")
}

/// Several CRDs as one multi-document YAML stream.
pub fn to_yaml_stream(crds: &[CustomResourceDefinition]) -> String {
    crds.iter().map(|c| format!("---\n{}", to_yaml(c))).collect()
}

/// `<plural>.<group>.yaml`, the file name in `--output-dir` and the chart.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// Write one file per CRD into `dir` (created when missing); returns the paths written.
pub fn write_dir(dir: &Path, crds: &[CustomResourceDefinition]) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for c in crds {
        let p = dir.join(file_name(c));
        std::fs::write(&p, to_yaml(c))?;
        out.push(p);
    }
    Ok(out)
}

/// The `--list` table: kind, short names, scope, full name.
pub fn list_table(crds: &[CustomResourceDefinition]) -> String {
    let rows: Vec<[String; 4]> = crds
        .iter()
        .map(|c| {
            [
                c.spec.names.kind.clone(),
                c.spec.names.short_names.clone().unwrap_or_default().join(","),
                c.spec.scope.clone(),
                c.metadata.name.clone().unwrap_or_default(),
            ]
        })
        .collect();
    crate::table::render(&["KIND", "SHORTNAMES", "SCOPE", "NAME"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventeen_kinds_with_the_seed_short_names_and_a_status_subresource() {
        let crds = all_crds();
        assert_eq!(crds.len(), 17);
        let expect = [
            ("OperatorConfig", "Namespaced", vec!["oc", "opcfg"]),
            ("Endpoint", "Namespaced", vec!["ep", "pep"]),
            ("Certificate", "Namespaced", vec!["cert", "pcert"]),
            ("Backup", "Namespaced", vec!["backup"]),
            ("BackupSchedule", "Namespaced", vec!["bs"]),
            ("K8sApp", "Namespaced", vec!["app", "pca"]),
            ("Artifact", "Cluster", vec!["art"]),
            ("K8sCluster", "Namespaced", vec!["k8sc"]),
            ("StatusService", "Namespaced", vec!["ssvc"]),
            ("StatusServiceGroup", "Namespaced", vec!["ssg"]),
            ("SoftwareDeliveryPlatform", "Namespaced", vec!["sdp"]),
            ("Organization", "Namespaced", vec!["org"]),
            ("Contact", "Namespaced", vec!["ct"]),
            ("ContactGroup", "Namespaced", vec!["cg"]),
            ("GitLabGroup", "Namespaced", vec!["glg"]),
            ("HarborProject", "Namespaced", vec!["hp"]),
            ("ArgoCDProject", "Namespaced", vec!["acp"]),
        ];
        for (crd, (kind, scope, short)) in crds.iter().zip(expect) {
            assert_eq!(crd.spec.names.kind, kind);
            assert_eq!(crd.spec.group, "nines.dev");
            assert_eq!(crd.spec.scope, scope, "{kind}");
            assert_eq!(crd.spec.names.short_names.clone().unwrap_or_default(), short, "{kind}");
            let v = &crd.spec.versions[0];
            assert_eq!(v.name, "v1alpha1");
            assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(), "{kind} status subresource");
            assert!(v.additional_printer_columns.as_ref().is_some_and(|c| !c.is_empty()), "{kind} printer columns");
        }
    }

    #[test]
    fn find_by_kind_plural_or_short_name() {
        for n in ["Organization", "organizations", "org", "ORG"] {
            assert_eq!(find_crd(n).unwrap().spec.names.kind, "Organization", "{n}");
        }
        assert_eq!(find_crd("pcert").unwrap().spec.names.kind, "Certificate");
        assert!(find_crd("nope").is_none());
    }

    #[test]
    fn yaml_round_trips_and_lists() {
        let crds = all_crds();
        let y = to_yaml_stream(&crds);
        assert_eq!(y.matches("---\n").count(), 17);
        let back: CustomResourceDefinition = serde_yaml_ng::from_str(&to_yaml(&crds[1])).unwrap();
        assert_eq!(back.metadata.name.as_deref(), Some("endpoints.nines.dev"));
        assert_eq!(file_name(&crds[6]), "artifacts.nines.dev.yaml");
        let t = list_table(&crds);
        assert!(t.lines().next().unwrap().starts_with("KIND"));
        assert!(t.contains("Artifact") && t.contains("Cluster"));
    }
}
