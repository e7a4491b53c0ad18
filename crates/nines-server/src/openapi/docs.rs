//! `/api/docs`: the OpenAPI document as one browsable HTML page, rendered
//! on the server from the same value `/api/openapi.json` serves, so the two
//! cannot disagree. No script, no font, no CDN: the small stylesheet is
//! inline and allowed by its hash in the Content-Security-Policy, so the
//! page works air-gapped. Operations are grouped by tag, each under its own
//! anchor; the role an operation needs comes from the access table
//! ([`crate::access`]), the rule the server enforces, not from prose.
//!
//! What does not live here: the document itself (the parent module) and
//! the dashboard (`web::dashboard`).

use std::fmt::Write;
use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::access::{self, Access};
use crate::web::html::esc;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/docs", get(docs))
}

/// The methods an OpenAPI path item may carry that the server answers.
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// How deep fields of fields are listed under an operation; deeper ones
/// are a link to their schema.
const OPERATION_DEPTH: usize = 3;
/// The same in the schema section, where every referenced type has its own
/// entry.
const SCHEMA_DEPTH: usize = 2;

const CSS: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#fff;--muted:#57606a;--line:#d0d7de;--code:#f3f4f6;--link:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#0f1115;--muted:#9aa4ae;--line:#30363d;--code:#1c2128;--link:#7ab7ff}}
body{margin:0;font:15px/1.5 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header,nav,main{max-width:72rem;margin:0 auto;padding:0 1rem}
a{color:var(--link)}
code{font:13px ui-monospace,monospace;background:var(--code);padding:0 .2em;border-radius:3px;overflow-wrap:anywhere}
h1{margin:1rem 0 .25rem}h2{margin-top:2rem;border-bottom:2px solid var(--line)}h3{margin:.25rem 0}h4{margin:.75rem 0 .25rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem}
.muted{color:var(--muted)}
.op,.schema{border-top:1px solid var(--line);padding:.75rem 0}
.m{display:inline-block;min-width:4.2em;text-align:center;font:600 12px ui-monospace,monospace;border-radius:3px;padding:.1em .3em;color:#fff;background:#57606a}
.m-get{background:#0969da}.m-post{background:#1a7f37}.m-put{background:#9a6700}.m-patch{background:#8250df}.m-delete{background:#cf222e}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid var(--line)}
td:first-child{white-space:nowrap}
tr.d1 td:first-child{padding-left:1.5rem}tr.d2 td:first-child{padding-left:2.5rem}tr.d3 td:first-child{padding-left:3.5rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
nav ul{list-style:none;padding-left:0;margin:.25rem 0 .75rem}nav li{margin:.1rem 0}
nav h3{font-size:1rem}
";

/// The page, rendered once: the document changes only with the binary.
static PAGE: LazyLock<String> = LazyLock::new(|| render(&document()));

/// Scripts are refused outright; the one stylesheet is allowed by its hash.
static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        base64(&Sha256::digest(CSS.as_bytes()))
    )
});

/// The document `/api/openapi.json` serves, as a JSON value.
pub fn document() -> Value {
    serde_json::from_str(&super::document_json()).unwrap_or(Value::Null)
}

async fn docs() -> Response {
    let page: &'static str = PAGE.as_str();
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// The anchor of an operation on the page: `op-get-api-v1-services-id`.
pub fn anchor(method: &str, path: &str) -> String {
    format!("op-{}", slug(&format!("{method} {path}")))
}

fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Schema names keep their case: `Windowed_i64` and `windowed_i64` differ.
fn schema_anchor(name: &str) -> String {
    format!("schema-{}", name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "-"))
}

struct Op<'a> {
    method: &'static str,
    path: &'a str,
    op: &'a Value,
}

impl Op<'_> {
    fn access(&self) -> Access {
        let m = Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET);
        access::access(&m, self.path)
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The operations of the document grouped by tag (tags sorted, operations
/// in the document's order).
fn by_tag(doc: &Value) -> Vec<(String, Vec<Op<'_>>)> {
    let mut groups: Vec<(String, Vec<Op<'_>>)> = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else { return groups };
    for (path, item) in paths {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let method = match m {
                "get" => "GET",
                "put" => "PUT",
                "post" => "POST",
                "delete" => "DELETE",
                _ => "PATCH",
            };
            let tag = op
                .get("tags")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(Value::as_str)
                .unwrap_or("other")
                .to_string();
            let o = Op { method, path, op };
            match groups.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(o),
                None => groups.push((tag, vec![o])),
            }
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// The whole page.
pub fn render(doc: &Value) -> String {
    let info = doc.get("info").unwrap_or(&Value::Null);
    let title = str_of(info, "title");
    let version = str_of(info, "version");
    let groups = by_tag(doc);
    let mut s = String::with_capacity(512 * 1024);
    let _ = write!(
        s,
        r##"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{} API {}</title><link rel="icon" href="data:,"><style>{CSS}</style></head><body><a class="skip" href="#main">Skip to the operations</a>"##,
        esc(title),
        esc(version)
    );
    let _ = write!(s, r#"<header><h1>{} API <span class="muted">{}</span></h1>"#, esc(title), esc(version));
    s.push_str(&prose(str_of(info, "description")));
    s.push_str(concat!(
        r#"<p>The machine-readable document: <a href="/api/openapi.json">/api/openapi.json</a> "#,
        r#"(OpenAPI 3.1; this page is rendered from it).</p>"#,
        r#"<p>Send an API key in the <code>X-API-Key</code> header (or as <code>Authorization: Bearer</code>). "#,
        r#"What a key may call depends on its role; each operation names the access it needs. "#,
        r#"A key belongs to one organization (or all) and sees only that organization's data. "#,
        r#"Every error is JSON <code>{"error": {"code", "message", "field"}}</code> "#,
        r##"(<a href="#schema-ErrorBody">ErrorBody</a>), where <code>field</code> names what was wrong.</p>"##,
    ));
    s.push_str(r#"<div class="scroll"><table><thead><tr><th>Access</th><th>Who may call</th></tr></thead><tbody>"#);
    for a in [Access::Public, Access::AnyKey, Access::Push, Access::Read, Access::Operator, Access::Admin] {
        let who = if a == Access::Public { "anyone, no key needed" } else { a.who() };
        let _ = write!(s, "<tr><td><strong>{}</strong></td><td>{}</td></tr>", esc(a.as_str()), esc(who));
    }
    s.push_str("</tbody></table></div></header>");

    // table of contents
    s.push_str(r#"<nav aria-labelledby="toc"><h2 id="toc">Contents</h2>"#);
    for (tag, ops) in &groups {
        let _ = write!(s, r##"<h3><a href="#tag-{}">{}</a></h3><ul>"##, esc(&slug(tag)), esc(tag));
        for o in ops {
            let _ = write!(
                s,
                r##"<li><a href="#{}"><span class="m m-{}">{}</span> <code>{}</code></a> {}</li>"##,
                esc(&anchor(o.method, o.path)),
                o.method.to_ascii_lowercase(),
                o.method,
                esc(o.path),
                esc(str_of(o.op, "summary"))
            );
        }
        s.push_str("</ul>");
    }
    s.push_str(r##"<p><a href="#schemas">Schemas</a></p></nav>"##);

    s.push_str(r#"<main id="main" tabindex="-1">"#);
    for (tag, ops) in &groups {
        let _ = write!(s, r#"<section aria-labelledby="tag-{0}"><h2 id="tag-{0}">{1}</h2>"#, esc(&slug(tag)), esc(tag));
        for o in ops {
            operation(doc, o, &mut s);
        }
        s.push_str("</section>");
    }
    schemas(doc, &mut s);
    s.push_str("</main></body></html>");
    s
}

fn operation(doc: &Value, o: &Op<'_>, s: &mut String) {
    let id = anchor(o.method, o.path);
    let need = o.access();
    let _ = write!(
        s,
        r##"<article class="op" id="{0}"><h3><a href="#{0}"><span class="m m-{1}">{2}</span></a> <code>{3}</code></h3><p><strong>{4}</strong></p>"##,
        esc(&id),
        o.method.to_ascii_lowercase(),
        o.method,
        esc(o.path),
        esc(str_of(o.op, "summary"))
    );
    // the role has its own line below; the document's prose repeats it
    let description = str_of(o.op, "description")
        .split("\n\n")
        .filter(|p| !p.trim_start().starts_with("Access: "))
        .collect::<Vec<_>>()
        .join("\n\n");
    s.push_str(&prose(&description));
    s.push_str(r#"<dl class="meta">"#);
    let _ = write!(s, "<dt>Operation id</dt><dd><code>{}</code></dd>", esc(str_of(o.op, "operationId")));
    let role = if need == Access::Public { "anyone, no key needed" } else { need.who() };
    let _ = write!(
        s,
        r#"<dt>Role</dt><dd class="role" data-access="{0}"><strong>{0}</strong>: {1}</dd>"#,
        esc(need.as_str()),
        esc(role)
    );
    let _ = write!(s, "<dt>Security</dt><dd>{}</dd>", security(doc, o.op));
    s.push_str("</dl>");
    parameters(o.op, s);
    if let Some(body) = o.op.get("requestBody") {
        let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
        let _ = write!(s, "<h4>Request body{}</h4>", if required { "" } else { " (optional)" });
        if let Some(d) = body.get("description").and_then(Value::as_str) {
            s.push_str(&prose(d));
        }
        for (ty, media) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
            let schema = media.get("schema").unwrap_or(&Value::Null);
            let _ = write!(s, "<p><code>{}</code>: {}</p>", esc(ty), type_html(schema));
            fields_table(doc, schema, OPERATION_DEPTH, s);
        }
    }
    responses(doc, o.op, s);
    s.push_str("</article>");
}

fn security(doc: &Value, op: &Value) -> String {
    let reqs = op.get("security").or_else(|| doc.get("security")).and_then(Value::as_array);
    let names: Vec<&str> =
        reqs.into_iter().flatten().filter_map(Value::as_object).flat_map(|o| o.keys().map(String::as_str)).collect();
    if names.is_empty() {
        return "none".to_string();
    }
    let schemes = &doc["components"]["securitySchemes"];
    names
        .iter()
        .map(|n| {
            let sch = &schemes[*n];
            if str_of(sch, "type") == "apiKey" {
                format!(
                    "API key (<code>{}</code>) in the <code>{}</code> {}",
                    esc(n),
                    esc(str_of(sch, "name")),
                    esc(str_of(sch, "in"))
                )
            } else {
                format!("<code>{}</code>", esc(n))
            }
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn parameters(op: &Value, s: &mut String) {
    let Some(params) = op.get("parameters").and_then(Value::as_array).filter(|p| !p.is_empty()) else { return };
    s.push_str(concat!(
        r#"<h4>Parameters</h4><div class="scroll"><table><thead><tr>"#,
        "<th>Name</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>"
    ));
    for p in params {
        if let Some(r) = p.get("$ref").and_then(Value::as_str) {
            let _ = write!(s, r#"<tr><td colspan="5"><code>{}</code></td></tr>"#, esc(r));
            continue;
        }
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(str_of(p, "name")),
            esc(str_of(p, "in")),
            p.get("schema").map(type_html).unwrap_or_default(),
            if required { "yes" } else { "no" },
            inline(str_of(p, "description"))
        );
    }
    s.push_str("</tbody></table></div>");
}

fn responses(doc: &Value, op: &Value, s: &mut String) {
    let Some(rs) = op.get("responses").and_then(Value::as_object) else { return };
    s.push_str(concat!(
        r#"<h4>Responses</h4><div class="scroll"><table><thead><tr>"#,
        "<th>Status</th><th>Description</th><th>Body</th></tr></thead><tbody>"
    ));
    for (code, r) in rs {
        let body = r
            .get("content")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(ty, m)| format!("<code>{}</code> {}", esc(ty), m.get("schema").map(type_html).unwrap_or_default()))
            .collect::<Vec<_>>();
        let body = if body.is_empty() { r#"<span class="muted">none</span>"#.to_string() } else { body.join("<br>") };
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(code),
            inline(str_of(r, "description")),
            body
        );
    }
    s.push_str("</tbody></table></div>");
    // the fields of what a success returns; errors all share ErrorBody
    for (code, r) in rs.iter().filter(|(c, _)| c.starts_with('2')) {
        for (ty, m) in r.get("content").and_then(Value::as_object).into_iter().flatten() {
            let Some(schema) = m.get("schema") else { continue };
            if expandable(doc, schema, 0).is_empty() {
                continue;
            }
            let _ = write!(s, "<h4><code>{}</code> <code>{}</code>: {}</h4>", esc(code), esc(ty), type_html(schema));
            fields_table(doc, schema, OPERATION_DEPTH, s);
        }
    }
}

fn schemas(doc: &Value, s: &mut String) {
    let Some(all) = doc["components"]["schemas"].as_object() else { return };
    s.push_str(r#"<section aria-labelledby="schemas"><h2 id="schemas">Schemas</h2>"#);
    for (name, schema) in all {
        let _ = write!(
            s,
            r##"<article class="schema" id="{0}"><h3><a href="#{0}">{1}</a></h3>"##,
            esc(&schema_anchor(name)),
            esc(name)
        );
        s.push_str(&prose(str_of(schema, "description")));
        let _ = write!(s, "<p>Type: {}</p>", type_html(schema));
        fields_table(doc, schema, SCHEMA_DEPTH, s);
        s.push_str("</article>");
    }
    s.push_str("</section>");
}

/// The component schema a local `$ref` names.
fn lookup<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    r.strip_prefix("#/components/schemas/").and_then(|n| doc["components"]["schemas"].get(n))
}

fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

/// A schema with its `$ref`s followed.
fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match s.get("$ref").and_then(Value::as_str).and_then(|r| lookup(doc, r)) {
            Some(t) => s = t,
            None => break,
        }
    }
    s
}

/// The objects whose fields describe `s`: through references, arrays, maps
/// and unions (a nullable reference is a union with `null`).
fn expandable<'a>(doc: &'a Value, s: &'a Value, hops: usize) -> Vec<&'a Value> {
    if hops > 6 {
        return Vec::new();
    }
    let s = resolve(doc, s);
    if s.get("properties").is_some() || s.get("allOf").is_some() {
        return vec![s];
    }
    if let Some(items) = s.get("items") {
        return expandable(doc, items, hops + 1);
    }
    if let Some(ap) = s.get("additionalProperties").filter(|v| v.is_object()) {
        return expandable(doc, ap, hops + 1);
    }
    let union = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array);
    union.into_iter().flatten().flat_map(|v| expandable(doc, v, hops + 1)).collect()
}

/// What comes between a field and its own fields: `[]` for an array, `{}`
/// for a map.
fn container(doc: &Value, s: &Value, hops: usize) -> String {
    if hops > 6 {
        return String::new();
    }
    let s = resolve(doc, s);
    if let Some(items) = s.get("items") {
        return format!("[]{}", container(doc, items, hops + 1));
    }
    if let Some(ap) = s.get("additionalProperties").filter(|v| v.is_object()) {
        return format!("{{}}{}", container(doc, ap, hops + 1));
    }
    let union = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array);
    let variant = union.into_iter().flatten().find(|v| !expandable(doc, v, hops + 1).is_empty());
    variant.map(|v| container(doc, v, hops + 1)).unwrap_or_default()
}

/// An object's fields with whether each is required, `allOf` merged.
fn properties<'a>(doc: &'a Value, s: &'a Value, hops: usize) -> Vec<(&'a str, &'a Value, bool)> {
    let s = resolve(doc, s);
    let required: Vec<&str> =
        s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let mut out: Vec<(&str, &Value, bool)> = s
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v, required.contains(&k.as_str())))
        .collect();
    if hops < 6 {
        for part in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            out.extend(properties(doc, part, hops + 1));
        }
    }
    out
}

fn fields_table(doc: &Value, schema: &Value, depth: usize, s: &mut String) {
    let objects = expandable(doc, schema, 0);
    if objects.is_empty() {
        return;
    }
    let variants = objects.len() > 1;
    for (i, obj) in objects.iter().enumerate() {
        let mut rows = String::new();
        field_rows(doc, obj, "", 0, depth, &mut rows);
        if rows.is_empty() {
            continue;
        }
        if variants {
            let _ = write!(s, "<p>Variant {}: {}</p>", i + 1, type_html(obj));
        }
        s.push_str(concat!(
            r#"<div class="scroll"><table><thead><tr>"#,
            "<th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr></thead><tbody>"
        ));
        s.push_str(&rows);
        s.push_str("</tbody></table></div>");
    }
}

fn field_rows(doc: &Value, obj: &Value, prefix: &str, level: usize, depth: usize, s: &mut String) {
    for (name, prop, required) in properties(doc, obj, 0) {
        let description = match prop.get("description").and_then(Value::as_str) {
            Some(d) => d,
            None => str_of(resolve(doc, prop), "description"),
        };
        let _ = write!(
            s,
            r#"<tr class="d{}"><td><code>{}{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            level.min(3),
            esc(prefix),
            esc(name),
            type_html(prop),
            if required { "yes" } else { "no" },
            inline(description)
        );
        if level + 1 < depth {
            let inner = expandable(doc, prop, 0);
            // a union's variants would interleave; they are listed under their schema
            if let [child] = inner.as_slice() {
                let p = format!("{prefix}{name}{}.", container(doc, prop, 0));
                field_rows(doc, child, &p, level + 1, depth, s);
            }
        }
    }
}

/// A schema's type in words, as HTML: references link to their schema.
fn type_html(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = ref_name(r);
        return format!(r##"<a href="#{}">{}</a>"##, esc(&schema_anchor(name)), esc(name));
    }
    if let Some(v) = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array) {
        return v.iter().map(type_html).collect::<Vec<_>>().join(" | ");
    }
    if let Some(v) = s.get("allOf").and_then(Value::as_array) {
        return v.iter().map(type_html).collect::<Vec<_>>().join(" &amp; ");
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("<code>{}</code>", esc(&v.to_string()))).collect();
        return format!("one of {}", values.join(", "));
    }
    if let Some(c) = s.get("const") {
        return format!("<code>{}</code>", esc(&c.to_string()));
    }
    let types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut parts = Vec::new();
    for t in types {
        parts.push(match t {
            "array" => match (s.get("items"), s.get("prefixItems").and_then(Value::as_array)) {
                (_, Some(tuple)) => format!("[{}]", tuple.iter().map(type_html).collect::<Vec<_>>().join(", ")),
                (Some(items), None) => format!("array of {}", type_html(items)),
                (None, None) => "array".to_string(),
            },
            "object" => match s.get("additionalProperties").filter(|v| v.is_object()) {
                Some(ap) => format!("map of string to {}", type_html(ap)),
                None => "object".to_string(),
            },
            t => match s.get("format").and_then(Value::as_str) {
                Some(f) => format!("{} ({})", esc(t), esc(f)),
                None => esc(t).to_string(),
            },
        });
    }
    let mut out = if parts.is_empty() { "any".to_string() } else { parts.join(" | ") };
    if let Some(min) = s.get("minimum") {
        let _ = write!(out, ", ≥ {}", esc(&min.to_string()));
    }
    if let Some(max) = s.get("maximum") {
        let _ = write!(out, ", ≤ {}", esc(&max.to_string()));
    }
    out
}

/// Paragraphs of the document's prose, `code` spans kept.
fn prose(text: &str) -> String {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(|p| format!("<p>{}</p>", inline(p))).collect()
}

/// One paragraph, escaped, with `backticked` spans as code.
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // an unmatched backtick: nothing is code
        return esc(text).to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", esc(part));
        } else {
            let _ = write!(out, "{}", esc(part));
        }
    }
    out
}

/// Standard base64 with padding (for the stylesheet's hash in the CSP).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn anchors_are_stable_slugs() {
        assert_eq!(anchor("GET", "/api/v1/services/{id}"), "op-get-api-v1-services-id");
        assert_eq!(anchor("POST", "/api/v1/downtimes/{id}/acknowledge"), "op-post-api-v1-downtimes-id-acknowledge");
    }

    #[test]
    fn prose_escapes_and_keeps_code_spans() {
        assert_eq!(prose("a <b> `x<y>`\n\nsecond"), "<p>a &lt;b&gt; <code>x&lt;y&gt;</code></p><p>second</p>");
        assert_eq!(inline("odd ` tick <"), "odd ` tick &lt;");
    }

    #[test]
    fn references_resolve_to_fields_with_nesting_bounded() {
        let doc = serde_json::json!({
            "components": {"schemas": {
                "Node": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string", "description": "The <name>"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                }}
            }}
        });
        let mut s = String::new();
        fields_table(&doc, &serde_json::json!({"$ref": "#/components/schemas/Node"}), 3, &mut s);
        assert!(s.contains("<code>name</code></td><td>string</td><td>yes</td><td>The &lt;name&gt;</td>"), "{s}");
        assert!(s.contains("<code>children[].children[].name</code>"), "{s}");
        assert!(!s.contains("children[].children[].children[]."), "depth is bounded: {s}");
        assert!(s.contains(r##"array of <a href="#schema-Node">Node</a>"##), "{s}");
    }

    #[test]
    fn the_page_lists_every_operation_with_its_role() {
        let doc = document();
        let page = render(&doc);
        for (_, ops) in by_tag(&doc) {
            for o in ops {
                assert!(page.contains(&format!(r#"id="{}""#, anchor(o.method, o.path))), "{} {}", o.method, o.path);
            }
        }
        assert!(page.contains(r#"href="/api/openapi.json""#));
        assert!(!page.contains("<script"), "no script on the page");
    }

    #[test]
    fn every_link_on_the_page_lands_on_an_anchor() {
        let page = render(&document());
        let ids: std::collections::HashSet<&str> =
            page.split(r#" id=""#).skip(1).filter_map(|r| r.split('"').next()).collect();
        for target in page.split(r##"href="#"##).skip(1).filter_map(|r| r.split('"').next()) {
            assert!(ids.contains(target), "a link to #{target}, which is nowhere on the page");
        }
    }
}
