//! Container image references → Artifact (the seed's parsing table:
//! `docker.io` and `library/` defaults, tags, digests), and the per-image
//! namespace usage aggregated from Pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::crd::{ArtifactSpec, RegistryInfo, RepositoryInfo};
use crate::mapping::object_name;
use crate::wire::{ArtifactItem, NamespaceUse};

pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageRef {
    /// Host, with `:port` when given.
    pub registry: String,
    pub repository: String,
    /// `None` when only a digest is given; `latest` when neither is.
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parse as the container runtimes do: the first path component is a
    /// registry when it has a `.` or `:` or is `localhost`; otherwise the
    /// image is on Docker Hub, where one-component names live under `library/`.
    pub fn parse(image: &str) -> Result<ImageRef, String> {
        let s = image.trim();
        if s.is_empty() {
            return Err("empty image reference".into());
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!("`{s}`: image references contain no whitespace"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) if d.contains(':') => (r, Some(d.to_string())),
            Some(_) => return Err(format!("`{s}`: digest must look like algorithm:hex")),
            None => (s, None),
        };
        // a tag is a `:` after the last `/` (a `:` before it is a registry port)
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(rest[last_slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if name.is_empty() || tag.as_deref() == Some("") {
            return Err(format!("`{s}`: missing name or tag"));
        }
        let (registry, mut repository) = match name.split_once('/') {
            Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry.to_ascii_lowercase(),
        };
        if registry == DOCKER_HUB && !repository.contains('/') {
            repository = format!("library/{repository}");
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t,
        };
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// `registry/repository[:tag][@digest]`.
    pub fn normalized(&self) -> String {
        let mut s = format!("{}/{}", self.registry, self.repository);
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The Artifact CR name, e.g. `cargo-ayedo-cloud-library-nginx-1-25-3`.
    pub fn cr_name(&self) -> String {
        let version = match (&self.tag, &self.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.chars().take(7 + 12).collect(),
            (None, None) => "latest".into(),
        };
        object_name(&[&self.registry, &self.repository, &version])
    }

    pub fn spec(&self) -> ArtifactSpec {
        let (host, port) = match self.registry.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_string(), p.parse().unwrap_or(443)),
            _ => (self.registry.clone(), 443),
        };
        let (ns, name) = match self.repository.rsplit_once('/') {
            Some((n, m)) => (n.to_string(), m.to_string()),
            None => (String::new(), self.repository.clone()),
        };
        ArtifactSpec {
            image: self.normalized(),
            registry: RegistryInfo { hostname: host, port, scheme: "https".into() },
            repository: RepositoryInfo { path: self.repository.clone(), name, namespace: ns },
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// Where one image is used: pods per namespace, and the digest the runtime reported.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageUsage {
    pub namespaces: BTreeMap<String, i64>,
    pub digest: Option<String>,
}

impl ImageUsage {
    pub fn total(&self) -> i64 {
        self.namespaces.values().sum()
    }
}

/// Every image of the pods (init and regular containers), minus excluded
/// registries, with pods counted once per namespace and image. Pods that
/// finished (Succeeded/Failed) no longer use their images.
pub fn aggregate_pods<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    allow_namespace: impl Fn(&str) -> bool,
    exclude_registries: &[String],
) -> BTreeMap<ImageRef, ImageUsage> {
    let mut out: BTreeMap<ImageRef, ImageUsage> = BTreeMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        if !allow_namespace(&ns) {
            continue;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let spec = pod.spec.clone().unwrap_or_default();
        let statuses: Vec<_> = pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten().chain(s.init_container_statuses.iter().flatten()))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
            let Some(image) = c.image.as_deref() else { continue };
            let Ok(r) = ImageRef::parse(image) else { continue };
            if exclude_registries.contains(&r.registry) || !seen.insert(r.clone()) {
                continue;
            }
            let digest = statuses
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.image_id.split_once('@').map(|(_, d)| d.to_string()))
                .filter(|d| d.contains(':'));
            let u = out.entry(r).or_default();
            *u.namespaces.entry(ns.clone()).or_insert(0) += 1;
            if u.digest.is_none() {
                u.digest = digest;
            }
        }
    }
    out
}

/// The inventory item sent to the API for one image.
pub fn artifact_item(r: &ImageRef, u: &ImageUsage) -> ArtifactItem {
    ArtifactItem {
        image: r.normalized(),
        registry: r.registry.clone(),
        repository: r.repository.clone(),
        tag: r.tag.clone(),
        digest: r.digest.clone().or(u.digest.clone()),
        used_in_namespaces: u.namespaces.iter().map(|(n, c)| NamespaceUse { name: n.clone(), pod_count: *c }).collect(),
        total_pod_count: u.total(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_table() {
        // (image, registry, repository, tag, digest, CR name)
        type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
        let rows: &[Row] = &[
            ("nginx:1.25", "docker.io", "library/nginx", Some("1.25"), None, "docker-io-library-nginx-1-25"),
            (
                "cargo.ayedo.cloud/ayedo/polycrate:0.28.0",
                "cargo.ayedo.cloud",
                "ayedo/polycrate",
                Some("0.28.0"),
                None,
                "cargo-ayedo-cloud-ayedo-polycrate-0-28-0",
            ),
            (
                "ghcr.io/org/app@sha256:abc",
                "ghcr.io",
                "org/app",
                None,
                Some("sha256:abc"),
                "ghcr-io-org-app-sha256-abc",
            ),
            ("nginx", "docker.io", "library/nginx", Some("latest"), None, "docker-io-library-nginx-latest"),
            ("bitnami/redis:7.2", "docker.io", "bitnami/redis", Some("7.2"), None, "docker-io-bitnami-redis-7-2"),
            ("docker.io/nginx", "docker.io", "library/nginx", Some("latest"), None, "docker-io-library-nginx-latest"),
            (
                "index.docker.io/library/nginx:1",
                "docker.io",
                "library/nginx",
                Some("1"),
                None,
                "docker-io-library-nginx-1",
            ),
            (
                "localhost:5000/team/app:v1",
                "localhost:5000",
                "team/app",
                Some("v1"),
                None,
                "localhost-5000-team-app-v1",
            ),
            ("localhost/app", "localhost", "app", Some("latest"), None, "localhost-app-latest"),
            ("quay.io/a/b:1.0@sha256:0123", "quay.io", "a/b", Some("1.0"), Some("sha256:0123"), "quay-io-a-b-1-0"),
            (
                "registry.example.com:8443/x/y/z",
                "registry.example.com:8443",
                "x/y/z",
                Some("latest"),
                None,
                "registry-example-com-8443-x-y-z-latest",
            ),
        ];
        for (image, registry, repo, tag, digest, name) in rows {
            let r = ImageRef::parse(image).unwrap();
            assert_eq!(r.registry, *registry, "{image}");
            assert_eq!(r.repository, *repo, "{image}");
            assert_eq!(r.tag.as_deref(), *tag, "{image}");
            assert_eq!(r.digest.as_deref(), *digest, "{image}");
            assert_eq!(r.cr_name(), *name, "{image}");
            // normalizing is idempotent
            assert_eq!(ImageRef::parse(&r.normalized()).unwrap(), r, "{image}");
        }
        for bad in ["", "nginx:", "a b", "app@nodigest"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_splits_registry_and_repository() {
        let s = ImageRef::parse("cargo.ayedo.cloud/library/nginx:1.25.3").unwrap().spec();
        assert_eq!(s.image, "cargo.ayedo.cloud/library/nginx:1.25.3");
        assert_eq!((s.registry.hostname.as_str(), s.registry.port), ("cargo.ayedo.cloud", 443));
        assert_eq!((s.repository.namespace.as_str(), s.repository.name.as_str()), ("library", "nginx"));
        let s = ImageRef::parse("localhost:5000/app:1").unwrap().spec();
        assert_eq!((s.registry.hostname.as_str(), s.registry.port), ("localhost", 5000));
    }

    fn pod(ns: &str, images: &[&str], phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": ns},
            "spec": {"containers": images.iter().enumerate().map(|(i, im)| serde_json::json!({"name": format!("c{i}"), "image": im})).collect::<Vec<_>>()},
            "status": {"phase": phase, "containerStatuses": [{"name": "c0", "image": images[0], "imageID": "docker.io/library/nginx@sha256:feed", "ready": true, "restartCount": 0}]}
        }))
        .unwrap()
    }

    #[test]
    fn pods_aggregate_by_image_and_namespace() {
        let pods = vec![
            pod("prod", &["nginx:1.25", "registry.k8s.io/pause:3.9"], "Running"),
            pod("prod", &["nginx:1.25"], "Running"),
            pod("staging", &["nginx:1.25", "nginx:1.25"], "Running"),
            pod("kube-system", &["nginx:1.25"], "Running"),
            pod("prod", &["redis:7"], "Succeeded"),
        ];
        let agg = aggregate_pods(&pods, |ns| ns != "kube-system", &["registry.k8s.io".to_string()]);
        assert_eq!(agg.len(), 1);
        let (r, u) = agg.iter().next().unwrap();
        assert_eq!(r.normalized(), "docker.io/library/nginx:1.25");
        assert_eq!(u.namespaces, BTreeMap::from([("prod".to_string(), 2), ("staging".to_string(), 1)]));
        assert_eq!(u.total(), 3);
        let item = artifact_item(r, u);
        assert_eq!(item.digest.as_deref(), Some("sha256:feed"));
        let used: Vec<(&str, i64)> = item.used_in_namespaces.iter().map(|n| (n.name.as_str(), n.pod_count)).collect();
        assert_eq!(used, [("prod", 2), ("staging", 1)]);
        assert_eq!((item.image.as_str(), item.total_pod_count), ("docker.io/library/nginx:1.25", 3));
    }
}
