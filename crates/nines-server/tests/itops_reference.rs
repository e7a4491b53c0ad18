//! `docs/it-ops.md` is generated from the types that parse it-ops documents;
//! this test fails when it drifts, and applies its examples to a running
//! server. Regenerate with
//! `NINES_UPDATE_DOCS=1 cargo test -p nines-server --test itops_reference`
//! (or `cargo run -- docs it-ops --output docs/it-ops.md`).

mod common;

use common::start;
use nines_server::itops_reference::{EXAMPLE, MINIMAL, markdown};

#[test]
fn itops_reference_has_not_drifted() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/it-ops.md");
    let doc = markdown();
    if std::env::var_os("NINES_UPDATE_DOCS").is_some() {
        std::fs::write(path, &doc).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        doc == committed,
        "docs/it-ops.md is out of date; regenerate it with \
         `NINES_UPDATE_DOCS=1 cargo test -p nines-server --test itops_reference` \
         (or `cargo run -- docs it-ops --output docs/it-ops.md`)"
    );
}

#[tokio::test]
async fn the_reference_examples_apply() {
    let db = nines_store::testing::sqlite().await;
    let (srv, _clock) = start(&db).await;
    let key = srv.key("myorg", "operator").await;
    for doc in [EXAMPLE, MINIMAL] {
        let checks = nines_core::apply::parse_documents(doc).unwrap()[0].checks.len();
        let (code, v) = srv.post_raw("/api/v1/services/apply", Some(&key), doc, Some("application/yaml")).await;
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["items"][0]["action"], "created", "{v}");
        let id = v["items"][0]["id"].as_i64().unwrap();
        let (code, list) = srv.get(&format!("/api/v1/checks?serviceId={id}"), &key).await;
        let list = list["items"].clone();
        assert_eq!(code, 200, "{list}");
        assert_eq!(list.as_array().map(Vec::len), Some(checks), "{list}");
    }
    // the same text again changes nothing
    let (_, v) = srv.post_raw("/api/v1/services/apply", Some(&key), EXAMPLE, None).await;
    assert_eq!(v["items"][0]["action"], "unchanged", "{v}");
    srv.stop().await;
}
