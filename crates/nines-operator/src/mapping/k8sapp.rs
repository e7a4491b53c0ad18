//! Meta-Secrets → K8sApp: the installation state from the last action
//! (seed table) and the artifacts linked by namespace.

use std::collections::BTreeMap;

use crate::crd::{ActionInfo, AppArtifact, BlockInfo, ChartInfo, K8sAppSpec, WorkspaceInfo};
use crate::mapping::image::{ImageRef, ImageUsage};
use crate::wire::AppItem;

/// Label values that mark a meta-Secret (`<prefix>/type: meta`).
pub const META_TYPE_LABELS: [&str; 2] = ["nines.dev/type", "polycrate.io/type"];

/// Is this Secret (by its labels) a meta-Secret?
pub fn is_meta_secret(labels: &BTreeMap<String, String>) -> bool {
    META_TYPE_LABELS.iter().any(|l| labels.get(*l).is_some_and(|v| v == "meta"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    Installed,
    Installing,
    InstallFailed,
    Uninstalled,
    Unknown,
}

impl AppState {
    pub fn as_str(self) -> &'static str {
        match self {
            AppState::Installed => "installed",
            AppState::Installing => "installing",
            AppState::InstallFailed => "install_failed",
            AppState::Uninstalled => "uninstalled",
            AppState::Unknown => "unknown",
        }
    }
}

/// The seed's table: install/success → installed, install/running →
/// installing, install/failed → install_failed, uninstall/success → uninstalled.
pub fn installation_state(action: Option<&ActionInfo>) -> AppState {
    let Some(a) = action else { return AppState::Unknown };
    match (a.name.to_ascii_lowercase().as_str(), a.status.to_ascii_lowercase().as_str()) {
        ("install", "success") => AppState::Installed,
        ("install", "running") => AppState::Installing,
        ("install", "failed") => AppState::InstallFailed,
        ("uninstall", "success") => AppState::Uninstalled,
        _ => AppState::Unknown,
    }
}

/// The K8sApp spec from a meta-Secret's decoded data; `None` without a block name.
pub fn app_spec(secret_name: &str, data: &BTreeMap<String, String>) -> Option<K8sAppSpec> {
    let get = |k: &str| data.get(k).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let block =
        get("block").or_else(|| get("name")).or_else(|| secret_name.strip_suffix(".poly").map(str::to_string))?;
    let action = get("action").map(|name| ActionInfo {
        name,
        status: get("action_status").unwrap_or_else(|| "success".into()),
        last_executed_at: get("action_executed_at"),
    });
    Some(K8sAppSpec {
        block: BlockInfo {
            name: block,
            display_name: get("display_name"),
            version: get("version"),
            app_version: get("app_version"),
            from: get("from"),
            type_: get("type"),
            flavor: get("flavor"),
            chart: get("chart").or_else(|| get("chart_name")).map(|name| ChartInfo {
                name,
                version: get("chart_version"),
                repo_url: get("chart_repo_url").or_else(|| get("chart_repo")),
            }),
        },
        workspace: WorkspaceInfo {
            name: get("workspace").unwrap_or_default(),
            organization: get("organization").unwrap_or_default(),
        },
        action,
    })
}

/// Images used in the app's namespace (the seed links them by namespace).
pub fn linked_artifacts(namespace: &str, images: &BTreeMap<ImageRef, ImageUsage>) -> Vec<AppArtifact> {
    images
        .iter()
        .filter_map(|(r, u)| {
            u.namespaces.get(namespace).map(|n| AppArtifact { name: r.cr_name(), image: r.normalized(), pod_count: *n })
        })
        .collect()
}

pub fn app_item(name: &str, namespace: &str, spec: &K8sAppSpec, artifacts: &[AppArtifact]) -> AppItem {
    AppItem {
        name: name.into(),
        namespace: namespace.into(),
        block: spec.block.name.clone(),
        version: spec.block.version.clone(),
        state: installation_state(spec.action.as_ref()).as_str().into(),
        last_action: spec.action.as_ref().map(|a| a.name.clone()),
        last_action_status: spec.action.as_ref().map(|a| a.status.clone()),
        artifacts: artifacts.iter().map(|a| a.image.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table() {
        let a = |n: &str, s: &str| ActionInfo { name: n.into(), status: s.into(), last_executed_at: None };
        let rows = [
            (Some(a("install", "success")), AppState::Installed),
            (Some(a("install", "running")), AppState::Installing),
            (Some(a("install", "failed")), AppState::InstallFailed),
            (Some(a("uninstall", "success")), AppState::Uninstalled),
            (Some(a("Install", "Success")), AppState::Installed),
            (Some(a("upgrade", "success")), AppState::Unknown),
            (None, AppState::Unknown),
        ];
        for (action, want) in rows {
            assert_eq!(installation_state(action.as_ref()), want, "{action:?}");
        }
    }

    #[test]
    fn secret_to_app_and_artifacts_by_namespace() {
        let data: BTreeMap<String, String> = [
            ("organization", "acme-corp"),
            ("workspace", "production"),
            ("block", "myapp"),
            ("name", "myapp"),
            ("namespace", "production"),
            ("version", "1.2.0"),
            ("action", "install"),
            ("action_status", "success"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let spec = app_spec("polycrate-myapp-meta", &data).unwrap();
        assert_eq!(spec.block.name, "myapp");
        assert_eq!(spec.workspace.organization, "acme-corp");
        let mut images = BTreeMap::new();
        images.insert(
            ImageRef::parse("nginx:1.25").unwrap(),
            ImageUsage { namespaces: BTreeMap::from([("production".into(), 3)]), digest: None },
        );
        images.insert(
            ImageRef::parse("redis:7").unwrap(),
            ImageUsage { namespaces: BTreeMap::from([("staging".into(), 1)]), digest: None },
        );
        let arts = linked_artifacts("production", &images);
        assert_eq!(arts.len(), 1);
        assert_eq!((arts[0].image.as_str(), arts[0].pod_count), ("docker.io/library/nginx:1.25", 3));
        let item = app_item("myapp", "production", &spec, &arts);
        assert_eq!(item.state, "installed");
        assert_eq!(item.last_action.as_deref(), Some("install"));
        assert_eq!(item.last_action_status.as_deref(), Some("success"));
        assert!(app_spec("x", &BTreeMap::new()).is_none());
        assert_eq!(app_spec("nginx.poly", &BTreeMap::new()).unwrap().block.name, "nginx");
        let labels = BTreeMap::from([("polycrate.io/type".to_string(), "meta".to_string())]);
        assert!(is_meta_secret(&labels));
    }
}
