//! Seeds a database for the status page benchmark: SERVICES services (5,000
//! by default) in GROUPS public status page groups, DAYS days of history
//! ending now (every service OPERATIONAL with a short outage or degradation
//! on about one day in twenty-five, a few services down or degraded right
//! now), and the day results finalized as the SLO worker would. Run by
//! `bench/status-page/run.sh` with DATABASE_URL pointing at a fresh SQLite
//! file that `nines serve` then opens.

use nines_core::Status;
use nines_core::apply::parse_documents;
use nines_core::slo::{DAY_MS, day_floor};
use nines_store::Store;
use nines_store::statuspage::GroupMember;
use std::time::Instant;

fn env(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL=sqlite://PATH");
    let services = env("SERVICES", 5_000) as usize;
    let days = env("DAYS", 90);
    let groups = env("GROUPS", 50) as usize;
    let store = Store::connect(&url).await.unwrap();
    let now = jiff::Timestamp::now().as_millisecond();
    let start = day_floor(now) - days * DAY_MS;
    let t = Instant::now();
    let mut doc = String::new();
    for i in 0..services {
        doc.push_str(&format!(
            "---\nversion: \"1\"\nhierarchy: {{organization: bench, platform: p{}, environment: prod, cluster: c{}}}\nservice: {{name: svc-{i}, criticality: medium}}\n",
            i % 5,
            i % 20
        ));
    }
    let specs = parse_documents(&doc).unwrap();
    let items = store.apply(&specs, nines_core::Source::Config, start).await.unwrap();
    let mut seed: u64 = 0x2545f4914f6cdd1d;
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
        for d in 0..days {
            if rnd(25) != 0 {
                continue;
            }
            let at = start + d * DAY_MS + rnd(20 * 3_600_000);
            push(&mut rows, at, if rnd(3) == 0 { Status::Degraded } else { Status::Down });
            push(&mut rows, at + 5 * 60_000 + rnd(55 * 60_000), Status::Operational);
        }
        // a few are in trouble right now
        if k % 1000 == 7 {
            push(&mut rows, now - 20 * 60_000, if k % 2000 == 7 { Status::Down } else { Status::Degraded });
        }
        let last = cur;
        if rows.len() > 20_000 {
            nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
            rows.clear();
        }
        nines_store::testing::set_status(&store, it.id, last).await.unwrap();
    }
    nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
    let per = services.div_ceil(groups.max(1));
    for g in 0..groups {
        let members: Vec<GroupMember> = items
            .iter()
            .enumerate()
            .skip(g * per)
            .take(per)
            .map(|(i, it)| GroupMember {
                node_id: it.node_id.clone(),
                service: it.service.clone(),
                display_name: format!("Service {i}"),
                description: Some(format!("Public service number {i}")),
            })
            .collect();
        store
            .put_status_group(
                "bench",
                &format!("group-{g}"),
                &format!("Group {g}"),
                Some("A group of services"),
                Some(g as i64),
                &members,
                start,
            )
            .await
            .unwrap();
    }
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let finalized = store.aggregate(now, 15 * 60_000, 10_000).await.unwrap();
    println!(
        "seeded {services} services in {groups} groups with {days} days of history in {gen_s:.1} s; finalized {finalized} days in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}
