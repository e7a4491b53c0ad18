//! The Helm chart's RBAC (deploy/helm/nines-operator/templates/rbac.yaml),
//! rendered with the chart's default values (or overrides of them), and the authorizer's rule
//! matching, so that tests can hold every request the operator made to the
//! fake API server against what the chart grants.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_yaml_ng::Value;

use crate::fake_kube::Access;

/// One RBAC policy rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// What the chart grants the operator's ServiceAccount.
#[derive(Debug, Clone, PartialEq)]
pub struct Grants {
    /// ClusterRole rules: every namespace and cluster-scoped objects.
    pub cluster: Vec<Rule>,
    /// Role rules: only in the release namespace.
    pub release_namespace: Vec<Rule>,
}

fn chart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/nines-operator")
}

/// `.Values.a.b.c` looked up in values.yaml; a missing path is false, as in Helm.
fn truthy(values: &Value, path: &str) -> bool {
    let mut v = values;
    for part in path.trim_start_matches(".Values.").split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return false,
        }
    }
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        _ => true,
    }
}

/// Render the subset of Go templates rbac.yaml uses: `{{- if .Values.x }}`,
/// `{{- range .Values.x }}` over an empty list, `{{- end }}` on lines of
/// their own (nested), and inline expressions,
/// which become a placeholder (names, labels and the namespace do not matter
/// to the rules). Anything else fails loudly, so that a template the test
/// cannot render is noticed rather than misread.
pub fn render(template: &str, values: &Value) -> String {
    let mut out = String::new();
    let mut emitting = vec![true];
    for line in template.lines() {
        let t = line.trim();
        if let Some(inner) = t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
            let inner = inner.trim_matches('-').trim();
            if !*emitting.last().unwrap() && (inner.starts_with("if ") || inner.starts_with("range ")) {
                // inside a block left out: only its nesting matters
                emitting.push(false);
            } else if let Some(cond) = inner.strip_prefix("if ") {
                let cond = cond.trim();
                assert!(cond.starts_with(".Values."), "rbac.yaml: cannot render `{t}`");
                let on = *emitting.last().unwrap() && truthy(values, cond);
                emitting.push(on);
            } else if let Some(list) = inner.strip_prefix("range ") {
                // a range over an empty list emits nothing; a non-empty one
                // would need the per-namespace grants this test does not model
                let list = list.trim();
                assert!(list.starts_with(".Values.") && !truthy(values, list), "rbac.yaml: cannot render `{t}`");
                emitting.push(false);
            } else if inner == "end" {
                emitting.pop();
                assert!(!emitting.is_empty(), "rbac.yaml: unbalanced `{{{{ end }}}}`");
            } else {
                panic!("rbac.yaml: cannot render `{t}`");
            }
            continue;
        }
        if !*emitting.last().unwrap() {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("rbac.yaml: unclosed {{") + start + 2;
            out.push_str("templated");
            rest = &rest[end..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    assert_eq!(emitting.len(), 1, "rbac.yaml: unbalanced `if`");
    out
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The chart's grants from rendered rbac.yaml text.
pub fn parse(rendered: &str) -> Grants {
    let mut g = Grants { cluster: Vec::new(), release_namespace: Vec::new() };
    for doc in serde_yaml_ng::Deserializer::from_str(rendered) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("rbac.yaml renders to YAML");
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        let rules = || -> Vec<Rule> {
            v.get("rules")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .map(|r| Rule {
                    api_groups: strings(r, "apiGroups"),
                    resources: strings(r, "resources"),
                    verbs: strings(r, "verbs"),
                    resource_names: strings(r, "resourceNames"),
                    non_resource_urls: strings(r, "nonResourceURLs"),
                })
                .collect()
        };
        match kind {
            "ClusterRole" => g.cluster.extend(rules()),
            "Role" => g.release_namespace.extend(rules()),
            _ => {}
        }
    }
    g
}

/// The chart's grants, rendered with its default values.
pub fn chart() -> Grants {
    chart_with("{}")
}

/// `overrides` merged into `values` the way Helm merges `--values`: maps
/// key by key, anything else replaced.
pub fn merge_values(values: &mut Value, overrides: &Value) {
    match (values, overrides) {
        (Value::Mapping(v), Value::Mapping(o)) => {
            for (k, ov) in o {
                match v.get_mut(k) {
                    Some(vv) => merge_values(vv, ov),
                    None => {
                        v.insert(k.clone(), ov.clone());
                    }
                }
            }
        }
        (v, o) => *v = o.clone(),
    }
}

/// The chart's grants, rendered with its default values and `overrides`
/// (YAML, as given to `helm install --values`).
pub fn chart_with(overrides: &str) -> Grants {
    let dir = chart_dir();
    let mut values: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("values.yaml")).expect("values.yaml")).unwrap();
    merge_values(&mut values, &serde_yaml_ng::from_str(overrides).expect("overrides are YAML"));
    let template = std::fs::read_to_string(dir.join("templates/rbac.yaml")).expect("rbac.yaml");
    parse(&render(&template, &values))
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Does `rule` allow `a`? The authorizer's matching: verb, API group,
/// resource (`res`, `res/sub`, `*/sub` or `*`), no resourceNames (the
/// operator's requests are not all named, so a named rule is not counted).
pub fn rule_allows(rule: &Rule, a: &Access) -> bool {
    if !has(&rule.verbs, &a.verb) {
        return false;
    }
    if !a.non_resource_path.is_empty() {
        return rule.non_resource_urls.iter().any(|u| u == &a.non_resource_path || u == "*");
    }
    if !has(&rule.api_groups, &a.group) || !rule.resource_names.is_empty() {
        return false;
    }
    let combined =
        if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    rule.resources
        .iter()
        .any(|r| r == "*" || *r == combined || (!a.subresource.is_empty() && *r == format!("*/{}", a.subresource)))
}

/// Paths every authenticated client may read on a cluster with the default
/// roles (`system:public-info-viewer`, `system:discovery`); the chart need not grant them.
pub const PUBLIC_PATHS: &[&str] = &["/version", "/healthz", "/livez", "/readyz"];

/// Is `a` allowed for the operator running in `release_namespace`?
pub fn allows(g: &Grants, a: &Access, release_namespace: &str) -> bool {
    if !a.non_resource_path.is_empty() && a.verb == "get" && PUBLIC_PATHS.contains(&a.non_resource_path.as_str()) {
        return true;
    }
    g.cluster.iter().any(|r| rule_allows(r, a))
        || (a.namespace == release_namespace && g.release_namespace.iter().any(|r| rule_allows(r, a)))
}

/// The requests of `user` that `g` does not allow (deduplicated, sorted).
pub fn denied(g: &Grants, accesses: &[Access], user: &str, release_namespace: &str) -> Vec<Access> {
    let mut v: Vec<Access> = accesses
        .iter()
        .filter(|a| a.user.as_deref() == Some(user) && !allows(g, a, release_namespace))
        .cloned()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Panic with the list of requests of `user` the chart's RBAC would refuse.
pub fn assert_chart_allows(accesses: &[Access], user: &str, release_namespace: &str) {
    assert_grants_allow(&chart(), accesses, user, release_namespace)
}

/// Panic with the list of requests of `user` that `grants` (a rendering of
/// the chart) would refuse.
pub fn assert_grants_allow(grants: &Grants, accesses: &[Access], user: &str, release_namespace: &str) {
    let seen = accesses.iter().filter(|a| a.user.as_deref() == Some(user)).count();
    assert!(seen > 0, "no request of {user} recorded: is the operator's client named?");
    let refused = denied(grants, accesses, user, release_namespace);
    if std::env::var_os("NINES_TEST_RBAC_LIST").is_some() {
        // what the operator used, for reviewing the chart's grants
        let mut used: Vec<String> = accesses
            .iter()
            .filter(|a| a.user.as_deref() == Some(user))
            .map(|a| {
                let ns = if a.namespace.is_empty() {
                    "*"
                } else if a.namespace == release_namespace {
                    "release"
                } else {
                    "ns"
                };
                format!("{} {}/{}/{} {}{}", a.verb, a.group, a.resource, a.subresource, ns, a.non_resource_path)
            })
            .collect();
        used.sort();
        used.dedup();
        eprintln!("RBAC used:\n  {}", used.join("\n  "));
    }
    let lines: Vec<String> = refused
        .iter()
        .map(|a| {
            let res =
                if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
            let scope = if a.namespace.is_empty() { "cluster-wide".to_string() } else { format!("in {}", a.namespace) };
            if a.non_resource_path.is_empty() {
                format!("{} {}.{} {}", a.verb, res, if a.group.is_empty() { "core" } else { &a.group }, scope)
            } else {
                format!("{} {}", a.verb, a.non_resource_path)
            }
        })
        .collect();
    assert!(
        refused.is_empty(),
        "the chart's RBAC (deploy/helm/nines-operator/templates/rbac.yaml) refuses what the operator did:\n  {}",
        lines.join("\n  ")
    );
}
