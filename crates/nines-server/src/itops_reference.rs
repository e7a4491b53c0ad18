//! The reference of the it-ops document, `docs/it-ops.md`, generated from
//! the schemas of the types that parse the document
//! ([`nines_core::apply::ItOpsDocument`] and, for its `checks`,
//! [`nines_probe::config::CheckSpec`]): every field with its path, type,
//! whether it is required, its default, its allowed values and its doc
//! comment, and an example per section taken from one complete example
//! document. A test compares it with the committed file;
//! `nines docs it-ops --output docs/it-ops.md` regenerates it.
//!
//! To document a field, write its doc comment (and `#[schema(default = ...)]`
//! next to a `#[serde(default = ...)]`) on the type; nothing here names a
//! field except `checks`, which the core keeps raw for the probe engine.

use std::fmt::Write as _;

use serde_yaml_ng::{Mapping, Value};
use utoipa::ToSchema;

use nines_core::apply::ItOpsDocument;
use nines_probe::config::CheckSpec;

/// A complete document: every field of the reference appears in it (a test
/// checks that, and that it applies).
pub const EXAMPLE: &str = r#"# One service per document; separate several with a line "---".
version: "1"
hierarchy:
  organization: myorg
  platform: shop
  environment: prod
  cluster: eu1
  service: checkout-db              # or only service.name
service:
  name: checkout-db
  displayName: Checkout database
  criticality: critical
  slaGroup: payments
  workloadType: statefulset         # the operator reports its readiness
  workloadName: checkout-db
  type: database
  tags: [database, payments]
namespace: shop
metadata:
  owner: team-payments              # free-form, shown on the service page
  serviceType: PostgreSQL
  allocatedStorage: "107374182400"  # 100 GiB
  usedStorage: "53687091200"
  freePercent: "50"
  usedBy:
    - name: checkout-api
      displayName: Checkout API
operations:
  backup:
    expected: true
    maxAgeDays: 1
    schedule: "0 2 * * *"
    storageSize: 100Gi
checks:
  - type: http
    name: health
    url: https://shop.example.com/health
    expectedStatus: [200, "300-399"]
    expectedBody: '"database":"connected"'
    jsonPath: {path: $.database, equals: connected}
    maxResponseTimeMs: 2000         # slower answers are DEGRADED
    intervalSeconds: 30
    timeoutSeconds: 10
    locations: [eu, us, ap]         # run by agents there
    quorum: 2
    failureThreshold: 3
    successThreshold: 1
  - type: http
    name: search
    url: https://shop.example.com/api/search
    method: POST
    headers: {Content-Type: application/json}
    body: '{"q": "socks"}'
    bodyRegex: '"hits":\s*[1-9]'
    followRedirects: true
    tlsVerify: false
  - type: tcp
    host: checkout-db.shop.svc
    port: 5432
  - type: tls
    host: shop.example.com
    port: 443
    serverName: www.shop.example.com
    warningDays: 30
    criticalDays: 7
  - type: dns
    queryName: shop.example.com
    recordType: A
    expectedAnswers: [203.0.113.10]
    server: 192.0.2.53:53
"#;

/// The smallest document nines accepts.
pub const MINIMAL: &str = r#"version: "1"
hierarchy: {organization: myorg, platform: shop, environment: prod, cluster: eu1}
service: {name: checkout-api}
"#;

/// The top-level field the core keeps raw, and the type that parses its items.
const CHECKS: &str = "checks";

/// One documented field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// e.g. `checks[].expectedStatus`
    pub path: String,
    pub ty: String,
    pub required: bool,
    pub default: Option<String>,
    pub allowed: Option<String>,
    pub description: String,
}

/// A part of the document: a top-level object or one check kind.
#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub description: String,
    pub fields: Vec<Field>,
    /// YAML showing this part of [`EXAMPLE`].
    pub example: String,
}

/// The schemas of the document's types by name, as OpenAPI values. YAML
/// values, because their mappings keep the fields in declaration order.
fn components() -> Mapping {
    fn add<T: ToSchema>(out: &mut Mapping) {
        let mut deps = Vec::new();
        T::schemas(&mut deps);
        deps.push((T::name().into_owned(), T::schema()));
        for (name, s) in deps {
            out.insert(name.into(), serde_yaml_ng::to_value(s).expect("a schema is a value"));
        }
    }
    let mut out = Mapping::new();
    add::<ItOpsDocument>(&mut out);
    add::<CheckSpec>(&mut out);
    out
}

struct Walker {
    components: Mapping,
}

impl Walker {
    /// The schema a `$ref` points to, or the schema itself.
    fn deref<'a>(&'a self, s: &'a Value) -> &'a Value {
        match s.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or(r);
                self.components.get(name).unwrap_or_else(|| panic!("no schema {name}"))
            }
            None => s,
        }
    }

    /// `T` of an `Option<T>`: `type: [T, null]` or `oneOf: [T, {type: null}]`,
    /// with the outer description and default kept.
    fn non_null(&self, s: &Value) -> Value {
        let mut s = s.clone();
        if let Some(types) = s.get("type").and_then(Value::as_sequence) {
            let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if rest.len() == 1 {
                s["type"] = rest[0].clone();
            }
        }
        let inner = s.get("oneOf").and_then(Value::as_sequence).and_then(|items| {
            let rest: Vec<&Value> = items.iter().filter(|i| i.get("type").is_none_or(|t| t != "null")).collect();
            (rest.len() == 1 && items.len() == 2).then(|| rest[0].clone())
        });
        if let Some(mut inner) = inner {
            let o = s.as_mapping_mut().expect("a mapping");
            o.remove("oneOf");
            let im = inner.as_mapping_mut().expect("a mapping");
            for (k, v) in o.iter() {
                im.insert(k.clone(), v.clone());
            }
            return inner;
        }
        s
    }

    fn ty(&self, s: &Value) -> String {
        let s = self.non_null(s);
        let target = self.deref(&s);
        if let Some(items) = target.get("oneOf").and_then(Value::as_sequence) {
            return items.iter().map(|i| self.ty(i)).collect::<Vec<_>>().join(" or ");
        }
        match target.get("type").and_then(Value::as_str) {
            Some("array") => {
                let inner = self.ty(&target["items"]);
                if inner.contains(' ') { format!("list of ({inner})") } else { format!("list of {inner}") }
            }
            Some("object") => match target.get("additionalProperties") {
                Some(ap) if ap.is_mapping() => format!("map of string to {}", self.ty(ap)),
                _ => "object".into(),
            },
            Some(t) => t.into(),
            None => "any".into(),
        }
    }

    fn allowed(&self, s: &Value) -> Option<String> {
        let s = self.non_null(s);
        let target = self.deref(&s);
        if let Some(values) = target.get("enum").and_then(Value::as_sequence) {
            return Some(values.iter().map(|v| format!("`{}`", plain(v))).collect::<Vec<_>>().join(", "));
        }
        if let Some(items) = target.get("oneOf").and_then(Value::as_sequence) {
            let parts: Vec<String> = items.iter().filter_map(|i| self.allowed(i)).collect();
            return (!parts.is_empty()).then(|| parts.join("; "));
        }
        if target.get("type").and_then(Value::as_str) == Some("array") {
            return self.allowed(&target["items"]);
        }
        let (min, max) = (target.get("minimum"), target.get("maximum"));
        match (min, max) {
            (Some(a), Some(b)) => Some(format!("{} to {}", plain(a), plain(b))),
            (Some(a), None) => Some(format!("at least {}", plain(a))),
            (None, Some(b)) => Some(format!("at most {}", plain(b))),
            (None, None) => None,
        }
    }

    /// The object schema with properties a field holds (directly or as a
    /// list of them), for nesting its fields under its path.
    fn nested<'a>(&'a self, s: &'a Value) -> Option<(&'a Value, &'static str)> {
        let s = self.deref(s);
        if s.get("properties").is_some() {
            return Some((s, ""));
        }
        if s.get("type").and_then(Value::as_str) == Some("array") {
            let items = self.deref(&s["items"]);
            if items.get("properties").is_some() {
                return Some((items, "[]"));
            }
        }
        None
    }

    /// The fields of an object schema under `prefix`, nested objects inlined
    /// after their field.
    fn fields(&self, object: &Value, prefix: &str, out: &mut Vec<Field>) {
        let required: Vec<&str> = object
            .get("required")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let Some(props) = object.get("properties").and_then(Value::as_mapping) else { return };
        for (name, raw) in props {
            let name = name.as_str().expect("a field name");
            let path = format!("{prefix}{name}");
            let s = self.non_null(raw);
            let description = s
                .get("description")
                .or_else(|| self.deref(&s).get("description"))
                .and_then(Value::as_str)
                .map(one_line)
                .unwrap_or_default();
            out.push(Field {
                path: path.clone(),
                ty: self.ty(&s),
                required: required.contains(&name),
                default: s.get("default").map(|d| format!("`{}`", plain(d))),
                allowed: self.allowed(&s),
                description,
            });
            if let Some((o, suffix)) = self.nested(&s) {
                self.fields(o, &format!("{path}{suffix}."), out);
            }
        }
    }
}

/// A value as written in a flow-style document: strings without quotes,
/// lists as `["200-299"]`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).expect("a value is JSON"),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn example() -> Value {
    serde_yaml_ng::from_str(EXAMPLE).expect("the example is YAML")
}

/// `{key: value}` as a YAML document.
fn yaml(key: &str, value: Value) -> String {
    let mut m = Mapping::new();
    m.insert(key.into(), value);
    serde_yaml_ng::to_string(&m).expect("a value is YAML")
}

/// Every section of the reference, in document order.
pub fn sections() -> Vec<Section> {
    let w = Walker { components: components() };
    let doc = w.components[ItOpsDocument::name().as_ref()].clone();
    let example = example();
    let mut out = Vec::new();

    // the top level, each object field in a section of its own
    let mut top = Vec::new();
    w.fields(&doc, "", &mut top);
    let top: Vec<Field> = top.into_iter().filter(|f| !f.path.contains('.')).collect();
    let checks = doc["properties"].get(CHECKS).unwrap_or_else(|| panic!("ItOpsDocument has no `{CHECKS}`"));
    assert_eq!(checks["type"], "array", "`{CHECKS}` is a list");
    out.push(Section {
        title: "The document".into(),
        description: one_line(doc["description"].as_str().unwrap_or_default()),
        fields: top,
        example: MINIMAL.into(),
    });
    for (name, raw) in doc["properties"].as_mapping().expect("properties") {
        let name = name.as_str().expect("a field name");
        let s = w.non_null(raw);
        let Some((object, _)) = w.nested(&s) else { continue };
        let mut fields = Vec::new();
        w.fields(object, &format!("{name}."), &mut fields);
        let description = [s.get("description"), object.get("description")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(one_line)
            .collect::<Vec<_>>()
            .join(" ");
        out.push(Section {
            title: format!("`{name}`"),
            description,
            fields,
            example: yaml(name, example[name].clone()),
        });
    }

    // checks: the fields every kind shares, then each kind's own
    let spec = &w.components[CheckSpec::name().as_ref()];
    let mut kinds: Vec<(String, Value)> = Vec::new();
    for variant in spec["oneOf"].as_sequence().expect("CheckSpec is a oneOf") {
        let parts = variant["allOf"].as_sequence().expect("a tagged variant");
        let kind = plain(&parts[1]["properties"]["type"]["enum"][0]);
        kinds.push((kind, w.deref(&parts[0]).clone()));
    }
    let prefix = format!("{CHECKS}[].");
    let per_kind: Vec<Vec<Field>> = kinds
        .iter()
        .map(|(_, s)| {
            let mut f = Vec::new();
            w.fields(s, &prefix, &mut f);
            f
        })
        .collect();
    let common: Vec<Field> = per_kind[0].iter().filter(|f| per_kind.iter().all(|k| k.contains(f))).cloned().collect();
    let names: Vec<String> = kinds.iter().map(|(k, _)| format!("`{k}`")).collect();
    let mut fields = vec![Field {
        path: format!("{prefix}type"),
        ty: "string".into(),
        required: true,
        default: None,
        allowed: Some(names.join(", ")),
        description: "The kind of check; its other fields are listed under its kind below.".into(),
    }];
    fields.extend(common.iter().cloned());
    let examples: Vec<Value> = example[CHECKS].as_sequence().cloned().unwrap_or_default();
    out.push(Section {
        title: format!("`{CHECKS}[]`"),
        description: format!(
            "{} {} Fields every kind has:",
            one_line(checks["description"].as_str().unwrap_or_default()),
            one_line(spec["description"].as_str().unwrap_or_default())
        ),
        fields,
        example: yaml(CHECKS, Value::Sequence(examples.iter().take(1).cloned().collect())),
    });
    for ((kind, s), fields) in kinds.iter().zip(per_kind) {
        let mine: Vec<Value> = examples.iter().filter(|c| c["type"] == kind.as_str()).cloned().collect();
        out.push(Section {
            title: format!("`{CHECKS}[]` of type `{kind}`"),
            description: one_line(s["description"].as_str().unwrap_or_default()),
            fields: fields.into_iter().filter(|f| !common.contains(f)).collect(),
            example: yaml(CHECKS, Value::Sequence(mine)),
        });
    }
    out
}

/// Every documented field, in the order of the reference.
pub fn fields() -> Vec<Field> {
    sections().into_iter().flat_map(|s| s.fields).collect()
}

/// GitHub's anchor of a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `docs/it-ops.md`.
pub fn markdown() -> String {
    let sections = sections();
    let mut md = String::new();
    md.push_str(
        "<!-- Generated from the Rust types that parse it-ops documents; do not edit.\n     \
         Regenerate with `cargo run -- docs it-ops --output docs/it-ops.md`. -->\n\n\
         # The it-ops document\n\n\
         An it-ops document declares a service: where it sits in the hierarchy, what it\n\
         is, what nines should expect of its backups, and the checks that probe it. It is\n\
         sent by `nines apply -f it-ops.yaml`, by `POST /api/v1/services/apply` (YAML or\n\
         JSON; all documents or none are applied) and by the operator, which applies the\n\
         key `it-ops.yaml` of ConfigMaps. A file may hold several documents separated by\n\
         `---`. Parsing is strict: an unknown field is an error, and every problem is\n\
         reported with its path, e.g. `documents[1].checks[0].timeoutSeconds`.\n\n\
         A field that is not required may be left out; it then takes its default.\n\n\
         ## A complete example\n\n```yaml\n",
    );
    md.push_str(EXAMPLE);
    md.push_str("```\n\n## Sections\n\n");
    for s in &sections {
        let _ = writeln!(md, "- [{}](#{})", s.title, anchor(&s.title));
    }
    for s in &sections {
        let _ = write!(md, "\n## {}\n\n", s.title);
        if !s.description.is_empty() {
            let _ = write!(md, "{}\n\n", s.description);
        }
        md.push_str("| Field | Type | Required | Default | Allowed values | Description |\n");
        md.push_str("|---|---|---|---|---|---|\n");
        for f in &s.fields {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} | {} |",
                f.path,
                cell(&f.ty),
                if f.required { "yes" } else { "no" },
                cell(f.default.as_deref().unwrap_or("")),
                cell(f.allowed.as_deref().unwrap_or("")),
                cell(&f.description),
            );
        }
        let _ = write!(md, "\n```yaml\n{}```\n", s.example);
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                for (k, v) in m {
                    let p = format!("{prefix}{}", k.as_str().expect("a key"));
                    out.push(p.clone());
                    paths(v, &format!("{p}."), out);
                }
            }
            Value::Sequence(items) => {
                let base = prefix.trim_end_matches('.');
                for i in items {
                    if i.is_mapping() {
                        paths(i, &format!("{base}[]."), out);
                    }
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_field_has_a_description_and_a_type() {
        let fields = fields();
        assert!(fields.len() > 50, "{}", fields.len());
        for f in &fields {
            assert!(!f.description.is_empty(), "{} has no doc comment", f.path);
            assert!(f.ty != "any" || f.path.ends_with(".equals"), "{} has no type", f.path);
        }
        let http = fields.iter().find(|f| f.path == "checks[].expectedStatus").expect("expectedStatus");
        assert_eq!(http.default.as_deref(), Some(r#"`["200-299"]`"#));
        assert_eq!(http.ty, "list of (integer or string)");
        let crit = fields.iter().find(|f| f.path == "service.criticality").expect("criticality");
        assert_eq!(crit.default.as_deref(), Some("`medium`"));
        assert_eq!(crit.allowed.as_deref(), Some("`critical`, `high`, `medium`, `low`"));
    }

    #[test]
    fn the_example_uses_every_field() {
        let mut seen = Vec::new();
        paths(&example(), "", &mut seen);
        let missing: Vec<String> = fields().into_iter().map(|f| f.path).filter(|p| !seen.contains(p)).collect();
        assert!(missing.is_empty(), "the example lacks {missing:?}");
    }

    #[test]
    fn the_examples_parse_with_their_checks() {
        for text in [EXAMPLE, MINIMAL] {
            let specs = nines_core::apply::parse_documents(text).unwrap_or_else(|e| panic!("{e}"));
            let (rows, errs) = crate::probes::parse_checks(&specs);
            assert!(errs.is_empty(), "{errs}");
            assert_eq!(rows[0].len(), specs[0].checks.len());
        }
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(anchor("`checks[]` of type `http`"), "checks-of-type-http");
        assert_eq!(anchor("The document"), "the-document");
    }
}
