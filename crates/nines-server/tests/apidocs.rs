//! The API reference: every operation of the OpenAPI document says what it
//! does (a summary and a description of its own), and `/api/docs` shows
//! every operation with the role it needs, from a running server, without
//! any resource from elsewhere.

mod common;

use common::*;
use nines_server::access::access;
use nines_server::openapi::docs::anchor;
use nines_server::web::html::esc;
use reqwest::Method;
use serde_json::Value;

/// `(METHOD, path, operation)` for every operation of the served document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(m) {
                out.push((m.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

#[test]
fn every_operation_has_a_summary_and_a_description() {
    let doc: Value = serde_json::from_str(&nines_server::openapi::document_json()).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() > 50, "only {} operations", ops.len());
    let mut missing = Vec::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or_default();
        let summary = op["summary"].as_str().unwrap_or_default().trim();
        // the document's fallback for a handler without a doc comment is
        // its operation id in words: that is no summary
        let from_id = id.replace('_', " ");
        if summary.len() < 10 || summary.eq_ignore_ascii_case(&from_id) {
            missing.push(format!("{method} {path} ({id}): no summary"));
        }
        // the access line is added to every operation: it does not count
        let own: String = op["description"]
            .as_str()
            .unwrap_or_default()
            .split("\n\n")
            .filter(|p| !p.trim_start().starts_with("Access: "))
            .collect();
        if own.trim().len() < 40 {
            missing.push(format!("{method} {path} ({id}): no description (a doc comment paragraph after the summary)"));
        }
    }
    assert!(missing.is_empty(), "operations without a summary or description:\n{}", missing.join("\n"));
}

#[tokio::test]
async fn the_docs_page_shows_every_operation_with_its_role_and_nothing_from_elsewhere() {
    let db = nines_store::testing::sqlite().await;
    let (srv, _clock) = start(&db).await;
    // public, like the document itself: no key
    let resp = srv.http.get(format!("{}/api/docs", srv.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(header("content-type").starts_with("text/html"), "{}", header("content-type"));
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("script-src"), "no script may run: {csp}");
    let page = resp.text().await.unwrap();

    let doc: Value = srv.http.get(format!("{}/api/openapi.json", srv.base)).send().await.unwrap().json().await.unwrap();
    for (method, path, op) in operations(&doc) {
        let id = anchor(&method, &path);
        let start = page.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("{method} {path}: no anchor {id}"));
        let article = &page[start..start + page[start..].find("</article>").expect("article ends")];
        let need = access(&method.parse::<Method>().unwrap(), &path);
        assert!(article.contains(&format!("<code>{}</code>", esc(&path))), "{method} {path}: path not shown");
        let op_id = op["operationId"].as_str().unwrap();
        assert!(article.contains(&format!("<code>{}</code>", esc(op_id))), "{method} {path}: operation id not shown");
        assert!(
            article.contains(&format!(r#"data-access="{}""#, esc(need.as_str()))),
            "{method} {path}: role {} not shown",
            need.as_str()
        );
        let summary = op["summary"].as_str().unwrap();
        assert!(article.contains(&esc(summary).to_string()), "{method} {path}: summary not shown");
        // listed in the table of contents too
        assert!(page.contains(&format!(r##"href="#{id}""##)), "{method} {path}: not in the contents");
    }
    assert!(page.contains(r#"href="/api/openapi.json""#), "links the document");

    // nothing is fetched from, or linked to, anywhere else
    let own = |at: usize| page[at..].starts_with(&srv.base);
    for scheme in ["http://", "https://", "//cdn", "src=\"//", "href=\"//"] {
        for (at, _) in page.match_indices(scheme) {
            assert!(own(at), "an outside reference at {at}: {}", &page[at..(at + 80).min(page.len())]);
        }
    }
    assert!(!page.contains("<script"), "no script");
    // the one link is the empty inline icon (so the browser asks for no favicon)
    assert_eq!(page.matches("<link").count(), 1, "no outside stylesheet");
    assert!(page.contains(r#"<link rel="icon" href="data:,">"#));
}
