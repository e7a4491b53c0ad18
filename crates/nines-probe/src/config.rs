//! Check configuration: the typed, strict `CheckSpec` users write in YAML or
//! JSON, its defaults (applied while parsing), `validate()` (which touches
//! nothing and reports every problem with its path), and the mapping of the
//! seed's `endpoints.*/` Ingress annotations onto an HTTP check. Running a
//! check lives in the probe modules, not here.
//!
//! The common fields (`name`, `intervalSeconds`, `timeoutSeconds`,
//! `locations`, `failureThreshold`, `successThreshold`, `quorum`) are written
//! out in every kind by the `check_kind!` macro instead of a
//! `#[serde(flatten)]` struct, because serde cannot combine `flatten` with
//! `deny_unknown_fields`. The DNS query name is `queryName`, since `name` is
//! already the common display name.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use nines_core::FieldError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// Redirects followed at most when `followRedirects` is on.
pub const MAX_REDIRECTS: u32 = 10;
/// Bytes of a response body read at most for body checks.
pub const MAX_BODY_BYTES: usize = 1 << 20;

fn default_interval_seconds() -> u32 {
    60
}
/// The timeout of a check that sets none: 10 s, or 80 % of its interval
/// when that is shorter (an `intervalSeconds: 5` check times out after 4 s).
fn default_timeout_seconds(interval_seconds: u32) -> f64 {
    (f64::from(interval_seconds) * 0.8).min(10.0)
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}
fn default_method() -> String {
    "GET".to_owned()
}
fn default_expected_status() -> Vec<StatusPattern> {
    vec![StatusPattern("200-299".to_owned())]
}
fn default_true() -> bool {
    true
}
fn default_tls_port() -> u16 {
    443
}
fn default_warning_days() -> u32 {
    30
}
fn default_critical_days() -> u32 {
    7
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}

/// The fields every check kind shares, borrowed from the kind's struct.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Common<'a> {
    pub name: Option<&'a str>,
    pub interval_seconds: u32,
    pub timeout_seconds: f64,
    pub locations: &'a [String],
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub quorum: Option<u32>,
}

macro_rules! check_kind {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct $name {
            /// Name of the check, unique within its service (a name: no
            /// whitespace or `/`). Default `<type>-<index>`, e.g. `http-0`.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub name: Option<String>,
            /// Seconds between two runs.
            #[serde(default = "default_interval_seconds")]
            #[schema(default = default_interval_seconds, minimum = 1)]
            pub interval_seconds: u32,
            /// Hard limit of one run, DNS included; less than the interval.
            /// Default 10, or 80 % of the interval when that is shorter.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub timeout_seconds: Option<f64>,
            /// Agent locations that run the check; empty means the server itself.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub locations: Vec<String>,
            /// Consecutive failures before the check is DOWN.
            #[serde(default = "default_failure_threshold")]
            #[schema(default = default_failure_threshold, minimum = 1)]
            pub failure_threshold: u32,
            /// Consecutive successes before a DOWN check is up again.
            #[serde(default = "default_success_threshold")]
            #[schema(default = default_success_threshold, minimum = 1)]
            pub success_threshold: u32,
            /// Locations that must agree before the check is DOWN, between 1
            /// and the number of locations. Default: a majority.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schema(minimum = 1)]
            pub quorum: Option<u32>,
            $($(#[$fm])* pub $f: $t,)*
        }

        impl $name {
            pub fn common(&self) -> Common<'_> {
                Common {
                    name: self.name.as_deref(),
                    interval_seconds: self.interval_seconds,
                    timeout_seconds: self.timeout_seconds.unwrap_or_else(|| default_timeout_seconds(self.interval_seconds.max(1))),
                    locations: &self.locations,
                    failure_threshold: self.failure_threshold,
                    success_threshold: self.success_threshold,
                    quorum: self.quorum,
                }
            }
        }
    };
}

check_kind! {
    /// An HTTP(S) request on a fresh connection, its status and body checked.
    pub struct HttpCheck {
        /// Absolute `http://` or `https://` URL.
        pub url: String,
        /// Request method: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
        #[serde(default = "default_method")]
        #[schema(default = default_method)]
        pub method: String,
        /// Extra request headers.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub headers: BTreeMap<String, String>,
        /// Request body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub body: Option<String>,
        /// Accepted status codes and ranges, e.g. `[200, "300-399"]`.
        #[serde(default = "default_expected_status")]
        #[schema(default = default_expected_status)]
        pub expected_status: Vec<StatusPattern>,
        /// A substring the body must contain.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expected_body: Option<String>,
        /// A regular expression the body must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub body_regex: Option<String>,
        /// A condition on the JSON body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub json_path: Option<JsonPathCondition>,
        /// Answers slower than this many milliseconds (whole probe) are DEGRADED.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(minimum = 1)]
        pub max_response_time_ms: Option<u64>,
        /// Follow up to 10 redirects; when off, a 3xx is checked as it is.
        #[serde(default, skip_serializing_if = "is_false")]
        #[schema(default = false)]
        pub follow_redirects: bool,
        /// Verify the server certificate.
        #[serde(default = "default_true", skip_serializing_if = "is_true")]
        #[schema(default = default_true)]
        pub tls_verify: bool,
    }
}

check_kind! {
    /// A TCP connection that must be accepted.
    pub struct TcpCheck {
        /// Host name or IP address to connect to.
        pub host: String,
        /// TCP port.
        #[schema(minimum = 1)]
        pub port: u16,
    }
}

check_kind! {
    /// A TLS handshake whose certificate must be valid and not expire soon.
    pub struct TlsCheck {
        /// Host name or IP address to connect to.
        pub host: String,
        /// TCP port of the TLS server.
        #[serde(default = "default_tls_port")]
        #[schema(default = default_tls_port, minimum = 1)]
        pub port: u16,
        /// SNI and verification name when it differs from `host`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub server_name: Option<String>,
        /// Expiry within this many days is DEGRADED.
        #[serde(default = "default_warning_days")]
        #[schema(default = default_warning_days)]
        pub warning_days: u32,
        /// Expiry within this many days, or expired, is DOWN (at most `warningDays`).
        #[serde(default = "default_critical_days")]
        #[schema(default = default_critical_days)]
        pub critical_days: u32,
    }
}

check_kind! {
    /// A DNS query whose answers must include the expected ones.
    pub struct DnsCheck {
        /// The name to resolve.
        pub query_name: String,
        /// Record type to ask for.
        #[serde(default)]
        #[schema(default = RecordKind::default)]
        pub record_type: RecordKind,
        /// Answers that must all be present (any answer will do when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub expected_answers: Option<Vec<String>>,
        /// Resolver `ip:port` to ask instead of the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub server: Option<String>,
    }
}

/// One check, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CheckSpec {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Tls(TlsCheck),
    Dns(DnsCheck),
}

/// DNS record types a `dns` check may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
pub enum RecordKind {
    #[default]
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "MX")]
    Mx,
    #[serde(rename = "TXT")]
    Txt,
    #[serde(rename = "NS")]
    Ns,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
            RecordKind::Cname => "CNAME",
            RecordKind::Mx => "MX",
            RecordKind::Txt => "TXT",
            RecordKind::Ns => "NS",
        }
    }
}

/// A condition on a JSON response body, e.g. `{path: "$.database", equals: "connected"}`.
///
/// `path` is a small JSONPath subset: `$`, then any of `.key`, `['key']`,
/// `["key"]` and `[index]`. Without `equals` the value must exist (and not be
/// null); with it, the value must equal it (a string `equals` also matches a
/// number or boolean with that text, so `equals: "3"` matches `3`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JsonPathCondition {
    /// Where the value is, e.g. `$.checks[0].status`.
    pub path: String,
    /// The value it must equal (any JSON value); without it, the value must
    /// exist and not be null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Value>)]
    pub equals: Option<serde_json::Value>,
}

/// One accepted status code or range as written: `200`, `"200"` or `"200-299"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusPattern(pub String);

impl utoipa::PartialSchema for StatusPattern {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(100)).maximum(Some(599)))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("A status code such as 200, or an inclusive range such as \"200-299\"."))
            .into()
    }
}
impl ToSchema for StatusPattern {}

impl StatusPattern {
    /// The inclusive range this pattern accepts.
    pub fn range(&self) -> Result<(u16, u16), String> {
        let s = self.0.trim();
        let code = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(c) if (100..=599).contains(&c) => Ok(c),
                _ => Err(format!("`{s}` is not a status code (100-599) or range such as 200-299")),
            }
        };
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (code(a)?, code(b)?);
                if a > b { Err(format!("`{s}`: range starts after it ends")) } else { Ok((a, b)) }
            }
            None => code(s).map(|c| (c, c)),
        }
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u16>() {
            Ok(c) => s.serialize_u16(c),
            Err(_) => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StatusPattern;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code such as 200 or a range such as \"200-299\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusPattern, E> {
                Ok(StatusPattern(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusPattern, E> {
                Ok(StatusPattern(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusPattern, E> {
                Ok(StatusPattern(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Human form of a list of status patterns: `200-299` or `200, 301`.
pub fn describe_status(patterns: &[StatusPattern]) -> String {
    patterns.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join(", ")
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl CheckSpec {
    pub fn common(&self) -> Common<'_> {
        match self {
            CheckSpec::Http(c) => c.common(),
            CheckSpec::Tcp(c) => c.common(),
            CheckSpec::Tls(c) => c.common(),
            CheckSpec::Dns(c) => c.common(),
        }
    }

    /// The `type` tag: a bounded label value.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Http(_) => "http",
            CheckSpec::Tcp(_) => "tcp",
            CheckSpec::Tls(_) => "tls",
            CheckSpec::Dns(_) => "dns",
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.common().interval_seconds.max(1)))
    }

    /// The hard limit of one run; a non-finite or negative value counts as the default.
    pub fn timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.common().timeout_seconds)
            .unwrap_or(Duration::from_secs_f64(default_timeout_seconds(self.common().interval_seconds.max(1))))
    }

    /// Every problem of this check, each with its path under `path`
    /// (e.g. `services[2].checks[0]`). Touches nothing: no DNS, no sockets.
    pub fn validate(&self, path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let f = |name: &str| format!("{path}.{name}");
        let c = self.common();
        if c.interval_seconds < 1 {
            errs.push(FieldError::invalid(f("intervalSeconds"), "must be at least 1"));
        }
        if !c.timeout_seconds.is_finite() || c.timeout_seconds <= 0.0 {
            errs.push(FieldError::invalid(f("timeoutSeconds"), "must be greater than 0"));
        } else if c.interval_seconds >= 1 && c.timeout_seconds >= f64::from(c.interval_seconds) {
            errs.push(FieldError::invalid(
                f("timeoutSeconds"),
                format!("must be less than intervalSeconds ({})", c.interval_seconds),
            ));
        }
        if c.failure_threshold < 1 {
            errs.push(FieldError::invalid(f("failureThreshold"), "must be at least 1"));
        }
        if c.success_threshold < 1 {
            errs.push(FieldError::invalid(f("successThreshold"), "must be at least 1"));
        }
        for (i, l) in c.locations.iter().enumerate() {
            if l.trim().is_empty() {
                errs.push(FieldError::invalid(f(&format!("locations[{i}]")), "must not be empty"));
            }
        }
        if let Some(q) = c.quorum {
            let n = c.locations.len().max(1);
            if q < 1 || q as usize > n {
                errs.push(FieldError::invalid(
                    f("quorum"),
                    format!("must be between 1 and the number of locations ({n})"),
                ));
            }
        }
        match self {
            CheckSpec::Http(h) => validate_http(h, &f, &mut errs),
            CheckSpec::Tcp(t) => {
                validate_host(&t.host, &f("host"), &mut errs);
                validate_port(t.port, &f("port"), &mut errs);
            }
            CheckSpec::Tls(t) => {
                validate_host(&t.host, &f("host"), &mut errs);
                validate_port(t.port, &f("port"), &mut errs);
                if let Some(sn) = &t.server_name
                    && rustls::pki_types::ServerName::try_from(sn.as_str()).is_err()
                {
                    errs.push(FieldError::invalid(f("serverName"), format!("`{sn}` is not a DNS name or IP address")));
                }
                if t.critical_days > t.warning_days {
                    errs.push(FieldError::invalid(
                        f("criticalDays"),
                        format!("must not exceed warningDays ({})", t.warning_days),
                    ));
                }
            }
            CheckSpec::Dns(d) => {
                validate_host(&d.query_name, &f("queryName"), &mut errs);
                if let Some(s) = &d.server
                    && let Err(e) = parse_server(s)
                {
                    errs.push(FieldError::invalid(f("server"), e));
                }
                if let Some(answers) = &d.expected_answers {
                    for (i, a) in answers.iter().enumerate() {
                        if a.trim().is_empty() {
                            errs.push(FieldError::invalid(f(&format!("expectedAnswers[{i}]")), "must not be empty"));
                        }
                    }
                }
            }
        }
        errs
    }
}

fn validate_http(h: &HttpCheck, f: &dyn Fn(&str) -> String, errs: &mut Vec<FieldError>) {
    match url::Url::parse(&h.url) {
        Err(e) => errs.push(FieldError::invalid(f("url"), format!("`{}`: {e}", h.url))),
        Ok(u) => {
            if u.scheme() != "http" && u.scheme() != "https" {
                errs.push(FieldError::invalid(f("url"), format!("unknown scheme `{}`; use http or https", u.scheme())));
            } else if u.host_str().is_none_or(str::is_empty) {
                errs.push(FieldError::invalid(f("url"), "has no host"));
            }
        }
    }
    if !METHODS.contains(&h.method.as_str()) {
        errs.push(FieldError::invalid(f("method"), format!("`{}` is not one of {}", h.method, METHODS.join(", "))));
    }
    for (k, v) in &h.headers {
        if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
            errs.push(FieldError::invalid(f(&format!("headers.{k}")), "is not a valid header name"));
        } else if hyper::header::HeaderValue::from_str(v).is_err() {
            errs.push(FieldError::invalid(f(&format!("headers.{k}")), "is not a valid header value"));
        }
    }
    if h.expected_status.is_empty() {
        errs.push(FieldError::invalid(f("expectedStatus"), "must list at least one code or range"));
    }
    for (i, p) in h.expected_status.iter().enumerate() {
        if let Err(e) = p.range() {
            errs.push(FieldError::invalid(f(&format!("expectedStatus[{i}]")), e));
        }
    }
    if let Some(re) = &h.body_regex
        && let Err(e) = regex::Regex::new(re)
    {
        let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
        errs.push(FieldError::invalid(f("bodyRegex"), format!("invalid regular expression: {first}")));
    }
    if let Some(j) = &h.json_path
        && let Err(e) = crate::jsonpath::parse(&j.path)
    {
        errs.push(FieldError::invalid(f("jsonPath.path"), e));
    }
    if h.max_response_time_ms == Some(0) {
        errs.push(FieldError::invalid(f("maxResponseTimeMs"), "must be greater than 0"));
    }
}

fn validate_host(host: &str, field: &str, errs: &mut Vec<FieldError>) {
    if host.trim().is_empty() {
        errs.push(FieldError::invalid(field, "must not be empty"));
    } else if host.contains("://") || host.contains('/') || host.chars().any(char::is_whitespace) {
        errs.push(FieldError::invalid(field, format!("`{host}` is not a host name or IP address")));
    }
}

fn validate_port(port: u16, field: &str, errs: &mut Vec<FieldError>) {
    if port == 0 {
        errs.push(FieldError::invalid(field, "must be between 1 and 65535"));
    }
}

/// Parse a resolver address `ip:port` (IPv6 as `[::1]:53`).
pub fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if s.parse::<IpAddr>().is_ok() || s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
        return Err(format!("`{s}`: missing port, write e.g. {s}:53"));
    }
    Err(format!("`{s}` is not an address ip:port"))
}

/// The fields of one discovered endpoint as the seed's Ingress annotations
/// (`endpoints.nines.dev/*`, alias `endpoints.polycrate.io/*`) and Endpoint CR
/// carry them. `None` means "annotation absent": the seed's default applies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointFields<'a> {
    /// `spec.remoteAddress` (the Ingress host).
    pub host: &'a str,
    /// `path` annotation, default `/`.
    pub path: Option<&'a str>,
    /// `timeout` annotation in seconds, default 30.
    pub timeout: Option<&'a str>,
    /// `interval` annotation in seconds, default 60.
    pub interval: Option<&'a str>,
    /// `expected-status` annotation, default `200`; also `200,301` or `200-299`.
    pub expected_status: Option<&'a str>,
    /// `expected-body` annotation: a substring the body must contain.
    pub expected_body: Option<&'a str>,
    /// `spec.tls`: https when true.
    pub tls: bool,
    /// `spec.remotePort`, default 443 with TLS and 80 without.
    pub remote_port: Option<u16>,
}

impl HttpCheck {
    /// A check with every default and the given URL.
    pub fn new(url: impl Into<String>) -> Self {
        HttpCheck {
            name: None,
            interval_seconds: default_interval_seconds(),
            timeout_seconds: None,
            locations: Vec::new(),
            failure_threshold: default_failure_threshold(),
            success_threshold: default_success_threshold(),
            quorum: None,
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            expected_status: default_expected_status(),
            expected_body: None,
            body_regex: None,
            json_path: None,
            max_response_time_ms: None,
            follow_redirects: false,
            tls_verify: true,
        }
    }

    /// Map the seed's endpoint fields one to one onto an HTTP check. Values
    /// that are not numbers are reported with the annotation's name; the
    /// result still goes through [`CheckSpec::validate`].
    pub fn from_endpoint(e: &EndpointFields<'_>) -> Result<HttpCheck, Vec<FieldError>> {
        let mut errs = Vec::new();
        let mut seconds = |field: &str, v: Option<&str>, default: u32| -> u32 {
            match v.map(str::trim) {
                None | Some("") => default,
                Some(s) => s.parse::<u32>().unwrap_or_else(|_| {
                    errs.push(FieldError::invalid(field, format!("`{s}` is not a whole number of seconds")));
                    default
                }),
            }
        };
        let timeout = seconds("timeout", e.timeout, 30);
        let interval = seconds("interval", e.interval, 60);
        let scheme = if e.tls { "https" } else { "http" };
        let port = e.remote_port.unwrap_or(if e.tls { 443 } else { 80 });
        let default_port = (e.tls && port == 443) || (!e.tls && port == 80);
        let host =
            if e.host.contains(':') && !e.host.starts_with('[') { format!("[{}]", e.host) } else { e.host.to_owned() };
        let path = e.path.map(str::trim).filter(|p| !p.is_empty()).unwrap_or("/");
        let slash = if path.starts_with('/') { "" } else { "/" };
        let url = if default_port {
            format!("{scheme}://{host}{slash}{path}")
        } else {
            format!("{scheme}://{host}:{port}{slash}{path}")
        };
        let expected_status = match e.expected_status.map(str::trim).filter(|s| !s.is_empty()) {
            None => vec![StatusPattern("200".to_owned())],
            Some(s) => s.split(',').map(|p| StatusPattern(p.trim().to_owned())).collect(),
        };
        for p in &expected_status {
            if let Err(m) = p.range() {
                errs.push(FieldError::invalid("expected-status", m));
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let mut check = HttpCheck::new(url);
        check.timeout_seconds = Some(f64::from(timeout));
        check.interval_seconds = interval;
        check.expected_status = expected_status;
        check.expected_body = e.expected_body.map(str::to_owned);
        Ok(check)
    }
}

impl From<HttpCheck> for CheckSpec {
    fn from(c: HttpCheck) -> Self {
        CheckSpec::Http(c)
    }
}
impl From<TcpCheck> for CheckSpec {
    fn from(c: TcpCheck) -> Self {
        CheckSpec::Tcp(c)
    }
}
impl From<TlsCheck> for CheckSpec {
    fn from(c: TlsCheck) -> Self {
        CheckSpec::Tls(c)
    }
}
impl From<DnsCheck> for CheckSpec {
    fn from(c: DnsCheck) -> Self {
        CheckSpec::Dns(c)
    }
}

impl TcpCheck {
    /// A check with every default.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpCheck {
            name: None,
            interval_seconds: default_interval_seconds(),
            timeout_seconds: None,
            locations: Vec::new(),
            failure_threshold: default_failure_threshold(),
            success_threshold: default_success_threshold(),
            quorum: None,
            host: host.into(),
            port,
        }
    }
}

impl TlsCheck {
    /// A check with every default.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TlsCheck {
            name: None,
            interval_seconds: default_interval_seconds(),
            timeout_seconds: None,
            locations: Vec::new(),
            failure_threshold: default_failure_threshold(),
            success_threshold: default_success_threshold(),
            quorum: None,
            host: host.into(),
            port,
            server_name: None,
            warning_days: default_warning_days(),
            critical_days: default_critical_days(),
        }
    }
}

impl DnsCheck {
    /// A check with every default.
    pub fn new(query_name: impl Into<String>, record_type: RecordKind) -> Self {
        DnsCheck {
            name: None,
            interval_seconds: default_interval_seconds(),
            timeout_seconds: None,
            locations: Vec::new(),
            failure_threshold: default_failure_threshold(),
            success_threshold: default_success_threshold(),
            quorum: None,
            query_name: query_name.into(),
            record_type,
            expected_answers: None,
            server: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Result<CheckSpec, String> {
        let de = serde_yaml_ng::Deserializer::from_str(s);
        serde_path_to_error::deserialize(de).map_err(|e| e.to_string())
    }
    fn json(s: &str) -> Result<CheckSpec, String> {
        let mut de = serde_json::Deserializer::from_str(s);
        serde_path_to_error::deserialize(&mut de).map_err(|e| e.to_string())
    }
    fn messages(c: &CheckSpec) -> Vec<String> {
        c.validate("services[2].checks[0]").iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_short_interval_alone_gets_a_timeout_below_it() {
        for (interval, want) in [(1, 0.8), (5, 4.0), (12, 9.6), (13, 10.0), (300, 10.0)] {
            let c = yaml(&format!("type: tcp\nhost: db\nport: 5432\nintervalSeconds: {interval}\n")).unwrap();
            assert!(c.validate("c").is_empty(), "{interval}: {:?}", messages(&c));
            assert!((c.common().timeout_seconds - want).abs() < 1e-9, "{interval}: {}", c.common().timeout_seconds);
            assert_eq!(c.timeout(), Duration::from_secs_f64(want));
        }
        // a timeout that is set is kept, and still checked against the interval
        let c = yaml("type: tcp\nhost: db\nport: 5432\nintervalSeconds: 5\ntimeoutSeconds: 5\n").unwrap();
        assert_eq!(messages(&c), ["services[2].checks[0].timeoutSeconds: must be less than intervalSeconds (5)"]);
    }

    #[test]
    fn defaults_are_applied_while_parsing() {
        let c = yaml("type: http\nurl: https://example.com/health\n").unwrap();
        let CheckSpec::Http(h) = &c else { panic!("{c:?}") };
        assert_eq!(h.interval_seconds, 60);
        assert_eq!(h.common().timeout_seconds, 10.0);
        assert_eq!(h.failure_threshold, 3);
        assert_eq!(h.success_threshold, 1);
        assert_eq!(h.method, "GET");
        assert_eq!(h.expected_status, vec![StatusPattern("200-299".into())]);
        assert!(h.tls_verify && !h.follow_redirects && h.locations.is_empty());
        assert!(c.validate("c").is_empty());
        assert_eq!(c, HttpCheck::new("https://example.com/health").into());

        let t = yaml("type: tls\nhost: example.com\n").unwrap();
        let CheckSpec::Tls(t) = t else { panic!() };
        assert_eq!((t.port, t.warning_days, t.critical_days), (443, 30, 7));
        let d = json(r#"{"type":"dns","queryName":"example.com"}"#).unwrap();
        let CheckSpec::Dns(d) = d else { panic!() };
        assert_eq!(d.record_type, RecordKind::A);
    }

    #[test]
    fn full_http_check_parses_and_round_trips() {
        let src = r#"
type: http
name: api
url: https://api.example.com/health
method: POST
headers: {Authorization: "Bearer x"}
body: "{}"
expectedStatus: [200, "300-399"]
expectedBody: '"database":"connected"'
bodyRegex: "ok|healthy"
jsonPath: {path: "$.database", equals: connected}
maxResponseTimeMs: 500
followRedirects: true
tlsVerify: false
intervalSeconds: 30
timeoutSeconds: 5
locations: [eu, us, ap]
quorum: 2
"#;
        let c = yaml(src).unwrap();
        assert!(c.validate("c").is_empty(), "{:?}", c.validate("c"));
        let back: CheckSpec = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let CheckSpec::Http(h) = c else { panic!() };
        assert_eq!(h.json_path.unwrap().equals, Some(serde_json::json!("connected")));
        assert_eq!(h.expected_status[1].range(), Ok((300, 399)));
    }

    #[test]
    fn serde_errors_are_clear() {
        let e = yaml("type: smtp\nhost: x\n").unwrap_err();
        assert!(e.contains("unknown variant `smtp`, expected one of `http`, `tcp`, `tls`, `dns`"), "{e}");
        let e = json(r#"{"type":"smtp"}"#).unwrap_err();
        assert!(e.contains("unknown variant `smtp`"), "{e}");
        let e = yaml("type: http\nurl: http://x/\ntimeout: 5\n").unwrap_err();
        assert!(e.contains("unknown field `timeout`, expected one of"), "{e}");
        let e = json(r#"{"type":"tcp","host":"x","port":80,"portt":1}"#).unwrap_err();
        assert!(e.contains("unknown field `portt`"), "{e}");
        let e = yaml("type: tcp\nhost: x\n").unwrap_err();
        assert!(e.contains("missing field `port`"), "{e}");
        let e = yaml("url: http://x/\n").unwrap_err();
        assert!(e.contains("missing field `type`"), "{e}");
        let e = yaml("type: dns\nqueryName: x\nrecordType: SRV\n").unwrap_err();
        assert!(e.contains("unknown variant `SRV`"), "{e}");
        let e = yaml("type: http\nurl: http://x/\njsonPath: {path: $.a, eq: 1}\n").unwrap_err();
        assert!(e.contains("unknown field `eq`"), "{e}");
    }

    /// Each invalid check with its exact messages, the way blackbox pairs
    /// `testdata/invalid-*.yml` with its error.
    #[test]
    fn invalid_checks_report_every_problem_with_its_path() {
        let cases: &[(&str, &[&str])] = &[
            (
                "type: http\nurl: http://x/\nintervalSeconds: 10\ntimeoutSeconds: 10\n",
                &["services[2].checks[0].timeoutSeconds: must be less than intervalSeconds (10)"],
            ),
            ("type: http\nurl: /health\n", &["services[2].checks[0].url: `/health`: relative URL without a base"]),
            ("type: http\nurl: ftp://x/\n", &["services[2].checks[0].url: unknown scheme `ftp`; use http or https"]),
            (
                "type: http\nurl: http://x/\nexpectedStatus: [200, \"299-200\", \"abc\", 700]\nmethod: FETCH\n",
                &[
                    "services[2].checks[0].method: `FETCH` is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
                    "services[2].checks[0].expectedStatus[1]: `299-200`: range starts after it ends",
                    "services[2].checks[0].expectedStatus[2]: `abc` is not a status code (100-599) or range such as 200-299",
                    "services[2].checks[0].expectedStatus[3]: `700` is not a status code (100-599) or range such as 200-299",
                ],
            ),
            (
                "type: http\nurl: http://x/\nbodyRegex: \"(unclosed\"\njsonPath: {path: database}\n",
                &[
                    "services[2].checks[0].bodyRegex: invalid regular expression: error: unclosed group",
                    "services[2].checks[0].jsonPath.path: `database` must start with `$`",
                ],
            ),
            (
                "type: dns\nqueryName: example.com\nserver: 127.0.0.1\nintervalSeconds: 0\nfailureThreshold: 0\n",
                &[
                    "services[2].checks[0].intervalSeconds: must be at least 1",
                    "services[2].checks[0].failureThreshold: must be at least 1",
                    "services[2].checks[0].server: `127.0.0.1`: missing port, write e.g. 127.0.0.1:53",
                ],
            ),
            (
                "type: tls\nhost: https://x/\nport: 0\nwarningDays: 5\ncriticalDays: 7\n",
                &[
                    "services[2].checks[0].host: `https://x/` is not a host name or IP address",
                    "services[2].checks[0].port: must be between 1 and 65535",
                    "services[2].checks[0].criticalDays: must not exceed warningDays (5)",
                ],
            ),
            (
                "type: tcp\nhost: db\nport: 5432\nlocations: [eu, us]\nquorum: 3\ntimeoutSeconds: 0\n",
                &[
                    "services[2].checks[0].timeoutSeconds: must be greater than 0",
                    "services[2].checks[0].quorum: must be between 1 and the number of locations (2)",
                ],
            ),
        ];
        for (src, want) in cases {
            let c = yaml(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(messages(&c), *want, "{src}");
        }
    }

    /// (fields, url, timeout, interval, expected status, expected body)
    type Case<'a> = (EndpointFields<'a>, &'a str, f64, u32, Vec<&'a str>, Option<&'a str>);

    #[test]
    fn endpoint_annotations_map_one_to_one() {
        let base = EndpointFields { host: "app.example.com", tls: true, ..Default::default() };
        let cases: Vec<Case<'_>> = vec![
            (base.clone(), "https://app.example.com/", 30.0, 60, vec!["200"], None),
            (
                EndpointFields { path: Some("/api/health"), ..base.clone() },
                "https://app.example.com/api/health",
                30.0,
                60,
                vec!["200"],
                None,
            ),
            (
                EndpointFields {
                    path: Some("/health/ready"),
                    interval: Some("30"),
                    timeout: Some("10"),
                    expected_status: Some("200"),
                    ..base.clone()
                },
                "https://app.example.com/health/ready",
                10.0,
                30,
                vec!["200"],
                None,
            ),
            (
                EndpointFields {
                    path: Some("/health/deep"),
                    expected_body: Some(r#""database":"connected""#),
                    ..base.clone()
                },
                "https://app.example.com/health/deep",
                30.0,
                60,
                vec!["200"],
                Some(r#""database":"connected""#),
            ),
            (
                EndpointFields { expected_status: Some("302"), tls: false, ..base.clone() },
                "http://app.example.com/",
                30.0,
                60,
                vec!["302"],
                None,
            ),
            (
                EndpointFields { remote_port: Some(8443), path: Some("health"), ..base.clone() },
                "https://app.example.com:8443/health",
                30.0,
                60,
                vec!["200"],
                None,
            ),
            (
                EndpointFields {
                    remote_port: Some(8080),
                    tls: false,
                    expected_status: Some("200, 301"),
                    ..base.clone()
                },
                "http://app.example.com:8080/",
                30.0,
                60,
                vec!["200", "301"],
                None,
            ),
        ];
        for (fields, url, timeout, interval, status, body) in cases {
            let h = HttpCheck::from_endpoint(&fields).unwrap();
            assert_eq!(h.url, url);
            assert_eq!(h.timeout_seconds, Some(timeout));
            assert_eq!(h.interval_seconds, interval);
            assert_eq!(h.expected_status.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), status);
            assert_eq!(h.expected_body.as_deref(), body);
            assert!(CheckSpec::Http(h).validate("e").is_empty());
        }
        // Annotations the seed shows for a slow service give a timeout the interval allows.
        let slow = EndpointFields { timeout: Some("120"), interval: Some("300"), ..base.clone() };
        assert!(CheckSpec::Http(HttpCheck::from_endpoint(&slow).unwrap()).validate("e").is_empty());
        let bad = EndpointFields { timeout: Some("30s"), expected_status: Some("2xx"), ..base };
        let errs: Vec<String> = HttpCheck::from_endpoint(&bad).unwrap_err().iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                "timeout: `30s` is not a whole number of seconds",
                "expected-status: `2xx` is not a status code (100-599) or range such as 200-299"
            ]
        );
    }
}
