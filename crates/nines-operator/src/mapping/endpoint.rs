//! Ingress → Endpoint: one Endpoint per Ingress host, configured by the
//! `endpoints.nines.dev/*` annotations (alias `endpoints.polycrate.io/*`;
//! when both are set the nines one wins). The HTTP check itself comes from
//! [`nines_probe::HttpCheck::from_endpoint`], so the operator and `nines
//! apply` agree on defaults and validation.

use std::collections::BTreeMap;

use nines_core::FieldError;
use nines_probe::{CheckSpec, EndpointFields, HttpCheck};

use crate::crd::{EndpointDiscoveryConfig, EndpointSpec, StatusCode};
use crate::mapping::{NamespaceFilter, object_name};

/// Annotation prefixes, in order of precedence.
pub const ANNOTATION_PREFIXES: [&str; 2] = ["endpoints.nines.dev/", "endpoints.polycrate.io/"];
/// Label on an Endpoint naming the Ingress it came from.
pub const SOURCE_INGRESS_LABEL: &str = "endpoints.nines.dev/source-ingress";

/// The value of annotation `key` under either prefix (nines first).
pub fn annotation<'a>(annotations: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    ANNOTATION_PREFIXES.iter().find_map(|p| annotations.get(&format!("{p}{key}")).map(String::as_str))
}

/// What the mapping needs of an Ingress.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngressView {
    pub name: String,
    pub namespace: String,
    pub class: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// `spec.rules[].host`, in order.
    pub hosts: Vec<String>,
    /// `spec.tls[].hosts[]`.
    pub tls_hosts: Vec<String>,
}

impl IngressView {
    pub fn from_ingress(i: &k8s_openapi::api::networking::v1::Ingress) -> Self {
        let spec = i.spec.clone().unwrap_or_default();
        IngressView {
            name: i.metadata.name.clone().unwrap_or_default(),
            namespace: i.metadata.namespace.clone().unwrap_or_default(),
            class: spec.ingress_class_name.clone().or_else(|| {
                i.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/ingress.class").cloned())
            }),
            annotations: i.metadata.annotations.clone().unwrap_or_default(),
            hosts: spec.rules.iter().flatten().filter_map(|r| r.host.clone()).collect(),
            tls_hosts: spec.tls.iter().flatten().flat_map(|t| t.hosts.clone().unwrap_or_default()).collect(),
        }
    }
}

/// Why an Ingress yields no Endpoint (its existing Endpoints are removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    DiscoveryDisabled,
    NamespaceFiltered,
    ClassFiltered,
    AnnotationDisabled,
    AnnotationIgnored,
    NoHosts,
}

/// One Endpoint to exist, with the check it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredEndpoint {
    pub name: String,
    pub spec: EndpointSpec,
    pub check: CheckSpec,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IngressOutcome {
    Skip(SkipReason),
    Endpoints(Vec<DesiredEndpoint>),
}

fn parse_bool(field: &str, v: Option<&str>, default: bool, errs: &mut Vec<FieldError>) -> bool {
    match v.map(|s| s.trim().to_ascii_lowercase()) {
        None => default,
        Some(s) if s.is_empty() => default,
        Some(s) if ["true", "yes", "1", "on"].contains(&s.as_str()) => true,
        Some(s) if ["false", "no", "0", "off"].contains(&s.as_str()) => false,
        Some(s) => {
            errs.push(FieldError::invalid(field, format!("`{s}` is not true or false")));
            default
        }
    }
}

fn tls_covers(tls_hosts: &[String], host: &str) -> bool {
    tls_hosts.iter().any(|t| {
        t == host
            || t.strip_prefix("*.").is_some_and(|suffix| {
                host.strip_suffix(suffix).is_some_and(|l| l.ends_with('.') && !l[..l.len() - 1].contains('.'))
            })
    })
}

/// The Endpoints an Ingress should have. Errors name the annotation
/// (`endpoints.nines.dev/timeout: ...`); on error nothing is changed.
pub fn endpoints_for_ingress(
    ing: &IngressView,
    cfg: &EndpointDiscoveryConfig,
) -> Result<IngressOutcome, Vec<FieldError>> {
    use IngressOutcome::Skip;
    if !cfg.enabled {
        return Ok(Skip(SkipReason::DiscoveryDisabled));
    }
    if !NamespaceFilter::new(&cfg.watch_namespaces, &cfg.ignore_namespaces).allows(&ing.namespace) {
        return Ok(Skip(SkipReason::NamespaceFiltered));
    }
    if !cfg.ingress_classes.is_empty() && !ing.class.as_ref().is_some_and(|c| cfg.ingress_classes.contains(c)) {
        return Ok(Skip(SkipReason::ClassFiltered));
    }
    let a = |k: &str| annotation(&ing.annotations, k);
    let field = |k: &str| format!("{}{k}", ANNOTATION_PREFIXES[0]);
    let mut errs = Vec::new();
    let enabled = parse_bool(&field("enabled"), a("enabled"), true, &mut errs);
    let ignore = parse_bool(&field("ignore"), a("ignore"), false, &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }
    if ignore {
        return Ok(Skip(SkipReason::AnnotationIgnored));
    }
    if !enabled {
        return Ok(Skip(SkipReason::AnnotationDisabled));
    }
    let mut hosts: Vec<&str> = Vec::new();
    for h in &ing.hosts {
        // a wildcard host names no machine to probe
        if !h.is_empty() && !h.starts_with('*') && !hosts.contains(&h.as_str()) {
            hosts.push(h);
        }
    }
    if hosts.is_empty() {
        return Ok(Skip(SkipReason::NoHosts));
    }
    let default_interval = cfg.default_check_interval.to_string();
    let mut out = Vec::new();
    for host in hosts {
        let tls = tls_covers(&ing.tls_hosts, host);
        let fields = EndpointFields {
            host,
            path: a("path"),
            timeout: a("timeout"),
            interval: a("interval").or(Some(&default_interval)),
            expected_status: a("expected-status"),
            expected_body: a("expected-body"),
            tls,
            remote_port: None,
        };
        let mut check = match HttpCheck::from_endpoint(&fields) {
            Ok(c) => c,
            Err(e) => {
                errs.extend(e.into_iter().map(|mut e| {
                    e.field = field(&e.field);
                    e
                }));
                break;
            }
        };
        check.name = Some(host.to_string());
        let check = CheckSpec::Http(check);
        let v = check.validate("check");
        if !v.is_empty() {
            errs.extend(v.into_iter().map(|mut e| {
                e.field = e.field.replace("check.timeoutSeconds", &field("timeout"));
                e.field = e.field.replace("check.intervalSeconds", &field("interval"));
                e
            }));
            break;
        }
        let CheckSpec::Http(h) = &check else { unreachable!("built as http") };
        let path = a("path").map(str::trim).filter(|p| !p.is_empty()).unwrap_or("/");
        out.push(DesiredEndpoint {
            name: object_name(&[host]),
            spec: EndpointSpec {
                display_name: host.to_string(),
                remote_address: host.to_string(),
                remote_port: if tls { 443 } else { 80 },
                kind: "http".into(),
                tls,
                path: if path.starts_with('/') { path.to_string() } else { format!("/{path}") },
                timeout: h.common().timeout_seconds as u32,
                interval: h.interval_seconds,
                expected_status_codes: h.expected_status.iter().map(|p| StatusCode(p.0.clone())).collect(),
                expected_body: h.expected_body.clone(),
                source_ingress: ing.name.clone(),
            },
            check,
        });
    }
    if errs.is_empty() { Ok(IngressOutcome::Endpoints(out)) } else { Err(errs) }
}

/// The check an existing Endpoint CR stands for (the CR is the source of
/// truth once written, so a hand-edited CR is honoured until the Ingress changes).
pub fn check_for_endpoint(spec: &EndpointSpec) -> Result<CheckSpec, Vec<FieldError>> {
    let timeout = spec.timeout.to_string();
    let interval = spec.interval.to_string();
    let status = spec.expected_status_codes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(",");
    let fields = EndpointFields {
        host: &spec.remote_address,
        path: Some(&spec.path),
        timeout: Some(&timeout),
        interval: Some(&interval),
        expected_status: Some(&status),
        expected_body: spec.expected_body.as_deref(),
        tls: spec.tls,
        remote_port: Some(spec.remote_port),
    };
    let mut h = HttpCheck::from_endpoint(&fields)?;
    h.name = Some(spec.display_name.clone());
    Ok(CheckSpec::Http(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ing(annotations: &[(&str, &str)], hosts: &[&str], tls: &[&str]) -> IngressView {
        IngressView {
            name: "webapp".into(),
            namespace: "production".into(),
            class: Some("nginx".into()),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            tls_hosts: tls.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn url(d: &DesiredEndpoint) -> &str {
        match &d.check {
            CheckSpec::Http(h) => &h.url,
            _ => unreachable!(),
        }
    }

    #[test]
    fn annotation_table() {
        let cfg = EndpointDiscoveryConfig::default();
        // (annotations, hosts, tls hosts, name, url, timeout, interval, status, body)
        type Row<'a> = (
            &'a [(&'a str, &'a str)],
            &'a [&'a str],
            &'a [&'a str],
            &'a str,
            &'a str,
            u32,
            u32,
            &'a [&'a str],
            Option<&'a str>,
        );
        let rows: &[Row] = &[
            // seed example 1: no annotations, no TLS section
            (&[], &["app.example.com"], &[], "app-example-com", "http://app.example.com/", 30, 60, &["200"], None),
            // seed example 2: custom path with TLS
            (
                &[("endpoints.polycrate.io/path", "/api/health")],
                &["api.example.com"],
                &["api.example.com"],
                "api-example-com",
                "https://api.example.com/api/health",
                30,
                60,
                &["200"],
                None,
            ),
            // seed example 3, nines prefix
            (
                &[
                    ("endpoints.nines.dev/path", "/health/ready"),
                    ("endpoints.nines.dev/interval", "30"),
                    ("endpoints.nines.dev/timeout", "10"),
                    ("endpoints.nines.dev/expected-status", "200"),
                ],
                &["pay.example.com"],
                &["pay.example.com"],
                "pay-example-com",
                "https://pay.example.com/health/ready",
                10,
                30,
                &["200"],
                None,
            ),
            // seed example 4: body check
            (
                &[
                    ("endpoints.polycrate.io/path", "/health/deep"),
                    ("endpoints.polycrate.io/expected-body", r#""database":"connected""#),
                ],
                &["db-api.example.com"],
                &["*.example.com"],
                "db-api-example-com",
                "https://db-api.example.com/health/deep",
                30,
                60,
                &["200"],
                Some(r#""database":"connected""#),
            ),
            // seed example 6: slow service
            (
                &[("endpoints.polycrate.io/timeout", "120"), ("endpoints.polycrate.io/interval", "300")],
                &["reports.example.com"],
                &["reports.example.com"],
                "reports-example-com",
                "https://reports.example.com/",
                120,
                300,
                &["200"],
                None,
            ),
            // seed example 7: redirect accepted
            (
                &[("endpoints.polycrate.io/expected-status", "302")],
                &["legacy.example.com"],
                &[],
                "legacy-example-com",
                "http://legacy.example.com/",
                30,
                60,
                &["302"],
                None,
            ),
            // both prefixes: nines wins
            (
                &[("endpoints.polycrate.io/path", "/old"), ("endpoints.nines.dev/path", "/new")],
                &["a.example.com"],
                &[],
                "a-example-com",
                "http://a.example.com/new",
                30,
                60,
                &["200"],
                None,
            ),
            // ranges and lists
            (
                &[("endpoints.nines.dev/expected-status", "200-299, 301")],
                &["b.example.com"],
                &[],
                "b-example-com",
                "http://b.example.com/",
                30,
                60,
                &["200-299", "301"],
                None,
            ),
        ];
        for (ann, hosts, tls, name, u, timeout, interval, status, body) in rows {
            let out = endpoints_for_ingress(&ing(ann, hosts, tls), &cfg).unwrap();
            let IngressOutcome::Endpoints(eps) = out else { panic!("{ann:?}: {out:?}") };
            assert_eq!(eps.len(), 1);
            let e = &eps[0];
            assert_eq!(e.name, *name);
            assert_eq!(url(e), *u, "{ann:?}");
            assert_eq!(e.spec.timeout, *timeout, "{ann:?}");
            assert_eq!(e.spec.interval, *interval, "{ann:?}");
            assert_eq!(
                e.spec.expected_status_codes,
                status.iter().map(|s| StatusCode(s.to_string())).collect::<Vec<_>>()
            );
            assert_eq!(e.spec.expected_body.as_deref(), *body);
            assert_eq!(e.spec.source_ingress, "webapp");
            // the CR maps back onto the very same check
            assert_eq!(check_for_endpoint(&e.spec).unwrap(), e.check, "{ann:?}");
        }
    }

    #[test]
    fn skip_rules() {
        let mut cfg = EndpointDiscoveryConfig::default();
        let h = &["app.example.com"][..];
        let cases: Vec<(IngressView, SkipReason)> = vec![
            (ing(&[("endpoints.polycrate.io/ignore", "true")], h, &[]), SkipReason::AnnotationIgnored),
            (ing(&[("endpoints.nines.dev/enabled", "false")], h, &[]), SkipReason::AnnotationDisabled),
            // ignore wins over enabled
            (
                ing(&[("endpoints.nines.dev/enabled", "true"), ("endpoints.nines.dev/ignore", "true")], h, &[]),
                SkipReason::AnnotationIgnored,
            ),
            (ing(&[], &["*.example.com"], &[]), SkipReason::NoHosts),
            (ing(&[], &[], &[]), SkipReason::NoHosts),
        ];
        for (i, want) in cases {
            assert_eq!(endpoints_for_ingress(&i, &cfg).unwrap(), IngressOutcome::Skip(want), "{i:?}");
        }
        cfg.ignore_namespaces = vec!["production".into()];
        assert_eq!(
            endpoints_for_ingress(&ing(&[], h, &[]), &cfg).unwrap(),
            IngressOutcome::Skip(SkipReason::NamespaceFiltered)
        );
        cfg.ignore_namespaces.clear();
        cfg.ingress_classes = vec!["traefik".into()];
        assert_eq!(
            endpoints_for_ingress(&ing(&[], h, &[]), &cfg).unwrap(),
            IngressOutcome::Skip(SkipReason::ClassFiltered)
        );
        cfg.ingress_classes.clear();
        cfg.enabled = false;
        assert_eq!(
            endpoints_for_ingress(&ing(&[], h, &[]), &cfg).unwrap(),
            IngressOutcome::Skip(SkipReason::DiscoveryDisabled)
        );
    }

    #[test]
    fn one_endpoint_per_host_and_tls_per_host() {
        let cfg = EndpointDiscoveryConfig { default_check_interval: 120, ..Default::default() };
        let i = ing(&[], &["a.example.com", "b.other.org", "a.example.com"], &["a.example.com"]);
        let IngressOutcome::Endpoints(eps) = endpoints_for_ingress(&i, &cfg).unwrap() else { panic!() };
        let got: Vec<(&str, bool, u32, &str)> =
            eps.iter().map(|e| (e.name.as_str(), e.spec.tls, e.spec.interval, url(e))).collect();
        assert_eq!(
            got,
            [
                ("a-example-com", true, 120, "https://a.example.com/"),
                ("b-other-org", false, 120, "http://b.other.org/")
            ]
        );
    }

    #[test]
    fn bad_annotations_are_named() {
        let cfg = EndpointDiscoveryConfig::default();
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                &[("endpoints.polycrate.io/timeout", "30s")],
                &["endpoints.nines.dev/timeout: `30s` is not a whole number of seconds"],
            ),
            (
                &[("endpoints.nines.dev/enabled", "maybe")],
                &["endpoints.nines.dev/enabled: `maybe` is not true or false"],
            ),
            (
                &[("endpoints.nines.dev/timeout", "90")],
                &["endpoints.nines.dev/timeout: must be less than intervalSeconds (60)"],
            ),
            (
                &[("endpoints.nines.dev/expected-status", "2xx")],
                &["endpoints.nines.dev/expected-status: `2xx` is not a status code (100-599) or range such as 200-299"],
            ),
        ];
        for (ann, want) in cases {
            let errs = endpoints_for_ingress(&ing(ann, &["x.example.com"], &[]), &cfg).unwrap_err();
            let got: Vec<String> = errs.iter().map(ToString::to_string).collect();
            assert_eq!(got, *want);
        }
    }

    #[test]
    fn tls_wildcards_cover_one_label() {
        let t = vec!["*.example.com".to_string()];
        assert!(tls_covers(&t, "a.example.com"));
        assert!(!tls_covers(&t, "a.b.example.com"));
        assert!(!tls_covers(&t, "example.com"));
    }
}
