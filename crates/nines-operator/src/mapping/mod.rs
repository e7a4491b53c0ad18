//! Pure mappings from what Kubernetes shows to nines' model: no I/O, no
//! clock (callers pass `now`). Each module holds one discovery source and
//! its table test; the reconcilers and the API client consume the results.

pub mod apply;
pub mod certmanager;
pub mod cnpg;
pub mod endpoint;
pub mod image;
pub mod k8sapp;
pub mod node;
pub mod status_service;
pub mod tenant;
pub mod velero;
pub mod workload;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which namespaces a discovery looks at: `watch` empty means all;
/// `ignore` always wins (seed: "ignore_namespaces wird von watch_namespaces subtrahiert").
#[derive(Debug, Clone, Copy)]
pub struct NamespaceFilter<'a> {
    pub watch: &'a [String],
    pub ignore: &'a [String],
}

impl<'a> NamespaceFilter<'a> {
    pub fn new(watch: &'a [String], ignore: &'a [String]) -> Self {
        Self { watch, ignore }
    }

    pub fn allows(&self, namespace: &str) -> bool {
        if self.ignore.iter().any(|n| n == namespace) {
            return false;
        }
        self.watch.is_empty() || self.watch.iter().any(|n| n == namespace)
    }
}

/// A label value from free text: at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric (other characters become `-`).
pub fn label_value(s: &str) -> String {
    let v: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).take(63).collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// Does a label selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated,
/// all must hold) match `labels`? An empty selector matches everything.
pub fn selector_matches(selector: &str, labels: &std::collections::BTreeMap<String, String>) -> bool {
    selector.split(',').map(str::trim).filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            labels.get(k.trim()).map(String::as_str) != Some(v.trim())
        } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
            labels.get(k.trim()).map(String::as_str) == Some(v.trim())
        } else if let Some(k) = t.strip_prefix('!') {
            !labels.contains_key(k.trim())
        } else {
            labels.contains_key(t)
        }
    })
}

/// Hash of what is sent to the API: 16 hex digits of SHA-256 over the JSON
/// form. A CR is synced again only when this changes (or on resync).
pub fn config_hash<T: Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).expect("plain data serializes");
    Sha256::digest(&bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A Kubernetes object name (DNS subdomain, at most 253 characters) from
/// free text: lowercase, every run of other characters becomes one `-`,
/// no `-` at either end; over-long names keep a hash suffix so they stay unique.
pub fn object_name(parts: &[&str]) -> String {
    let mut s = String::new();
    for c in parts.join("-").chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.len() <= 253 {
        return if s.is_empty() { "unnamed".into() } else { s };
    }
    let h = config_hash(&parts);
    format!("{}-{h}", s[..236].trim_end_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_filter_ignore_wins() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // (watch, ignore, namespace, allowed)
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "prod", true),
            (&[], &["kube-system"], "kube-system", false),
            (&[], &["kube-system"], "prod", true),
            (&["prod", "staging"], &[], "prod", true),
            (&["prod", "staging"], &[], "dev", false),
            (&["prod"], &["prod"], "prod", false),
        ];
        for (watch, ignore, ns, want) in cases {
            let (w, i) = (v(watch), v(ignore));
            assert_eq!(NamespaceFilter::new(&w, &i).allows(ns), *want, "{watch:?} {ignore:?} {ns}");
        }
    }

    #[test]
    fn config_hash_is_stable_and_sensitive() {
        let a = config_hash(&serde_json::json!({"path": "/", "interval": 60}));
        assert_eq!(a.len(), 16);
        assert_eq!(a, config_hash(&serde_json::json!({"path": "/", "interval": 60})));
        assert_ne!(a, config_hash(&serde_json::json!({"path": "/health", "interval": 60})));
    }

    #[test]
    fn object_names() {
        let cases = [
            (vec!["app.example.com"], "app-example-com"),
            (vec!["certmanager", "production", "api-example-com-tls"], "certmanager-production-api-example-com-tls"),
            (vec!["cargo.ayedo.cloud", "library/nginx", "1.25.3"], "cargo-ayedo-cloud-library-nginx-1-25-3"),
            (vec!["*.Example.COM"], "example-com"),
            (vec!["---"], "unnamed"),
        ];
        for (parts, want) in cases {
            assert_eq!(object_name(&parts), want);
        }
        let long = "a".repeat(300);
        let n = object_name(&[&long]);
        assert!(n.len() <= 253 && n.starts_with("aaa"));
        assert_ne!(n, object_name(&[&format!("{long}b")]));
    }

    #[test]
    fn label_values_and_selectors() {
        assert_eq!(label_value("letsencrypt-prod"), "letsencrypt-prod");
        assert_eq!(label_value("library/nginx:1.25"), "library-nginx-1.25");
        assert_eq!(label_value("-x-"), "x");
        assert_eq!(label_value(&"a".repeat(80)).len(), 63);
        let labels: std::collections::BTreeMap<String, String> =
            [("role", "worker"), ("zone", "a")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let rows = [
            ("", true),
            ("role=worker", true),
            ("role==worker", true),
            ("role=control-plane", false),
            ("role!=control-plane", true),
            ("zone", true),
            ("!zone", false),
            ("!gpu", true),
            ("role=worker, zone=a", true),
            ("role=worker,zone=b", false),
        ];
        for (sel, want) in rows {
            assert_eq!(selector_matches(sel, &labels), want, "{sel}");
        }
    }
}

/// `POST /api/v1/backup/report`: one finished backup of one service, as the
/// backup mappings (Velero, CloudNativePG) build it and the API client sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    pub service: String,
    pub node_id: String,
    /// `success` or `failed`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
