//! The JSON contract: a fixed document against the committed
//! `tests/golden/report-v1.json`, a round trip, the version check, and
//! `SCHEMA.md` naming every field the document writes.
//!
//! After an intended change: `NINES_BLESS=1 cargo test -p nines-report --test golden`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nines_report::sample::{large_document, sample_document};
use nines_report::{Error, ReportDocument};

fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn json_matches_the_golden_snapshot() {
    let json = sample_document().to_json().expect("serializes");
    let golden = path("tests/golden/report-v1.json");
    if std::env::var_os("NINES_BLESS").is_some() {
        std::fs::write(&golden, &json).expect("write golden");
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file exists (NINES_BLESS=1 writes it)");
    let actual = String::from_utf8(json).expect("utf-8");
    assert!(actual == expected, "report JSON drifted from {}; rerun with NINES_BLESS=1 if intended", golden.display());
}

#[test]
fn json_round_trips() {
    let doc = sample_document();
    let back = ReportDocument::from_json(&doc.to_json().expect("serializes")).expect("parses");
    assert_eq!(back, doc);
    let big = large_document(50);
    assert_eq!(ReportDocument::from_json(&big.to_json().expect("serializes")).expect("parses"), big);
}

#[test]
fn other_schema_versions_are_refused() {
    let mut v: serde_json::Value = serde_json::from_slice(&sample_document().to_json().unwrap()).unwrap();
    v["schemaVersion"] = 2.into();
    match ReportDocument::from_json(&serde_json::to_vec(&v).unwrap()) {
        Err(Error::SchemaVersion(2)) => {}
        other => panic!("expected a schema version error, got {other:?}"),
    }
}

fn keys(v: &serde_json::Value, out: &mut BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                out.insert(k.clone());
                keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn schema_doc_names_every_field() {
    let v: serde_json::Value = serde_json::from_slice(&sample_document().to_json().unwrap()).unwrap();
    let mut all = BTreeSet::new();
    keys(&v, &mut all);
    let doc = std::fs::read_to_string(path("SCHEMA.md")).expect("SCHEMA.md");
    let missing: Vec<&String> = all.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "SCHEMA.md does not describe {missing:?}");
}
