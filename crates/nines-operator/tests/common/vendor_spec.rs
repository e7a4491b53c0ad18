//! The vendors' API documents as a contract for the provisioning clients:
//! [`VendorSpec`] says whether a request (method, path, query, JSON body) is
//! one the document declares, and whether an answer has a documented status
//! and shape; [`RecordingProxy`] sits between a client and the real system
//! and records every exchange so a test can hold them all to the document.
//!
//! Reads OpenAPI 3 (Keycloak) and Swagger 2 (Harbor, Argo CD) documents, in
//! JSON or YAML, from `tests/vendor/` (see its README). Request bodies are
//! checked strictly (a property the schema does not declare fails: the
//! vendor would ignore it silently, which hides a typo); answers leniently
//! (vendors add fields before they document them).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// The folder of the vendor documents: `NINES_VENDOR_SPECS`, else the
/// copies in `tests/vendor`.
pub fn specs_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NINES_VENDOR_SPECS") {
        return PathBuf::from(dir);
    }
    // the copies kept with the tests (tests/vendor/README.md says where they come from)
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vendor")
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    /// `{name}`; `rest` when its pattern lets it span `/` (`.*`).
    Param {
        name: String,
        rest: bool,
    },
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    location: String,
    required: bool,
    /// The OpenAPI 3 `schema`, or the Swagger 2 parameter itself.
    schema: Value,
}

#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    segments: Vec<Segment>,
    params: Vec<Param>,
    /// The JSON request body's schema, if the operation takes one.
    body: Option<Value>,
    /// Documented statuses (`200`, `2XX`, `default`) and their JSON schema.
    responses: BTreeMap<String, Option<Value>>,
    /// False for an operation a test allows that the document lacks: only
    /// its method and path are checked.
    documented: bool,
}

/// One vendor document, ready to judge requests and answers.
pub struct VendorSpec {
    name: String,
    doc: Value,
    base_path: String,
    ops: Vec<Operation>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

impl VendorSpec {
    /// Loads `path` (`.json`, `.yaml` or `.yml`); panics with the reason.
    pub fn load(path: impl AsRef<Path>) -> VendorSpec {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let doc: Value = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => {
                serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
            }
            _ => serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())),
        };
        VendorSpec::from_document(&path.display().to_string(), doc)
    }

    pub fn from_document(name: &str, doc: Value) -> VendorSpec {
        let base_path = if doc.get("swagger").is_some() {
            doc["basePath"].as_str().unwrap_or("").to_string()
        } else {
            // OpenAPI 3: the path part of the first server URL, if any
            let url = doc["servers"][0]["url"].as_str().unwrap_or("");
            let after_scheme = url.split_once("://").map(|(_, r)| r.split_once('/').map(|(_, p)| p).unwrap_or(""));
            match after_scheme {
                Some(p) => format!("/{p}"),
                None => url.to_string(),
            }
        };
        let base_path = base_path.trim_end_matches('/').to_string();
        let mut spec = VendorSpec { name: name.to_string(), doc, base_path, ops: vec![] };
        let paths = spec.doc["paths"].as_object().cloned().unwrap_or_default();
        for (template, item) in &paths {
            let item = spec.resolve(item).clone();
            let shared: Vec<Param> = spec.params(&item["parameters"]);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let mut params = shared.clone();
                for p in spec.params(&op["parameters"]) {
                    params.retain(|q| !(q.name == p.name && q.location == p.location));
                    params.push(p);
                }
                let body = spec.request_body(op, &params);
                let responses = spec.responses(op);
                let segments = template_segments(template, &params);
                spec.ops.push(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                    segments,
                    params,
                    body,
                    responses,
                    documented: true,
                });
            }
        }
        spec
    }

    /// Also accept `method template` (absolute, outside the base path), an
    /// endpoint the document does not cover: only method and path are
    /// checked, and no query parameter is allowed.
    pub fn allow(&mut self, method: &str, template: &str) {
        let segments = template
            .trim_start_matches('/')
            .split('/')
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param { name: name.to_string(), rest: false },
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        self.ops.push(Operation {
            method: method.to_uppercase(),
            template: template.to_string(),
            segments,
            params: vec![],
            body: None,
            responses: BTreeMap::new(),
            documented: false,
        });
    }

    /// Follows a `$ref` (`#/components/...`, `#/definitions/...`,
    /// `#/parameters/...`) to what it names.
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        let mut v = v;
        for _ in 0..16 {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                    Some(target) => v = target,
                    None => return v,
                },
                None => return v,
            }
        }
        v
    }

    fn params(&self, list: &Value) -> Vec<Param> {
        let Some(list) = list.as_array() else { return vec![] };
        list.iter()
            .map(|p| self.resolve(p))
            .map(|p| Param {
                name: p["name"].as_str().unwrap_or("").to_string(),
                location: p["in"].as_str().unwrap_or("").to_string(),
                required: p["required"].as_bool().unwrap_or(false),
                schema: p.get("schema").cloned().unwrap_or_else(|| p.clone()),
            })
            .collect()
    }

    fn request_body(&self, op: &Value, params: &[Param]) -> Option<Value> {
        // Swagger 2: a parameter `in: body`
        if let Some(p) = params.iter().find(|p| p.location == "body") {
            return Some(p.schema.clone());
        }
        let body = self.resolve(op.get("requestBody")?);
        let content = body["content"].as_object()?;
        content.iter().find(|(ct, _)| ct.contains("json")).map(|(_, c)| c.get("schema").cloned().unwrap_or(Value::Null))
    }

    fn responses(&self, op: &Value) -> BTreeMap<String, Option<Value>> {
        let Some(responses) = op["responses"].as_object() else { return BTreeMap::new() };
        responses
            .iter()
            .map(|(status, r)| {
                let r = self.resolve(r);
                let schema = r.get("schema").cloned().or_else(|| {
                    r["content"]
                        .as_object()
                        .and_then(|c| c.iter().find(|(ct, _)| ct.contains("json")))
                        .and_then(|(_, c)| c.get("schema").cloned())
                });
                (status.clone(), schema)
            })
            .collect()
    }

    /// The operation a request goes to, as the vendor's router would pick
    /// it: the template with the most literal segments matching the path.
    fn operation(&self, method: &str, path: &str) -> Result<(&Operation, BTreeMap<String, String>), String> {
        let method = method.to_uppercase();
        let raw: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let base: Vec<&str> = self.base_path.trim_start_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let mut best: Vec<(usize, &Operation, BTreeMap<String, String>)> = vec![];
        for op in &self.ops {
            // undocumented extras are absolute; documented ones under the base
            let segs: &[&str] = if op.documented {
                if raw.len() < base.len() || raw[..base.len()] != base[..] {
                    continue;
                }
                &raw[base.len()..]
            } else {
                &raw
            };
            let mut values = BTreeMap::new();
            if match_segments(&op.segments, segs, &mut values) {
                let literals = op.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
                best.push((literals, op, values));
            }
        }
        let Some(top) = best.iter().map(|b| b.0).max() else {
            return Err(format!("{method} {path}: no path of {} matches", self.name));
        };
        let candidates: Vec<_> = best.into_iter().filter(|b| b.0 == top).collect();
        let methods: Vec<String> = candidates.iter().map(|b| b.1.method.clone()).collect();
        match candidates.into_iter().find(|b| b.1.method == method) {
            Some((_, op, values)) => Ok((op, values)),
            None => Err(format!("{method} {path}: {} documents only {} on this path", self.name, methods.join(", "))),
        }
    }

    /// Whether the document declares this request: the path and method, each
    /// query parameter (name and value type, required ones present) and the
    /// JSON body against the operation's schema. `query` is the raw query
    /// string (empty for none), `path` the raw path as sent.
    pub fn check_request(&self, method: &str, path: &str, query: &str, body: Option<&Value>) -> Result<(), String> {
        let (op, path_values) = self.operation(method, path)?;
        let at = format!("{method} {path}");
        for (name, value) in &path_values {
            if let Some(p) = op.params.iter().find(|p| p.location == "path" && &p.name == name) {
                self.check_scalar(&p.schema, value).map_err(|e| format!("{at}: path parameter {name}: {e}"))?;
            }
        }
        let pairs = parse_query(query);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (name, value) in &pairs {
            let Some(p) = op.params.iter().find(|p| p.location == "query" && &p.name == name) else {
                return Err(format!(
                    "{at}: query parameter {name:?} is not declared for {} {}",
                    op.method, op.template
                ));
            };
            *seen.entry(name.as_str()).or_default() += 1;
            let schema = self.resolve(&p.schema);
            let (item, repeatable) = if schema["type"] == "array" { (&schema["items"], true) } else { (schema, false) };
            if !repeatable && seen[name.as_str()] > 1 {
                return Err(format!("{at}: query parameter {name:?} given twice"));
            }
            self.check_scalar(item, value).map_err(|e| format!("{at}: query parameter {name}: {e}"))?;
        }
        for p in op.params.iter().filter(|p| p.location == "query" && p.required) {
            if !seen.contains_key(p.name.as_str()) {
                return Err(format!("{at}: required query parameter {:?} missing", p.name));
            }
        }
        match (&op.body, body) {
            (_, None) => Ok(()),
            (None, Some(_)) if !op.documented => Ok(()),
            (None, Some(_)) => Err(format!("{at}: {} {} declares no JSON request body", op.method, op.template)),
            (Some(schema), Some(b)) => self.validate(schema, b, "body", true, 0).map_err(|e| format!("{at}: {e}")),
        }
    }

    /// Whether an answer fits the document: a success status must be
    /// documented, and a JSON body must fit its schema (unknown properties
    /// allowed). Error statuses the document leaves out pass: vendors
    /// document few of them, and the client maps them by class anyway.
    pub fn check_response(&self, method: &str, path: &str, status: u16, body: Option<&Value>) -> Result<(), String> {
        let (op, _) = self.operation(method, path)?;
        if !op.documented {
            return Ok(());
        }
        let at = format!("{method} {path} -> {status}");
        let class = format!("{}XX", status / 100);
        let declared = op
            .responses
            .get(&status.to_string())
            .or_else(|| op.responses.get(&class))
            .or_else(|| op.responses.get(&class.to_lowercase()))
            .or_else(|| op.responses.get("default"));
        match declared {
            None if (200..300).contains(&status) => Err(format!(
                "{at}: status not documented for {} {} (documented: {})",
                op.method,
                op.template,
                op.responses.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            None | Some(None) => Ok(()),
            Some(Some(schema)) => match body {
                Some(b) => self.validate(schema, b, "body", false, 0).map_err(|e| format!("{at}: {e}")),
                None => Ok(()),
            },
        }
    }

    /// A path or query value (text) against a scalar schema.
    fn check_scalar(&self, schema: &Value, value: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        let ok = match schema["type"].as_str() {
            Some("integer") => value.parse::<i64>().is_ok(),
            Some("number") => value.parse::<f64>().is_ok(),
            Some("boolean") => value == "true" || value == "false",
            _ => true,
        };
        if !ok {
            return Err(format!("{value:?} is not a {}", schema["type"]));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed
                .iter()
                .any(|a| a.as_str() == Some(value) || serde_json::from_str::<Value>(value).is_ok_and(|v| &v == a))
        {
            return Err(format!("{value:?} is not one of {}", Value::Array(allowed.clone())));
        }
        Ok(())
    }

    /// `value` against `schema`; `strict` fails properties the schema does
    /// not declare. `at` names the place for the message (`body.attributes`).
    fn validate(&self, schema: &Value, value: &Value, at: &str, strict: bool, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Ok(());
        }
        let schema = self.resolve(schema);
        // null stands for an absent property: vendors' servers read it so
        if value.is_null() || schema.as_object().is_none_or(|o| o.is_empty()) {
            return Ok(());
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alts) = schema[key].as_array() {
                let errors: Vec<String> =
                    alts.iter().filter_map(|s| self.validate(s, value, at, strict, depth + 1).err()).collect();
                if errors.len() == alts.len() {
                    return Err(format!("{at}: matches none of {key}: {}", errors.join("; ")));
                }
                return Ok(());
            }
        }
        if let Some(parts) = schema["allOf"].as_array() {
            return self.validate(&self.merge_all_of(schema, parts), value, at, strict, depth + 1);
        }
        let ty = schema["type"].as_str().or_else(|| schema.get("properties").map(|_| "object"));
        let type_ok = match ty {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            _ => true,
        };
        if !type_ok {
            return Err(format!("{at}: expected {}, got {}", ty.unwrap_or("?"), json_type(value)));
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("{at}: {value} is not one of {}", Value::Array(allowed.clone())));
        }
        match value {
            Value::Object(map) => {
                let props = schema["properties"].as_object();
                let extra = schema.get("additionalProperties");
                for (k, v) in map {
                    let here = format!("{at}.{k}");
                    match props.and_then(|p| p.get(k)) {
                        Some(s) => self.validate(s, v, &here, strict, depth + 1)?,
                        None => match extra {
                            Some(Value::Bool(false)) => return Err(format!("{here}: not a declared property")),
                            Some(Value::Bool(true)) => {}
                            Some(s) => self.validate(s, v, &here, strict, depth + 1)?,
                            // a free-form object declares no properties at all
                            None if strict && props.is_some() => {
                                return Err(format!("{here}: not a declared property"));
                            }
                            None => {}
                        },
                    }
                }
                if strict && let Some(required) = schema["required"].as_array() {
                    for r in required.iter().filter_map(Value::as_str) {
                        if !map.contains_key(r) {
                            return Err(format!("{at}: required property {r:?} missing"));
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.validate(item, v, &format!("{at}[{i}]"), strict, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One object schema from an `allOf`: the properties and requirements of
    /// every part.
    fn merge_all_of(&self, schema: &Value, parts: &[Value]) -> Value {
        let mut props = serde_json::Map::new();
        let mut required = vec![];
        let mut extra = None;
        let mut all = vec![schema.clone()];
        all.extend(parts.iter().map(|p| self.resolve(p).clone()));
        for part in &all {
            if let Some(p) = part["properties"].as_object() {
                props.extend(p.clone());
            }
            if let Some(r) = part["required"].as_array() {
                required.extend(r.clone());
            }
            if let Some(a) = part.get("additionalProperties") {
                extra = Some(a.clone());
            }
        }
        let mut merged = serde_json::json!({"type": "object", "properties": props, "required": required});
        if let Some(a) = extra {
            merged["additionalProperties"] = a;
        }
        merged
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A path template's segments; a parameter whose pattern admits `/` (as
/// JAX-RS `{path: .*}` does) spans the rest of the path.
fn template_segments(template: &str, params: &[Param]) -> Vec<Segment> {
    template
        .trim_start_matches('/')
        .split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let rest = params.iter().any(|p| {
                    p.location == "path"
                        && p.name == name
                        && p.schema["pattern"].as_str().is_some_and(|pat| pat.contains(".*") || pat.contains(".+"))
                });
                Segment::Param { name: name.to_string(), rest }
            }
            None => Segment::Literal(s.to_string()),
        })
        .collect()
}

fn match_segments(template: &[Segment], raw: &[&str], values: &mut BTreeMap<String, String>) -> bool {
    match (template.first(), raw.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(Segment::Literal(l)), Some(r)) => {
            l == &percent_decode(r) && match_segments(&template[1..], &raw[1..], values)
        }
        (Some(Segment::Param { name, rest: false }), Some(r)) => {
            if r.is_empty() {
                return false;
            }
            values.insert(name.clone(), percent_decode(r));
            match_segments(&template[1..], &raw[1..], values)
        }
        (Some(Segment::Param { name, rest: true }), Some(_)) => {
            // the longest span that lets the rest match
            for end in (1..=raw.len()).rev() {
                let mut v = values.clone();
                if match_segments(&template[1..], &raw[end..], &mut v) {
                    v.insert(name.clone(), raw[..end].iter().map(|s| percent_decode(s)).collect::<Vec<_>>().join("/"));
                    *values = v;
                    return true;
                }
            }
            false
        }
    }
}

/// `a=1&b=x%20y` as decoded pairs (`+` is a space, as in forms).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request through a [`RecordingProxy`] and its answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// As sent: still percent-encoded.
    pub path: String,
    pub query: String,
    /// The request body when it is JSON (a form, as the token endpoint
    /// takes, is not recorded: it holds the client secret).
    pub body: Option<Value>,
    pub status: u16,
    /// The answer's body when it is JSON, with tokens redacted.
    pub response: Option<Value>,
    /// Answered by the proxy itself (see [`RecordingProxy::inject`]).
    pub injected: bool,
}

#[derive(Default)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    exchanges: Mutex<Vec<Exchange>>,
    /// (path prefix, status, how many more times)
    inject: Mutex<Option<(String, u16, usize)>>,
    injected: AtomicUsize,
}

/// A loopback HTTP proxy in front of a real system that records every
/// exchange, and can answer some requests itself to provoke a client's
/// error handling.
pub struct RecordingProxy {
    pub url: String,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// A proxy to `upstream` (`http://127.0.0.1:8080`) on a free port.
    pub async fn start(upstream: &str) -> RecordingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProxyState {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            ..ProxyState::default()
        });
        let app = axum::Router::new().fallback(forward).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RecordingProxy { url, state, task }
    }

    /// Every exchange so far, in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.exchanges.lock().unwrap().clone()
    }

    /// Answer the next `times` requests whose path starts with `prefix`
    /// with `status` (and an empty body) instead of forwarding them.
    pub fn inject(&self, prefix: &str, status: u16, times: usize) {
        *self.state.inject.lock().unwrap() = Some((prefix.to_string(), status, times));
    }

    /// Every exchange checked against `spec`, requests strictly and answers
    /// leniently: the list of what does not match (empty when all do).
    pub fn violations(&self, spec: &VendorSpec) -> Vec<String> {
        let mut out = vec![];
        for x in self.exchanges() {
            if let Err(e) = spec.check_request(&x.method, &x.path, &x.query, x.body.as_ref()) {
                out.push(format!("request {e}"));
            }
            if !x.injected
                && let Err(e) = spec.check_response(&x.method, &x.path, x.status, x.response.as_ref())
            {
                out.push(format!("answer {e}"));
            }
        }
        out
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Tokens in an answer, replaced so a failing test never prints one.
fn redact(v: &mut Value) {
    if let Some(map) = v.as_object_mut() {
        for key in ["access_token", "refresh_token", "id_token"] {
            if let Some(t) = map.get_mut(key) {
                *t = Value::String("<redacted>".into());
            }
        }
    }
}

async fn forward(State(state): State<Arc<ProxyState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let is_json = |h: &axum::http::HeaderMap| {
        h.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json"))
    };
    let req_json = if is_json(&parts.headers) { serde_json::from_slice(&body).ok() } else { None };
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: req_json,
        status: 0,
        response: None,
        injected: false,
    };

    let injected = {
        let mut inject = state.inject.lock().unwrap();
        match inject.as_mut() {
            Some((prefix, status, times)) if *times > 0 && path.starts_with(prefix.as_str()) => {
                *times -= 1;
                Some(*status)
            }
            _ => None,
        }
    };
    if let Some(status) = injected {
        state.injected.fetch_add(1, Ordering::Relaxed);
        exchange.status = status;
        exchange.injected = true;
        state.exchanges.lock().unwrap().push(exchange);
        return Response::builder().status(status).body(Body::empty()).unwrap();
    }

    let target = if query.is_empty() {
        format!("{}{path}", state.upstream)
    } else {
        format!("{}{path}?{query}", state.upstream)
    };
    let mut up = state.http.request(parts.method.clone(), target);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            up = up.header(name, value);
        }
    }
    let answer = match up.body(body.to_vec()).send().await {
        Ok(a) => a,
        Err(e) => {
            exchange.status = 502;
            state.exchanges.lock().unwrap().push(exchange);
            return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::from(e.to_string())).unwrap();
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap_or_default();
    exchange.status = status.as_u16();
    if is_json(&headers) {
        exchange.response = serde_json::from_slice(&bytes).ok();
        if let Some(r) = exchange.response.as_mut() {
            redact(r);
        }
    }
    state.exchanges.lock().unwrap().push(exchange);
    let mut resp = Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            resp = resp.header(name, value);
        }
    }
    resp.body(Body::from(bytes)).unwrap()
}
