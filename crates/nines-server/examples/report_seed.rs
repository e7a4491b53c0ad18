//! Seeds a SQLite database for the report benchmark: SERVICES services (default
//! 10,000) in 100 SLA groups, DAYS days of history (default 45) ending now with
//! 0–2 short outages a day per service, some overdue backups and critical
//! storage, days finalized by the aggregator. Usage:
//! `report_seed <data-dir>`; then `nines report generate --data-dir <data-dir>`.
//! Run by `bench/report/run.sh`.

use nines_core::Status;
use nines_core::apply::parse_documents;
use nines_core::slo::DAY_MS;
use nines_store::Store;

#[tokio::main]
async fn main() {
    let dir = std::env::args().nth(1).expect("usage: report_seed <data-dir>");
    let services: usize = std::env::var("SERVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let days: i64 = std::env::var("DAYS").ok().and_then(|v| v.parse().ok()).unwrap_or(45);
    std::fs::create_dir_all(&dir).unwrap();
    let path = std::fs::canonicalize(&dir).unwrap().join("nines.db");
    let store = Store::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let start = nines_core::slo::day_floor(now) - days * DAY_MS;
    let mut doc = String::new();
    for i in 0..services {
        let crit = ["critical", "high", "medium", "low"][i % 4];
        let ops = if i % 50 == 0 { "operations: {backup: {expected: true, maxAgeDays: 1}}\n" } else { "" };
        doc.push_str(&format!(
            "---\nversion: \"1\"\nhierarchy: {{organization: bench, platform: p{}, environment: prod, cluster: c{}}}\nservice: {{name: svc-{i}, criticality: {crit}, slaGroup: g{}}}\n{ops}",
            i % 5,
            i % 20,
            i % 100
        ));
    }
    let specs = parse_documents(&doc).unwrap();
    let items = store.apply(&specs, nines_core::Source::Config, start).await.unwrap();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = move |n: i64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as i64
    };
    let mut rows = Vec::new();
    for (k, it) in items.iter().enumerate() {
        let mut cur = Status::Unknown;
        let mut push = |rows: &mut Vec<_>, at: i64, to: Status| {
            if to != cur && at < now {
                rows.push((it.id, at, cur, to));
                cur = to;
            }
        };
        push(&mut rows, start + rnd(60_000), Status::Operational);
        for d in 0..=days {
            let day = start + d * DAY_MS;
            for o in 0..rnd(3) {
                let at = day + (o + 1) * 7 * 3_600_000 + rnd(3_600_000);
                push(&mut rows, at, if rnd(4) == 0 { Status::Degraded } else { Status::Down });
                push(&mut rows, at + 60_000 + rnd(1_800_000), Status::Operational);
            }
        }
        nines_store::testing::set_status(&store, it.id, cur).await.unwrap();
        if k % 1000 == 999 {
            nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
            rows.clear();
        }
        if k % 70 == 0 {
            let op = nines_store::StorageOp {
                service: nines_store::NewService {
                    organization: "bench".into(),
                    node_id: format!("bench/p{}/prod/c{}", k % 5, k % 20),
                    name: format!("svc-{k}"),
                    kind: "database".into(),
                    criticality: nines_core::Criticality::Medium,
                    sla_group: None,
                    tags: vec!["storage".into()],
                    source: nines_core::Source::Push,
                    backup_expected: false,
                },
                allocated_bytes: Some(100 << 30),
                used_bytes: Some(95 << 30),
                free_percent: 5.0,
                storage_type: Some("pvc".into()),
                mount_path: None,
                at: now,
            };
            store.storage_report(&op, now).await.unwrap();
        }
    }
    nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
    let days_done = store.aggregate(now, 15 * 60_000, 1000).await.unwrap();
    println!("seeded {services} services, {days} days ({days_done} finalized) in {}", path.display());
}
