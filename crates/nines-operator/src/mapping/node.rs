//! Nodes → the host inventory (`PUT /api/v1/inventory/hosts`), with the
//! seed's field table: name/hostname, ExternalIP (else InternalIP) as
//! default_ipv4, CPU cores, memory in MB, architecture, provider id.

use k8s_openapi::api::core::v1::Node;

use crate::wire::HostItem;

/// Parse a Kubernetes quantity (`4`, `3500m`, `16318412Ki`, `2Gi`, `1e3`) into a number of units.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    for (s, mul) in suffixes {
        if let Some(n) = q.strip_suffix(s) {
            return n.parse::<f64>().ok().map(|v| v * mul);
        }
    }
    q.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// The inventory entry of one Node.
pub fn node_inventory(n: &Node) -> HostItem {
    let status = n.status.clone().unwrap_or_default();
    let info = status.node_info.clone().unwrap_or_default();
    let cap = status.capacity.clone().unwrap_or_default();
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    let mut roles: Vec<String> = n
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string))
        .filter(|r| !r.is_empty())
        .collect();
    roles.sort();
    let addr = |t: &str| status.addresses.iter().flatten().find(|a| a.type_ == t).map(|a| a.address.clone());
    let name = n.metadata.name.clone().unwrap_or_default();
    let nonempty = |s: String| Some(s).filter(|s| !s.is_empty());
    HostItem {
        hostname: addr("Hostname").or(Some(name.clone())),
        name,
        default_ipv4: addr("ExternalIP")
            .or_else(|| addr("InternalIP"))
            .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        resource_cpu_cores: cap.get("cpu").and_then(|q| parse_quantity(&q.0)),
        resource_memory_mb: cap
            .get("memory")
            .and_then(|q| parse_quantity(&q.0))
            .map(|v| (v / 1_048_576.0).round() as i64),
        resource_cpu_architecture: nonempty(info.architecture),
        provider_id: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
        ready,
        roles,
        kubelet_version: nonempty(info.kubelet_version),
        os_image: nonempty(info.os_image),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let rows = [
            ("4", Some(4.0)),
            ("3500m", Some(3.5)),
            ("16318412Ki", Some(16318412.0 * 1024.0)),
            ("2Gi", Some(2.0 * 1024f64.powi(3))),
            ("1G", Some(1e9)),
            ("1e3", Some(1000.0)),
            ("lots", None),
        ];
        for (q, want) in rows {
            assert_eq!(parse_quantity(q), want, "{q}");
        }
    }

    #[test]
    fn node_fields() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "worker-1", "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "x": "y"}},
            "spec": {"providerID": "hcloud://1"},
            "status": {
                "capacity": {"cpu": "4", "memory": "8Gi"},
                "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "ExternalIP", "address": "203.0.113.7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "nodeInfo": {"architecture": "amd64", "kubeletVersion": "v1.33.1", "osImage": "Debian 13",
                             "bootID": "", "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
                             "machineID": "", "operatingSystem": "linux", "systemUUID": ""}
            }
        }))
        .unwrap();
        let c = node_inventory(&n);
        assert_eq!(c.name, "worker-1");
        assert!(c.ready);
        assert_eq!(c.roles, ["control-plane", "worker"]);
        assert_eq!(c.kubelet_version.as_deref(), Some("v1.33.1"));
        assert_eq!(c.resource_cpu_cores, Some(4.0));
        assert_eq!(c.resource_memory_mb, Some(8 * 1024));
        assert_eq!(c.resource_cpu_architecture.as_deref(), Some("amd64"));
        assert_eq!(c.provider_id.as_deref(), Some("hcloud://1"));
        assert_eq!(c.default_ipv4.as_deref(), Some("203.0.113.7"));
        assert_eq!(c.hostname.as_deref(), Some("worker-1"));
    }
}
