//! Hostile input through the HTTP API, on both backends alike: a NUL
//! character anywhere (JSON, YAML, query strings), names that could reach a
//! file path, out-of-range time-zone offsets and oversized free text are
//! refused with 422 naming the field; never a 5xx, and nothing is written.

mod common;

use common::*;
use nines_store::testing::all;
use serde_json::{Value, json};

async fn count(srv: &Srv, key: &str) -> usize {
    srv.get("/api/v1/services", key).await.1["items"].as_array().map(Vec::len).unwrap_or(usize::MAX)
}

#[tokio::test]
async fn hostile_input_is_refused_alike_on_both_backends() {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        let (srv, _clock) = start(&db).await;
        let key = srv.key("acme", "admin").await;
        let node = "acme/p/prod/c1";
        let expect = |what: &str, (c, v): (u16, Value), field: &str| {
            assert_eq!((c, v["error"]["field"].as_str()), (422, Some(field)), "{what} on {}: {v}", db.label);
        };
        // NUL in JSON text, in a nested field, in a tag key
        let r = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service": "a", "status": "DOWN", "nodeId": node, "message": "x\u{0}y"}),
            )
            .await;
        expect("NUL in message", r, "message");
        let r = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service": "a", "status": "DOWN", "nodeId": node, "tags": ["ok", "b\u{0}"]}),
            )
            .await;
        expect("NUL in a tag", r, "tags[1]");
        let r = srv.post("/api/v1/downtimes", &key, json!({"title": "t\u{0}", "serviceIds": [1]})).await;
        expect("NUL in a title", r, "title");
        // NUL in a YAML document (a double-quoted escape)
        let doc = "version: \"1\"\nhierarchy: {organization: acme, platform: p, environment: prod, cluster: c1}\nservice: {name: web, displayName: \"We\\0b\"}\n";
        let r = srv.post_raw("/api/v1/services/apply", Some(&key), doc, None).await;
        expect("NUL in YAML", r, "service.displayName");
        // NUL in a query string
        let r = srv.get("/api/v1/services?tag=a%00b", &key).await;
        expect("NUL in a query", r, "tag");
        // names that could reach a file path
        for org in ["..", ".", "a\\b"] {
            let r = srv
                .post(
                    "/api/v1/sla/report/generate",
                    &srv.admin.clone(),
                    json!({"organization": org, "date": "2027-01-01"}),
                )
                .await;
            expect(&format!("organization {org:?}"), r, "organization");
        }
        // an offset past 23:59
        let r = srv
            .post(
                "/api/v1/health/report",
                &key,
                json!({"service": "a", "status": "DOWN", "nodeId": node, "timestamp": "2027-01-15T10:00:00+25:00"}),
            )
            .await;
        expect("offset +25:00", r, "timestamp");
        // oversized free text
        let big = "x".repeat(900_000);
        let doc = format!(
            "version: \"1\"\nhierarchy: {{organization: acme, platform: p, environment: prod, cluster: c1}}\nservice: {{name: web, displayName: {big}}}\n"
        );
        let (c, v) = srv.post_raw("/api/v1/services/apply", Some(&key), &doc, None).await;
        assert!(c == 422 || c == 413, "{}", v.to_string().chars().take(300).collect::<String>());
        let doc = format!(
            "version: \"1\"\nhierarchy: {{organization: acme, platform: p, environment: prod, cluster: c1}}\nservice: {{name: web, displayName: {}}}\n",
            "y".repeat(300)
        );
        let r = srv.post_raw("/api/v1/services/apply", Some(&key), &doc, None).await;
        expect("a 300-character displayName", r, "service.displayName");
        assert_eq!(count(&srv, &key).await, 0, "nothing refused was written on {}", db.label);
        srv.stop().await;
    }
}
