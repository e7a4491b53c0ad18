//! The served OpenAPI document holds: schemathesis (from PyPI; `.ci/run`
//! installs it) calls every operation with a bounded number of generated
//! requests, with an admin key, on SQLite and on PostgreSQL, and fails on any
//! 5xx, any status the document does not list for the operation, any
//! undocumented content type and any response that breaks its schema.
//! (Requests the server refuses although the schema allows them are not
//! failures here: the schema does not spell out every rule, the 422 names
//! the field.)

mod common;

use common::*;
use nines_server::SystemClock;
use nines_store::testing::{all, require_all};
use std::sync::Arc;

#[tokio::test]
async fn the_served_document_holds_for_every_operation() {
    let st = std::env::var("NINES_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    if std::process::Command::new(&st).arg("--version").output().is_err() {
        if require_all() {
            panic!("NINES_TEST_REQUIRE_ALL=1 but schemathesis ({st}) is missing (pip install schemathesis)");
        }
        eprintln!("SKIP conformance: schemathesis ({st}) not installed");
        return;
    }
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        // as `nines serve` runs it: reports on, in a directory of their own
        let reports_dir = nines_store::testing::ScratchDir::new("st-reports");
        let mut cfg = fast_config("conformance");
        cfg.report.dir = Some(reports_dir.0.clone());
        let srv = start_with(db.store.clone(), Arc::new(SystemClock), cfg).await;
        let key = srv.key("acme", "admin").await;
        // something to find: a service with a check, a downtime
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\n\
                   service: {name: web, slaGroup: shop}\nchecks:\n  - {type: tcp, name: port, host: 127.0.0.1, port: 9, locations: [eu]}\n";
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), doc, None).await;
        assert_eq!(c, 200, "{v}");
        let reports = nines_store::testing::ScratchDir::new("st-report");
        let out = tokio::task::spawn_blocking({
            let (st, base, key, dir) = (st.clone(), srv.base.clone(), key.clone(), reports.0.clone());
            move || {
                std::process::Command::new(st)
                    .args(["run", &format!("{base}/api/openapi.json")])
                    .args(["-H", &format!("X-API-Key: {key}")])
                    .args(["-n", "5", "--request-timeout", "20", "--generation-deterministic"])
                    .args([
                        "--checks",
                        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    ])
                    .args(["--report-dir", &dir.display().to_string()])
                    .env("NO_COLOR", "1")
                    // its cache stays with the run, not in the source tree
                    .current_dir(&dir)
                    .output()
                    .expect("run schemathesis")
            }
        })
        .await
        .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let summary: String =
            text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        eprintln!("{summary}");
        assert!(out.status.success(), "schemathesis found failures on {}:\n{text}", db.label);
        srv.stop().await;
    }
}
