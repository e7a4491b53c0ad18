//! Forms that act through the JSON API. A form names the API call
//! (`data-method`, `data-path`); the dashboard's script sends its fields as
//! the JSON body on the session cookie (`X-Nines-Session: 1`) and shows the
//! API's own validation errors at the field they name. So every rule lives
//! in one place, the API, and every action is one the API's role table
//! allows. A form is drawn only for a caller whose role may use it.

use std::fmt::Write;

use crate::web::html::esc;

/// How a field's text is sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A multi-line text, sent as it is.
    Area,
    Number,
    /// A checkbox, sent as true or false.
    Bool,
    /// One item per line, sent as a list.
    Lines,
    /// Comma-separated, sent as a list of strings.
    Csv,
    /// Comma-separated numbers, sent as a list.
    IntList,
    /// JSON text, sent parsed.
    Json,
    /// A choice from `options`.
    Select,
    /// A password-like value: never shown back, sent only when typed.
    Secret,
    /// Not shown: its value (JSON text) is sent as it is, parsed.
    Hidden,
}

pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub value: String,
    pub hint: Option<String>,
    pub required: bool,
    /// Select options: (value, label).
    pub options: Vec<(String, String)>,
    /// Empty text sends null (clears) instead of leaving the key out.
    pub empty_null: bool,
}

impl Field {
    pub fn new(name: &str, label: &str, kind: Kind) -> Field {
        Field {
            name: name.into(),
            label: label.into(),
            kind,
            value: String::new(),
            hint: None,
            required: false,
            options: Vec::new(),
            empty_null: false,
        }
    }
    pub fn value(mut self, v: impl Into<String>) -> Field {
        self.value = v.into();
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Field {
        self.hint = Some(h.into());
        self
    }
    pub fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub fn options(mut self, o: &[(&str, &str)]) -> Field {
        self.options = o.iter().map(|(v, l)| (v.to_string(), l.to_string())).collect();
        self
    }
    pub fn empty_null(mut self) -> Field {
        self.empty_null = true;
        self
    }
}

pub struct Form {
    /// Unique on the page: the fields' ids derive from it.
    pub id: String,
    pub method: &'static str,
    pub path: String,
    pub title: Option<String>,
    pub fields: Vec<Field>,
    pub submit: String,
    /// After success: `reload` (default), or a page (`{id}` from the answer).
    pub next: Option<String>,
    pub confirm: Option<String>,
    /// Show the answer (or one key of it) in a box instead of moving on.
    pub result: Option<&'static str>,
    pub danger: bool,
    pub inline: bool,
    /// Send this field's text as the body, with this content type.
    pub raw: Option<(String, &'static str)>,
    /// A second button sending the same fields to another path, its answer's
    /// key shown in place: (label, method, path, key).
    pub also: Option<(String, &'static str, String, &'static str)>,
}

impl Form {
    pub fn new(id: &str, method: &'static str, path: impl Into<String>, submit: &str) -> Form {
        Form {
            id: id.into(),
            method,
            path: path.into(),
            title: None,
            fields: Vec::new(),
            submit: submit.into(),
            next: None,
            confirm: None,
            result: None,
            danger: false,
            inline: false,
            also: None,
            raw: None,
        }
    }
    pub fn title(mut self, t: &str) -> Form {
        self.title = Some(t.into());
        self
    }
    pub fn field(mut self, f: Field) -> Form {
        self.fields.push(f);
        self
    }
    pub fn next(mut self, n: impl Into<String>) -> Form {
        self.next = Some(n.into());
        self
    }
    pub fn confirm(mut self, c: impl Into<String>) -> Form {
        self.confirm = Some(c.into());
        self
    }
    /// Show the answer's `key` (or the whole answer) in place.
    pub fn result(mut self, key: &'static str) -> Form {
        self.result = Some(key);
        self
    }
    pub fn danger(mut self) -> Form {
        self.danger = true;
        self
    }
    /// A second button: the same fields to `path`, the answer's `key` shown.
    pub fn also(mut self, label: &str, method: &'static str, path: impl Into<String>, key: &'static str) -> Form {
        self.also = Some((label.into(), method, path.into(), key));
        self
    }
    /// The body is field `name`'s text as it is (`content_type`).
    pub fn raw(mut self, name: &str, content_type: &'static str) -> Form {
        self.raw = Some((name.into(), content_type));
        self
    }
    pub fn inline(mut self) -> Form {
        self.inline = true;
        self
    }

    pub fn render(&self) -> String {
        let mut b = String::with_capacity(512 + self.fields.len() * 300);
        let id = esc(&self.id).to_string();
        let _ = write!(
            b,
            r#"<form class="api{}" id="{id}" data-method="{}" data-path="{}""#,
            if self.inline { " inline" } else { "" },
            self.method,
            esc(&self.path)
        );
        if let Some(n) = &self.next {
            let _ = write!(b, r#" data-next="{}""#, esc(n));
        }
        if let Some(c) = &self.confirm {
            let _ = write!(b, r#" data-confirm="{}""#, esc(c));
        }
        if let Some((name, ty)) = &self.raw {
            let _ = write!(b, r#" data-raw="{}" data-raw-type="{ty}""#, esc(name));
        }
        if let Some(key) = self.result {
            let _ = write!(b, r#" data-result="{id}-result""#);
            if !key.is_empty() {
                let _ = write!(b, r#" data-result-key="{}""#, esc(key));
            }
        }
        b.push('>');
        if let Some(t) = &self.title {
            let _ = write!(b, "<fieldset><legend>{}</legend>", esc(t));
        }
        for f in &self.fields {
            field(&mut b, &id, f);
        }
        let _ = write!(
            b,
            r#"<p class="form-error" role="alert" tabindex="-1" hidden></p><button type="submit"{}>{}</button>"#,
            if self.danger { r#" class="danger""# } else { "" },
            esc(&self.submit)
        );
        if let Some((label, method, path, key)) = &self.also {
            let _ = write!(
                b,
                r#" <button type="submit" data-method="{method}" data-path="{}" data-result="{id}-also" data-result-key="{}">{}</button><pre class="result" id="{id}-also" tabindex="-1" aria-live="polite" hidden></pre>"#,
                esc(path),
                esc(key),
                esc(label)
            );
        }
        if self.title.is_some() {
            b.push_str("</fieldset>");
        }
        if self.result.is_some() {
            let _ = write!(b, r#"<pre class="result" id="{id}-result" tabindex="-1" aria-live="polite" hidden></pre>"#);
        }
        b.push_str("</form>");
        b
    }
}

fn field(b: &mut String, form: &str, f: &Field) {
    let fid = format!("{form}-{}", f.name.replace('.', "-"));
    let fid = esc(&fid).to_string();
    let name = esc(&f.name).to_string();
    let described = {
        let mut d = format!("{fid}-err");
        if f.hint.is_some() {
            d.push_str(&format!(" {fid}-hint"));
        }
        d
    };
    let req = if f.required { " required" } else { "" };
    let empty = if f.empty_null { r#" data-empty="null""# } else { "" };
    let dtype = match f.kind {
        Kind::Number => r#" data-type="number""#,
        Kind::Bool => r#" data-type="bool""#,
        Kind::Lines => r#" data-type="lines""#,
        Kind::Csv => r#" data-type="csv""#,
        Kind::IntList => r#" data-type="int-list""#,
        Kind::Json => r#" data-type="json""#,
        _ => "",
    };
    if f.kind == Kind::Hidden {
        let _ =
            write!(b, r#"<input type="hidden" id="{fid}" name="{name}" data-type="json" value="{}">"#, esc(&f.value));
        return;
    }
    if f.kind == Kind::Bool {
        let checked = if matches!(f.value.as_str(), "true" | "on" | "1") { " checked" } else { "" };
        let _ = write!(
            b,
            r#"<div class="field field-check"><input type="checkbox" id="{fid}" name="{name}"{dtype}{checked} aria-describedby="{described}"> <label for="{fid}">{}</label>"#,
            esc(&f.label)
        );
    } else {
        let _ = write!(b, r#"<div class="field"><label for="{fid}">{}</label>"#, esc(&f.label));
        match f.kind {
            Kind::Area | Kind::Lines | Kind::Json => {
                let _ = write!(
                    b,
                    r#"<textarea id="{fid}" name="{name}"{dtype}{empty}{req} aria-describedby="{described}" rows="{}">{}</textarea>"#,
                    if f.kind == Kind::Json { 8 } else { 4 },
                    esc(&f.value)
                );
            }
            Kind::Select => {
                let _ = write!(b, r#"<select id="{fid}" name="{name}"{empty}{req} aria-describedby="{described}">"#);
                for (v, l) in &f.options {
                    let sel = if *v == f.value { " selected" } else { "" };
                    let _ = write!(b, r#"<option value="{}"{sel}>{}</option>"#, esc(v), esc(l));
                }
                b.push_str("</select>");
            }
            Kind::Secret => {
                let _ = write!(
                    b,
                    r#"<input type="password" id="{fid}" name="{name}" autocomplete="off"{req} aria-describedby="{described}">"#
                );
            }
            _ => {
                let ty = if f.kind == Kind::Number { "number\" step=\"any" } else { "text" };
                let _ = write!(
                    b,
                    r#"<input type="{ty}" id="{fid}" name="{name}"{dtype}{empty}{req} value="{}" aria-describedby="{described}">"#,
                    esc(&f.value)
                );
            }
        }
    }
    if let Some(h) = &f.hint {
        let _ = write!(b, r#"<p class="hint" id="{fid}-hint">{}</p>"#, esc(h));
    }
    let _ = write!(b, r#"<p class="field-error" id="{fid}-err" hidden></p></div>"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_name_the_call_and_escape_values() {
        let f = Form::new("ack", "POST", "/api/v1/downtimes/3/acknowledge", "Acknowledge")
            .field(Field::new("title", "Title", Kind::Text).value("a\"<b>").required())
            .field(Field::new("countsTowardsSla", "Counts", Kind::Bool).value("true"))
            .confirm("Sure?")
            .render();
        assert!(f.contains(r#"data-method="POST" data-path="/api/v1/downtimes/3/acknowledge""#), "{f}");
        assert!(f.contains(r#"value="a&quot;&lt;b&gt;""#), "{f}");
        assert!(f.contains(r#"id="ack-title-err""#) && f.contains("required"), "{f}");
        assert!(f.contains(r#"data-type="bool" checked"#), "{f}");
        assert!(f.contains(r#"data-confirm="Sure?""#), "{f}");
        let s = Form::new("k", "POST", "/x", "Go").field(Field::new("config.token", "Token", Kind::Secret)).render();
        assert!(s.contains(r#"type="password" id="k-config-token" name="config.token""#), "{s}");
        assert!(!s.contains("value="), "a secret is never shown back: {s}");
    }
}
