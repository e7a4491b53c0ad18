//! A small JSONPath subset for `jsonPath` body conditions: `$` followed by
//! `.key`, `['key']`, `["key"]` or `[index]` steps. No wildcards, filters or
//! recursive descent: a condition names one value. Parsing is pure and is also
//! what `validate()` calls.

use serde_json::Value;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Parse `$.a.b[0]['c d']` into its steps.
pub fn parse(path: &str) -> Result<Vec<Step>, String> {
    let Some(rest) = path.trim().strip_prefix('$') else {
        return Err(format!("`{path}` must start with `$`"));
    };
    let bad = |why: &str| format!("`{path}`: {why}");
    let mut steps = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        if let Some(r) = s.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(bad("empty key after `.`"));
            }
            if key == "*" {
                return Err(bad("wildcards are not supported"));
            }
            steps.push(Step::Key(key.to_owned()));
            s = &r[end..];
        } else if let Some(r) = s.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            let inner = r[..end].trim();
            let quoted = |q: char| inner.len() >= 2 && inner.starts_with(q) && inner.ends_with(q);
            if quoted('\'') || quoted('"') {
                steps.push(Step::Key(inner[1..inner.len() - 1].to_owned()));
            } else {
                let i =
                    inner.parse::<usize>().map_err(|_| bad(&format!("`[{inner}]` is not an index or quoted key")))?;
                steps.push(Step::Index(i));
            }
            s = &r[end + 1..];
        } else {
            return Err(bad("expected `.` or `[` after a step"));
        }
    }
    Ok(steps)
}

/// The value at `steps`, if there is one.
pub fn select<'a>(doc: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(doc, |v, step| match step {
        Step::Key(k) => v.as_object()?.get(k),
        Step::Index(i) => v.as_array()?.get(*i),
    })
}

/// Whether `found` satisfies `equals`; a string `equals` also matches a scalar with that text.
pub fn matches(found: &Value, equals: &Value) -> bool {
    if found == equals {
        return true;
    }
    match (found, equals) {
        (Value::Number(n), Value::String(s)) => n.to_string() == *s,
        (Value::Bool(b), Value::String(s)) => b.to_string() == *s,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_selects() {
        let doc = json!({"database": "connected", "checks": [{"name": "db", "ok": true}], "a b": 3});
        let table: &[(&str, Option<Value>)] = &[
            ("$", Some(doc.clone())),
            ("$.database", Some(json!("connected"))),
            ("$.checks[0].ok", Some(json!(true))),
            ("$['checks'][0][\"name\"]", Some(json!("db"))),
            ("$['a b']", Some(json!(3))),
            ("$.checks[1]", None),
            ("$.database.x", None),
        ];
        for (p, want) in table {
            let steps = parse(p).unwrap();
            assert_eq!(select(&doc, &steps).cloned(), *want, "{p}");
        }
        assert!(matches(&json!(3), &json!("3")));
        assert!(matches(&json!(true), &json!("true")));
        assert!(!matches(&json!("3"), &json!(3)));
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        assert_eq!(parse("database").unwrap_err(), "`database` must start with `$`");
        assert_eq!(parse("$.").unwrap_err(), "`$.`: empty key after `.`");
        assert_eq!(parse("$.a[x]").unwrap_err(), "`$.a[x]`: `[x]` is not an index or quoted key");
        assert_eq!(parse("$.a[0").unwrap_err(), "`$.a[0`: `[` without `]`");
        assert_eq!(parse("$.*").unwrap_err(), "`$.*`: wildcards are not supported");
    }
}
