//! The RBAC check the end-to-end suites run (every request the operator
//! made to the fake API server against the Helm chart's rules) is itself
//! checked here: the chart renders, the authorizer's matching is followed,
//! and a rule taken away is noticed.

mod common;
mod fake_kube;

use common::rbac::{self, Grants, Rule};
use fake_kube::Access;

const RELEASE_NS: &str = "nines";

fn access(verb: &str, group: &str, resource: &str, sub: &str, ns: &str) -> Access {
    Access {
        user: Some(common::OPERATOR_USER.into()),
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        subresource: sub.into(),
        namespace: ns.into(),
        non_resource_path: String::new(),
    }
}

/// What the operator needs in any cluster: a sample across its controllers.
fn needed() -> Vec<Access> {
    vec![
        access("watch", "", "configmaps", "", ""),
        access("patch", "", "configmaps", "", "shop"),
        access("get", "apps", "deployments", "", "shop"),
        access("list", "discovery.k8s.io", "endpointslices", "", "shop"),
        access("patch", "nines.dev", "endpoints", "", "shop"),
        access("patch", "nines.dev", "endpoints", "status", "shop"),
        access("delete", "nines.dev", "artifacts", "", ""),
        access("list", "velero.io", "backups", "", ""),
        access("create", "events.k8s.io", "events", "", "shop"),
        access("get", "", "secrets", "", RELEASE_NS),
        access("get", "nines.dev", "operatorconfigs", "", RELEASE_NS),
        access("watch", "", "secrets", "", ""),
    ]
}

fn without(g: &Grants, pick: impl Fn(&Rule) -> bool) -> Grants {
    Grants {
        cluster: g.cluster.iter().filter(|r| !pick(r)).cloned().collect(),
        release_namespace: g.release_namespace.iter().filter(|r| !pick(r)).cloned().collect(),
    }
}

#[test]
fn the_chart_allows_what_the_operator_needs() {
    let g = rbac::chart();
    assert!(!g.cluster.is_empty() && !g.release_namespace.is_empty(), "{g:?}");
    assert_eq!(rbac::denied(&g, &needed(), common::OPERATOR_USER, RELEASE_NS), vec![]);
}

#[test]
fn a_rule_taken_away_is_noticed() {
    let g = rbac::chart();
    let refused_without =
        |pick: &dyn Fn(&Rule) -> bool| rbac::denied(&without(&g, pick), &needed(), common::OPERATOR_USER, RELEASE_NS);
    // ConfigMaps: watched, and patched for the finalizer and the annotation
    let refused = refused_without(&|r| r.resources.iter().any(|x| x == "configmaps"));
    assert_eq!(refused, vec![access("patch", "", "configmaps", "", "shop"), access("watch", "", "configmaps", "", "")]);
    // status writes need the status subresource
    let refused = refused_without(&|r| r.resources.iter().any(|x| x == "endpoints/status"));
    assert_eq!(refused, vec![access("patch", "nines.dev", "endpoints", "status", "shop")]);
    // the operator key and the OperatorConfig are read through the Role, in the release namespace only
    let refused = refused_without(&|r| g.release_namespace.contains(r));
    assert_eq!(
        refused,
        vec![
            access("get", "", "secrets", "", RELEASE_NS),
            access("get", "nines.dev", "operatorconfigs", "", RELEASE_NS)
        ]
    );
    for a in [access("get", "", "secrets", "", "shop"), access("get", "nines.dev", "operatorconfigs", "", "shop")] {
        assert!(!rbac::allows(&g, &a, RELEASE_NS), "{a:?} allowed outside the release namespace");
    }
}

#[test]
fn matching_follows_the_authorizer() {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| Rule {
        api_groups: groups.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        resource_names: vec![],
        non_resource_urls: vec![],
    };
    let status = access("patch", "nines.dev", "endpoints", "status", "shop");
    // a resource does not cover its subresources; `*/status` and `*` do
    assert!(!rbac::rule_allows(&rule(&["nines.dev"], &["endpoints"], &["patch"]), &status));
    assert!(rbac::rule_allows(&rule(&["nines.dev"], &["endpoints/status"], &["patch"]), &status));
    assert!(rbac::rule_allows(&rule(&["nines.dev"], &["*/status"], &["patch"]), &status));
    assert!(rbac::rule_allows(&rule(&["*"], &["*"], &["*"]), &status));
    // group and verb must match
    assert!(!rbac::rule_allows(&rule(&[""], &["*/status"], &["patch"]), &status));
    assert!(!rbac::rule_allows(&rule(&["nines.dev"], &["*/status"], &["update"]), &status));
    // a Role's rules hold in the release namespace only
    let g = Grants { cluster: vec![], release_namespace: vec![rule(&[""], &["secrets"], &["get"])] };
    assert!(rbac::allows(&g, &access("get", "", "secrets", "", RELEASE_NS), RELEASE_NS));
    assert!(!rbac::allows(&g, &access("get", "", "secrets", "", "shop"), RELEASE_NS));
    assert!(!rbac::allows(&g, &access("list", "", "secrets", "", ""), RELEASE_NS));
    // /version is public on every cluster
    let version = Access { non_resource_path: "/version".into(), ..access("get", "", "", "", "") };
    assert!(rbac::allows(&g, &version, RELEASE_NS));
}

#[test]
fn the_template_renders_with_the_values() {
    let template = "rules:\n  - apiGroups: [\"\"]\n    resources: [\"nodes\"]\n    verbs: [\"get\"]\n  {{- if .Values.a.on }}\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: [\"list\"]\n  {{- end }}\nmetadata:\n  name: {{ include \"x\" . }}\n";
    let on: serde_yaml_ng::Value = serde_yaml_ng::from_str("a: {on: true}").unwrap();
    let off: serde_yaml_ng::Value = serde_yaml_ng::from_str("a: {on: false}").unwrap();
    let doc = |v| format!("kind: ClusterRole\n{}", rbac::render(template, v));
    assert_eq!(rbac::parse(&doc(&on)).cluster.len(), 2);
    assert_eq!(rbac::parse(&doc(&off)).cluster.len(), 1);
    assert!(rbac::render(template, &on).contains("name: templated"));
}

#[test]
fn secrets_are_listed_only_with_app_discovery_on() {
    let list = access("list", "", "secrets", "", "");
    let watch = access("watch", "", "secrets", "", "");
    let on = rbac::chart();
    assert!(rbac::allows(&on, &list, RELEASE_NS) && rbac::allows(&on, &watch, RELEASE_NS));
    let off = rbac::chart_with("operatorConfig: {spec: {app_discovery: {enabled: false}}}");
    assert!(!rbac::allows(&off, &list, RELEASE_NS) && !rbac::allows(&off, &watch, RELEASE_NS));
    // the override changes only that: the rest of the values stay
    assert_eq!(off.cluster.len() + 1, on.cluster.len());
    assert!(rbac::allows(&off, &access("get", "", "secrets", "", RELEASE_NS), RELEASE_NS));
}
