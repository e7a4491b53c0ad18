//! SLO engine benchmark: 10,000 services with 90 days of history (a few
//! transitions per service per day, a few hundred flapping services) on
//! SQLite. Measures, in one run: the SLO overview of all services through
//! the engine's bulk path (final daily results plus the timeline at the
//! edges) against the same figures computed service by service from the
//! timeline; one service's 90-day daily series; the database size per
//! service-year. Run with `bench/slo/run.sh`.

use nines_core::Status;
use nines_core::apply::parse_documents;
use nines_core::slo::{DAY_MS, Span};
use nines_server::config::SloConfig;
use nines_store::Store;
use std::time::Instant;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let services: usize = std::env::var("SERVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let days: i64 = std::env::var("DAYS").ok().and_then(|v| v.parse().ok()).unwrap_or(90);
    let flapping: usize = std::env::var("FLAPPING").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let dir = nines_store::testing::ScratchDir::new("slo-bench");
    let url = format!("sqlite://{}", dir.0.join("nines.db").display());
    let store = Store::connect(&url).await.unwrap();
    let now = nines_core::slo::day_floor(jiff::Timestamp::now().as_millisecond()) + 10 * 3_600_000;
    let start = nines_core::slo::day_floor(now) - days * DAY_MS;

    let t = Instant::now();
    let mut doc = String::new();
    for i in 0..services {
        let crit = ["critical", "high", "medium", "low"][i % 4];
        doc.push_str(&format!(
            "---\nversion: \"1\"\nhierarchy: {{organization: bench, platform: p{}, environment: prod, cluster: c{}}}\nservice: {{name: svc-{i}, criticality: {crit}, slaGroup: g{}}}\n",
            i % 5,
            i % 20,
            i % 100
        ));
    }
    let specs = parse_documents(&doc).unwrap();
    let items = store.apply(&specs, nines_core::Source::Config, start).await.unwrap();
    // history: every service OPERATIONAL from the start, then a few outages a
    // day; the flapping ones change every few minutes for hours each day
    let mut rows = Vec::new();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut rnd = move |n: i64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as i64
    };
    for (k, it) in items.iter().enumerate() {
        let mut cur = Status::Unknown;
        let mut push = |rows: &mut Vec<_>, at: i64, to: Status| {
            if to != cur {
                rows.push((it.id, at, cur, to));
                cur = to;
            }
        };
        push(&mut rows, start + rnd(60_000), Status::Operational);
        for d in 0..days {
            let day = start + d * DAY_MS;
            let outages = if k < flapping { 0 } else { rnd(3) };
            for o in 0..outages {
                let at = day + (o + 1) * 7 * 3_600_000 + rnd(3_600_000);
                push(&mut rows, at, if rnd(4) == 0 { Status::Degraded } else { Status::Down });
                push(&mut rows, at + 60_000 + rnd(1_800_000), Status::Operational);
            }
            if k < flapping {
                let mut at = day + 3_600_000;
                for _ in 0..40 {
                    at += 60_000 + rnd(300_000);
                    push(&mut rows, at, Status::Down);
                    at += 60_000 + rnd(300_000);
                    push(&mut rows, at, Status::Operational);
                }
            }
        }
        let last = cur;
        if k % 1000 == 0 {
            nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
            rows.clear();
        }
        nines_store::testing::set_status(&store, it.id, last).await.unwrap();
    }
    nines_store::testing::insert_transitions(&store, &rows).await.unwrap();
    let gen_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let finalized = store.aggregate(now, 15 * 60_000, 1000).await.unwrap();
    let agg_s = t.elapsed().as_secs_f64();
    let bytes = nines_store::testing::database_bytes(&url).await.unwrap_or(0);
    println!(
        "generated {services} services x {days} days ({flapping} flapping) in {gen_s:.1} s; finalized {finalized} days in {agg_s:.1} s"
    );

    let cfg = SloConfig::from_map(&Default::default());
    let w = Span { from: now - 30 * DAY_MS, to: now };
    let mut bulk_ms = Vec::new();
    let mut checksum = 0.0;
    for _ in 0..7 {
        let t = Instant::now();
        let b = nines_server::slo::bulk(&store, None, w, &cfg).await.unwrap();
        let items = nines_server::slo::overview_items(&b, &cfg);
        bulk_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        checksum = items.iter().filter_map(|i| i.availability).sum::<f64>();
    }
    // where the bulk path spends its time
    {
        let first_day = nines_core::slo::day_floor(w.from);
        let cursor = store.days_final_until().await.unwrap().unwrap();
        let l = first_day + DAY_MS;
        let s_edge = l.max(nines_core::slo::day_floor(w.to).min(cursor));
        let t = Instant::now();
        let subjects = store.slo_subjects(None).await.unwrap();
        let a = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let sums = store.day_sums(None, first_day, l, s_edge).await.unwrap();
        let b = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let trs = store
            .transitions_in(None, &[Span { from: first_day, to: l }, Span { from: s_edge, to: w.to }])
            .await
            .unwrap();
        let c = t.elapsed().as_secs_f64() * 1000.0;
        let n: usize = trs.values().map(|v| v.len()).sum();
        println!(
            "bulk parts: subjects {a:.0} ms ({}), running totals {b:.0} ms ({}), edge transitions {c:.0} ms ({n})",
            subjects.len(),
            sums.len()
        );
    }
    // the same figures, service by service straight from the timeline
    let t = Instant::now();
    let subjects = store.slo_subjects(None).await.unwrap();
    let mut direct_sum = 0.0;
    for s in &subjects {
        let d = nines_server::slo::service_durations(&store, s, w).await.unwrap();
        if let Some(a) = d.classify(&nines_server::slo::policy_for(s, &cfg)).availability() {
            direct_sum += a * 100.0;
        }
    }
    let direct_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut series_ms = Vec::new();
    let flappy = &subjects[0];
    for _ in 0..51 {
        let t = Instant::now();
        let s = nines_server::slo::daily_series(&store, flappy, 90, now, &cfg).await.unwrap();
        series_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(s.len(), 90);
    }
    let bulk_med = median(&mut bulk_ms);
    println!(
        "overview of {services} services, 30d: bulk median {bulk_med:.1} ms; direct (per service from the timeline) {direct_ms:.0} ms; ratio direct/bulk {:.1}",
        direct_ms / bulk_med
    );
    println!("figures agree: {}", (checksum - direct_sum).abs() < 1e-6 * services as f64);
    println!("90-day daily series of one flapping service: median {:.2} ms", median(&mut series_ms));
    let service_years = services as f64 * days as f64 / 365.0;
    println!(
        "database: {:.1} MiB for {services} services x {days} days = {:.0} KiB per service-year",
        bytes as f64 / 1048576.0,
        bytes as f64 / 1024.0 / service_years
    );
    println!(
        "RESULT overview_ms={bulk_med:.1} direct_ms={direct_ms:.0} series_ms={:.2} kib_per_service_year={:.0}",
        median(&mut series_ms),
        bytes as f64 / 1024.0 / service_years
    );
}
