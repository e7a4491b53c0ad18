//! cert-manager `Certificate` → nines `Certificate` CR and certificate
//! report, with the seed's status mapping and the issuer filter.

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::crd::{CertificateSpec, IssuerFilter, SourceRef};
use crate::mapping::object_name;
use crate::wire::CertificateReport;

/// A certificate expiring within this is `expiring_soon`.
pub const EXPIRING_SOON: SignedDuration = SignedDuration::from_hours(30 * 24);

/// The parts of a `cert-manager.io/v1` Certificate the mapping reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmCertificate {
    #[serde(default)]
    pub spec: CmSpec,
    #[serde(default)]
    pub status: Option<CmStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmSpec {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default)]
    pub common_name: Option<String>,
    #[serde(default)]
    pub dns_names: Vec<String>,
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    #[serde(default)]
    pub issuer_ref: CmIssuerRef,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CmIssuerRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CmStatus {
    #[serde(default)]
    pub conditions: Vec<CmCondition>,
    pub not_before: Option<String>,
    pub not_after: Option<String>,
    pub renewal_time: Option<String>,
    pub revision: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CmCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertState {
    Ready,
    Pending,
    Failed,
    Expired,
    ExpiringSoon,
}

impl CertState {
    pub fn as_str(self) -> &'static str {
        match self {
            CertState::Ready => "ready",
            CertState::Pending => "pending",
            CertState::Failed => "failed",
            CertState::Expired => "expired",
            CertState::ExpiringSoon => "expiring_soon",
        }
    }
}

/// The seed's status table. A Ready certificate is checked against its
/// expiry; a not-ready one is `failed` when cert-manager says so and
/// `pending` otherwise (issuing, or no condition yet).
pub fn certificate_state(ready: Option<&CmCondition>, not_after: Option<Timestamp>, now: Timestamp) -> CertState {
    match ready {
        Some(c) if c.status == "True" => match not_after {
            Some(t) if t <= now => CertState::Expired,
            Some(t) if t < now + EXPIRING_SOON => CertState::ExpiringSoon,
            _ => CertState::Ready,
        },
        Some(c) if c.status == "False" && c.reason.as_deref() == Some("Failed") => CertState::Failed,
        _ => CertState::Pending,
    }
}

/// Include list empty = every issuer; the exclude list wins.
pub fn issuer_allowed(f: &IssuerFilter, issuer: &str) -> bool {
    !f.exclude_issuers.iter().any(|i| i == issuer)
        && (f.include_issuers.is_empty() || f.include_issuers.iter().any(|i| i == issuer))
}

/// `certmanager-<namespace>-<name>`, as in the seed.
pub fn cr_name(namespace: &str, name: &str) -> String {
    object_name(&["certmanager", namespace, name])
}

/// The nines Certificate spec for a cert-manager Certificate at `now`.
pub fn certificate_spec(name: &str, namespace: &str, uid: &str, cm: &CmCertificate, now: Timestamp) -> CertificateSpec {
    let status = cm.status.clone().unwrap_or_default();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    let not_after = status.not_after.as_deref().and_then(|s| s.parse::<Timestamp>().ok());
    let state = certificate_state(ready, not_after, now);
    let display = cm.spec.common_name.clone().or_else(|| cm.spec.dns_names.first().cloned()).unwrap_or(name.into());
    CertificateSpec {
        name: name.into(),
        display_name: display,
        namespace: namespace.into(),
        secret_name: cm.spec.secret_name.clone(),
        dns_names: cm.spec.dns_names.clone(),
        ip_addresses: cm.spec.ip_addresses.clone(),
        issuer_name: cm.spec.issuer_ref.name.clone(),
        issuer_kind: cm.spec.issuer_ref.kind.clone().unwrap_or_else(|| "Issuer".into()).to_ascii_lowercase(),
        issuer_group: cm.spec.issuer_ref.group.clone().unwrap_or_else(|| "cert-manager.io".into()),
        certificate_status: state.as_str().into(),
        is_ready: ready.is_some_and(|c| c.status == "True"),
        not_before: status.not_before.clone(),
        not_after: status.not_after.clone(),
        renewal_time: status.renewal_time.clone(),
        message: ready.filter(|c| c.status != "True").and_then(|c| c.message.clone()),
        source_cert_manager: SourceRef {
            name: name.into(),
            namespace: namespace.into(),
            uid: uid.into(),
            revision: status.revision,
        },
    }
}

/// The API report for a nines Certificate CR.
pub fn certificate_report(spec: &CertificateSpec, node_id: &str) -> CertificateReport {
    CertificateReport {
        node_id: node_id.into(),
        namespace: spec.namespace.clone(),
        name: spec.name.clone(),
        secret_name: spec.secret_name.clone(),
        dns_names: spec.dns_names.clone(),
        ip_addresses: spec.ip_addresses.clone(),
        issuer_name: spec.issuer_name.clone(),
        issuer_kind: spec.issuer_kind.clone(),
        not_before: spec.not_before.clone(),
        not_after: spec.not_after.clone(),
        renewal_time: spec.renewal_time.clone(),
        is_ready: spec.is_ready,
        certificate_status: spec.certificate_status.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(status: &str, reason: &str) -> CmCondition {
        CmCondition { type_: "Ready".into(), status: status.into(), reason: Some(reason.into()), message: None }
    }

    #[test]
    fn status_table() {
        let now: Timestamp = "2024-06-01T00:00:00Z".parse().unwrap();
        let days = |d: i64| now + SignedDuration::from_hours(24 * d);
        // (ready condition, notAfter, expected)
        let rows: Vec<(Option<CmCondition>, Option<Timestamp>, CertState)> = vec![
            (Some(cond("True", "Ready")), Some(days(90)), CertState::Ready),
            (Some(cond("True", "Ready")), None, CertState::Ready),
            (Some(cond("False", "Issuing")), Some(days(90)), CertState::Pending),
            (Some(cond("False", "Failed")), None, CertState::Failed),
            (Some(cond("True", "Ready")), Some(days(-1)), CertState::Expired),
            (Some(cond("True", "Ready")), Some(now), CertState::Expired),
            (Some(cond("True", "Ready")), Some(days(29)), CertState::ExpiringSoon),
            (Some(cond("True", "Ready")), Some(days(30)), CertState::Ready),
            (Some(cond("Unknown", "")), None, CertState::Pending),
            (None, None, CertState::Pending),
        ];
        for (c, na, want) in rows {
            assert_eq!(certificate_state(c.as_ref(), na, now), want, "{c:?} {na:?}");
        }
    }

    #[test]
    fn issuer_filter() {
        let f = |inc: &[&str], exc: &[&str]| IssuerFilter {
            include_issuers: inc.iter().map(|s| s.to_string()).collect(),
            exclude_issuers: exc.iter().map(|s| s.to_string()).collect(),
        };
        let rows = [
            (f(&[], &[]), "letsencrypt", true),
            (f(&[], &["selfsigned-issuer"]), "selfsigned-issuer", false),
            (f(&["letsencrypt"], &[]), "letsencrypt", true),
            (f(&["letsencrypt"], &[]), "other", false),
            (f(&["letsencrypt"], &["letsencrypt"]), "letsencrypt", false),
        ];
        for (filter, issuer, want) in rows {
            assert_eq!(issuer_allowed(&filter, issuer), want, "{filter:?} {issuer}");
        }
    }

    #[test]
    fn the_seed_example_maps_field_by_field() {
        let cm: CmCertificate = serde_json::from_value(serde_json::json!({
            "spec": {"secretName": "api-example-com-tls", "dnsNames": ["api.example.com"],
                     "issuerRef": {"name": "letsencrypt-production", "kind": "ClusterIssuer", "group": "cert-manager.io"}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}],
                       "notBefore": "2024-01-01T00:00:00Z", "notAfter": "2024-04-01T00:00:00Z",
                       "renewalTime": "2024-03-01T00:00:00Z", "revision": 1}
        }))
        .unwrap();
        let now: Timestamp = "2024-01-15T10:30:00Z".parse().unwrap();
        let s = certificate_spec("api-example-com-tls", "production", "abc-123", &cm, now);
        assert_eq!(cr_name("production", "api-example-com-tls"), "certmanager-production-api-example-com-tls");
        assert_eq!(s.display_name, "api.example.com");
        assert_eq!(s.issuer_kind, "clusterissuer");
        assert_eq!(s.certificate_status, "ready");
        assert!(s.is_ready);
        assert_eq!(s.source_cert_manager.revision, Some(1));
        let r = certificate_report(&s, "acme/p/prod/c1");
        assert_eq!(r.not_after.as_deref(), Some("2024-04-01T00:00:00Z"));
        assert_eq!(r.issuer_name, "letsencrypt-production");
        assert_eq!(r.issuer_kind, "clusterissuer");
        assert_eq!(r.renewal_time.as_deref(), Some("2024-03-01T00:00:00Z"));
        // the body is the contract's: snake_case fields, `nodeId`, null times as null
        let body = serde_json::to_value(&r).unwrap();
        assert_eq!(body["nodeId"], "acme/p/prod/c1");
        assert_eq!(body["secret_name"], "api-example-com-tls");
        assert_eq!(body["is_ready"], true);
        let pending = certificate_spec("x", "p", "u", &CmCertificate::default(), now);
        assert!(serde_json::to_value(certificate_report(&pending, "a/b/c/d")).unwrap()["not_after"].is_null());
        let later: Timestamp = "2024-03-10T00:00:00Z".parse().unwrap();
        assert_eq!(certificate_spec("x", "p", "u", &cm, later).certificate_status, "expiring_soon");
    }
}
