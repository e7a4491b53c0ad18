//! The storage scenario suite: every scenario runs against SQLite and, when
//! reachable, PostgreSQL, and must behave the same on both.

use nines_core::apply::parse_documents;
use nines_core::timeline::{Cause, StaleRule};
use nines_core::wire::BackupStatus;
use nines_core::{Criticality, OrgScope, Role, Source, Status};
use nines_store::testing::{TestDb, all};
use nines_store::{BackupTarget, HealthOp, NewService, ServiceFilter, StorageOp, Store};

const T0: i64 = 1_800_000_000_000;
const RULE: StaleRule = StaleRule { unknown_after_ms: 120_000, down_after_ms: 300_000 };

fn svc(org: &str, node: &str, name: &str) -> NewService {
    NewService {
        organization: org.into(),
        node_id: node.into(),
        name: name.into(),
        kind: "external".into(),
        criticality: Criticality::Medium,
        sla_group: None,
        tags: vec![],
        source: Source::Push,
        backup_expected: false,
    }
}

fn health(s: NewService, status: Status, at: i64) -> HealthOp {
    HealthOp {
        service: s,
        status,
        message: Some(format!("{status} at {at}")),
        at,
        received_at: at,
        cause: Cause::Report,
    }
}

async fn each(f: impl AsyncFn(&TestDb)) {
    for db in all().await {
        eprintln!("-- backend {}", db.label);
        f(&db).await;
    }
}

async fn timeline(store: &Store, id: i64) -> Vec<(i64, Status, Status, Cause)> {
    store.timeline(id, i64::MIN, i64::MAX).await.unwrap().iter().map(|(t, _)| (t.at, t.from, t.to, t.cause)).collect()
}

#[tokio::test]
async fn first_push_creates_later_pushes_update_status_only() {
    each(async |db| {
        let s = &db.store;
        let mut first = svc("myorg", "myorg/infra/prod/dc1", "galera-node1");
        first.criticality = Criticality::Critical;
        first.sla_group = Some("database-cluster".into());
        first.tags = vec!["database".into()];
        let acks = s.ingest_health(&[health(first, Status::Operational, T0)], &RULE, 0).await.unwrap();
        assert!(acks[0].created);
        let mut second = svc("myorg", "myorg/infra/prod/dc1", "galera-node1");
        second.criticality = Criticality::Low;
        second.sla_group = Some("other".into());
        let acks2 = s.ingest_health(&[health(second, Status::Down, T0 + 1000)], &RULE, 0).await.unwrap();
        assert!(!acks2[0].created);
        assert_eq!(acks2[0].id, acks[0].id);
        let rec = s.get_service(acks[0].id).await.unwrap().unwrap();
        assert_eq!(rec.view.status, Status::Down);
        assert_eq!(rec.view.criticality, Criticality::Critical, "later pushes do not change criticality");
        assert_eq!(rec.view.sla_group.as_deref(), Some("database-cluster"));
        assert_eq!(rec.view.tags, vec!["database".to_string()]);
        assert_eq!(
            timeline(s, acks[0].id).await,
            vec![
                (T0, Status::Unknown, Status::Operational, Cause::Report),
                (T0 + 1000, Status::Operational, Status::Down, Cause::Report)
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_batch_with_many_services_and_repeats_is_one_consistent_write() {
    each(async |db| {
        let s = &db.store;
        let mut ops = Vec::new();
        for i in 0..300 {
            let name = format!("svc-{}", i % 100);
            let status = if i >= 200 && i % 2 == 0 { Status::Down } else { Status::Operational };
            ops.push(health(svc("o", "o/p/e/c", &name), status, T0 + i as i64));
        }
        let acks = s.ingest_health(&ops, &RULE, 0).await.unwrap();
        assert_eq!(acks.len(), 300);
        assert_eq!(acks.iter().filter(|a| a.created).count(), 100);
        let list = s.list_services(&ServiceFilter::default()).await.unwrap();
        assert_eq!(list.len(), 100);
        let down = list.iter().filter(|r| r.view.status == Status::Down).count();
        assert_eq!(down, 50);
        // svc-0: OPERATIONAL at T0, T0+100, then DOWN at T0+200
        let id0 = acks[0].id;
        assert_eq!(
            timeline(s, id0).await,
            vec![
                (T0, Status::Unknown, Status::Operational, Cause::Report),
                (T0 + 200, Status::Operational, Status::Down, Cause::Report)
            ]
        );
        assert_eq!(s.observation_count(id0).await.unwrap(), 3);
    })
    .await;
}

/// A batch of reports for services nines already knows (on SQLite, written
/// by the store's writer thread) leaves the same timelines, states and observations as the
/// same reports one at a time; a late report in a batch is placed too.
/// A batch is planned from the stored live state, not from what the
/// ingest path wrote last: a write it does not make (here straight to the
/// table) wins, and the batch after starts from the state this one left.
#[tokio::test]
async fn reports_after_a_write_elsewhere_start_from_the_stored_state() {
    each(async |db| {
        let s = &db.store;
        let a = svc("acme", "acme/p/e/c", "a");
        let b = svc("acme", "acme/p/e/c", "b");
        s.ingest_health(
            &[health(a.clone(), Status::Operational, T0), health(b.clone(), Status::Operational, T0)],
            &RULE,
            0,
        )
        .await
        .unwrap();
        // the ingest path last wrote both OPERATIONAL
        let acks = s
            .ingest_health(
                &[
                    health(a.clone(), Status::Operational, T0 + 1_000),
                    health(b.clone(), Status::Operational, T0 + 1_000),
                ],
                &RULE,
                0,
            )
            .await
            .unwrap();
        let (ida, idb) = (acks[0].id, acks[1].id);
        // another writer marks `a` DOWN behind the ingest path's back
        nines_store::testing::set_status(s, ida, Status::Down).await.unwrap();
        let acks = s
            .ingest_health(
                &[health(a.clone(), Status::Degraded, T0 + 2_000), health(b.clone(), Status::Degraded, T0 + 2_000)],
                &RULE,
                0,
            )
            .await
            .unwrap();
        assert_eq!((acks[0].status, acks[1].status), (Status::Degraded, Status::Degraded));
        let ta = timeline(s, ida).await;
        assert_eq!(ta.last(), Some(&(T0 + 2_000, Status::Down, Status::Degraded, Cause::Report)), "{ta:?}");
        let tb = timeline(s, idb).await;
        assert_eq!(tb.last(), Some(&(T0 + 2_000, Status::Operational, Status::Degraded, Cause::Report)), "{tb:?}");
        // one observation a report
        assert_eq!((s.observation_count(ida).await.unwrap(), s.observation_count(idb).await.unwrap()), (3, 3));
        // and the state this batch left is what the next one starts from
        s.ingest_health(&[health(a.clone(), Status::Operational, T0 + 3_000)], &RULE, 0).await.unwrap();
        let ta = timeline(s, ida).await;
        assert_eq!(ta.last(), Some(&(T0 + 3_000, Status::Degraded, Status::Operational, Cause::Report)), "{ta:?}");
        assert_eq!(ta.len(), 3, "{ta:?}");
        // a deleted service is created anew, not written under its old id
        assert!(s.delete_service("acme", "acme/p/e/c", "b").await.unwrap());
        let acks = s.ingest_health(&[health(b.clone(), Status::Down, T0 + 4_000)], &RULE, 0).await.unwrap();
        assert!(acks[0].created && acks[0].id != idb, "{:?}", acks[0]);
        assert_eq!(timeline(s, acks[0].id).await, vec![(T0 + 4_000, Status::Unknown, Status::Down, Cause::Report)]);
    })
    .await;
}

#[tokio::test]
async fn a_batch_of_known_services_writes_what_single_reports_write() {
    each(async |db| {
        let s = &db.store;
        let names: Vec<String> = (0..40).map(|i| format!("svc-{i}")).collect();
        for org in ["batched", "single"] {
            let ops: Vec<_> =
                names.iter().map(|n| health(svc(org, &format!("{org}/p/e/c"), n), Status::Operational, T0)).collect();
            s.ingest_health(&ops, &RULE, 0).await.unwrap();
        }
        let statuses = [Status::Operational, Status::Degraded, Status::Down, Status::Operational];
        let op = |org: &str, i: usize| {
            let name = &names[(i * 7) % names.len()];
            health(svc(org, &format!("{org}/p/e/c"), name), statuses[(i / 40) % 4], T0 + 1_000 + (i as i64) * 500)
        };
        let batched: Vec<_> = (0..160).map(|i| op("batched", i)).collect();
        let acks = s.ingest_health(&batched, &RULE, 0).await.unwrap();
        let mut single = Vec::new();
        for i in 0..160 {
            single.push(s.ingest_health(&[op("single", i)], &RULE, 0).await.unwrap().remove(0));
        }
        for (a, b) in acks.iter().zip(&single) {
            // (an ack's status is its service's after the whole batch)
            assert_eq!((a.id != b.id, a.created, a.late), (true, b.created, b.late), "{}", a.service);
        }
        // a batch mixing in-order reports with one that comes late
        for org in ["batched", "single"] {
            let node = format!("{org}/p/e/c");
            let mut late = health(svc(org, &node, &names[3]), Status::Down, T0 + 500);
            late.received_at = T0 + 200_000;
            let fresh = health(svc(org, &node, &names[5]), Status::Down, T0 + 200_000);
            let acks = s.ingest_health(&[fresh, late], &RULE, 0).await.unwrap();
            assert_eq!((acks[0].late, acks[1].late), (false, true));
        }
        for name in &names {
            let find = async |org: &str| {
                let node = format!("{org}/p/e/c");
                let list = s.list_services(&ServiceFilter::default()).await.unwrap();
                let rec = list.into_iter().find(|r| r.view.node_id == node && r.view.service == *name).unwrap();
                let id = rec.view.id;
                let full = s.get_service(id).await.unwrap().unwrap();
                (
                    timeline(s, id).await,
                    full.view.status,
                    full.view.message.clone(),
                    s.observation_count(id).await.unwrap(),
                )
            };
            let (a, b) = (find("batched").await, find("single").await);
            assert_eq!(a, b, "{name}");
            if name == &names[3] || name == &names[5] {
                continue; // the mixed batch changed these
            }
            // by hand: each service has one report a round of 40, the rounds
            // say OPERATIONAL, DEGRADED, DOWN, OPERATIONAL
            let k = names.iter().position(|n| n == name).unwrap();
            let first = (0..40).find(|i| (i * 7) % 40 == k).unwrap();
            let at = |round: usize| T0 + 1_000 + ((first + 40 * round) as i64) * 500;
            assert_eq!(
                a.0,
                vec![
                    (T0, Status::Unknown, Status::Operational, Cause::Report),
                    (at(1), Status::Operational, Status::Degraded, Cause::Report),
                    (at(2), Status::Degraded, Status::Down, Cause::Report),
                    (at(3), Status::Down, Status::Operational, Cause::Report),
                ],
                "{name}"
            );
            assert_eq!(
                (a.1, a.2.as_deref(), a.3),
                (Status::Operational, Some(format!("OPERATIONAL at {}", at(3)).as_str()), 5)
            );
        }
    })
    .await;
}

/// Health batches (on SQLite, batches of known services are written by the
/// store's writer thread over a connection of its own), new services, and
/// the store's other writes run side by side: none fails, and every report
/// is stored exactly once.
#[tokio::test]
async fn health_batches_and_other_writes_interleave_without_loss() {
    each(async |db| {
        let s = &db.store;
        let names: Vec<String> = (0..50).map(|i| format!("svc-{i}")).collect();
        let ops: Vec<_> = names.iter().map(|n| health(svc("mix", "mix/p/e/c", n), Status::Operational, T0)).collect();
        let ids: Vec<i64> = s.ingest_health(&ops, &RULE, 0).await.unwrap().iter().map(|a| a.id).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..4i64 {
            let (s, names) = (s.clone(), names.clone());
            tasks.spawn(async move {
                for round in 0..25i64 {
                    // writers interleave in time: some reports come late to
                    // a service another writer has moved on, and take the
                    // general path
                    let at = T0 + 1_000 * (1 + round * 4 + w);
                    let ops: Vec<_> =
                        names.iter().map(|n| health(svc("mix", "mix/p/e/c", n), Status::Operational, at)).collect();
                    s.ingest_health(&ops, &RULE, 0).await.unwrap();
                }
            });
        }
        let store = s.clone();
        tasks.spawn(async move {
            for i in 0..40 {
                let op = health(svc("mix", "mix/p/e/new", &format!("new-{i}")), Status::Down, T0 + i);
                assert!(store.ingest_health(&[op], &RULE, 0).await.unwrap()[0].created);
            }
        });
        let store = s.clone();
        tasks.spawn(async move {
            for i in 0..40 {
                assert!(store.claim_once(&format!("interleave-{i}"), "x").await.unwrap());
            }
        });
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        for id in ids {
            assert_eq!(s.observation_count(id).await.unwrap(), 101, "service {id}: the first report and 4 × 25");
            let t = timeline(s, id).await;
            assert_eq!(t, vec![(T0, Status::Unknown, Status::Operational, Cause::Report)]);
        }
        let f = ServiceFilter { status: Some("DOWN".into()), ..Default::default() };
        assert_eq!(s.list_services(&f).await.unwrap().len(), 40);
    })
    .await;
}

#[tokio::test]
async fn a_late_report_is_placed_where_it_happened() {
    each(async |db| {
        let s = &db.store;
        let n = || svc("o", "o/p/e/c", "late");
        let id = s.ingest_health(&[health(n(), Status::Operational, T0)], &RULE, 0).await.unwrap()[0].id;
        s.ingest_health(&[health(n(), Status::Operational, T0 + 60_000)], &RULE, 0).await.unwrap();
        s.ingest_health(&[health(n(), Status::Operational, T0 + 100_000)], &RULE, 0).await.unwrap();
        // an agent delivers, late, that the service was down at T0+30s
        let mut op = health(n(), Status::Down, T0 + 30_000);
        op.received_at = T0 + 110_000;
        let ack = s.ingest_health(&[op], &RULE, 0).await.unwrap();
        assert!(ack[0].late);
        assert_eq!(ack[0].status, Status::Operational, "the newest report still decides the current status");
        assert_eq!(
            timeline(s, id).await,
            vec![
                (T0, Status::Unknown, Status::Operational, Cause::Report),
                (T0 + 30_000, Status::Operational, Status::Down, Cause::Report),
                (T0 + 60_000, Status::Down, Status::Operational, Cause::Report)
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn stale_detection_places_marks_at_exact_instants_and_recovers() {
    each(async |db| {
        let s = &db.store;
        let n = || svc("o", "o/p/e/c", "cron");
        let id = s.ingest_health(&[health(n(), Status::Operational, T0)], &RULE, 0).await.unwrap()[0].id;
        assert!(s.stale_tick(&RULE, T0 + 60_000, 0).await.unwrap().is_empty());
        let t = s.stale_tick(&RULE, T0 + 150_000, 0).await.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].1.at, t[0].1.to), (T0 + 120_000, Status::Unknown));
        let t = s.stale_tick(&RULE, T0 + 360_000, 0).await.unwrap();
        assert_eq!((t[0].1.at, t[0].1.to), (T0 + 300_000, Status::Down));
        assert!(s.stale_tick(&RULE, T0 + 900_000, 0).await.unwrap().is_empty(), "nothing more to mark");
        assert_eq!(s.get_service(id).await.unwrap().unwrap().view.status, Status::Down);
        s.ingest_health(&[health(n(), Status::Operational, T0 + 950_000)], &RULE, 0).await.unwrap();
        let tl = timeline(s, id).await;
        assert_eq!(tl.last().unwrap(), &(T0 + 950_000, Status::Down, Status::Operational, Cause::Report));
        assert_eq!(tl.len(), 4);
    })
    .await;
}

#[tokio::test]
async fn silence_before_the_watch_floor_is_not_counted() {
    each(async |db| {
        let s = &db.store;
        let id = s.ingest_health(&[health(svc("o", "o/p/e/c", "x"), Status::Operational, T0)], &RULE, 0).await.unwrap()
            [0]
        .id;
        // nines was down until T0 + 1h; it restarts and watches from then
        let floor = T0 + 3_600_000;
        assert!(s.stale_tick(&RULE, floor + 60_000, floor).await.unwrap().is_empty());
        let t = s.stale_tick(&RULE, floor + 130_000, floor).await.unwrap();
        assert_eq!(t[0].1.at, floor + 120_000);
        assert_eq!(t[0].0, id);
    })
    .await;
}

#[tokio::test]
async fn services_not_fed_by_health_pushes_never_go_stale() {
    each(async |db| {
        let s = &db.store;
        let op = StorageOp {
            service: svc("o", "o/p/e/c", "disk"),
            allocated_bytes: Some(100),
            used_bytes: Some(95),
            free_percent: 5.0,
            storage_type: Some("pvc".into()),
            mount_path: None,
            at: T0,
        };
        s.storage_report(&op, T0).await.unwrap();
        assert!(s.stale_tick(&RULE, T0 + 86_400_000, 0).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn storage_reports_create_tag_and_keep_the_newest() {
    each(async |db| {
        let s = &db.store;
        let mut op = StorageOp {
            service: NewService { tags: vec!["storage".into()], ..svc("o", "o/p/e/c", "pg") },
            allocated_bytes: Some(1000),
            used_bytes: Some(950),
            free_percent: 5.0,
            storage_type: Some("pvc".into()),
            mount_path: Some("/data".into()),
            at: T0,
        };
        let (id, created) = s.storage_report(&op, T0).await.unwrap();
        assert!(created);
        op.at = T0 - 10_000; // an older report arriving later does not win
        op.free_percent = 80.0;
        s.storage_report(&op, T0 + 1).await.unwrap();
        let rec = s.get_service(id).await.unwrap().unwrap();
        let st = rec.storage().unwrap();
        assert_eq!(st.free_percent, Some(5.0));
        assert_eq!(st.level, nines_core::StorageLevel::Critical);
        assert_eq!(rec.view.tags, vec!["storage".to_string()]);
        assert_eq!(rec.view.source, "push");
        // a health-created service gains the tag only through a storage report
        let hid =
            s.ingest_health(&[health(svc("o", "o/p/e/c", "h"), Status::Operational, T0)], &RULE, 0).await.unwrap()[0]
                .id;
        assert!(s.get_service(hid).await.unwrap().unwrap().storage().is_none());
        op.service = svc("o", "o/p/e/c", "h");
        op.at = T0 + 5;
        s.storage_report(&op, T0 + 5).await.unwrap();
        let rec = s.get_service(hid).await.unwrap().unwrap();
        assert_eq!(rec.view.tags, vec!["storage".to_string()]);
        assert_eq!(rec.storage().unwrap().free_percent, Some(80.0));
    })
    .await;
}

const DOCS: &str = r#"
version: "1"
hierarchy: {organization: myorg, platform: pf, environment: prod, cluster: c1}
service:
  name: postgresql
  criticality: critical
  slaGroup: payment-system
  type: database
  tags: [database, storage]
metadata:
  allocatedStorage: "1000"
  usedStorage: "250"
  usedBy:
    - {name: payment-api, displayName: Payment API}
operations:
  backup: {expected: true, maxAgeDays: 1}
namespace: production
---
version: "1"
hierarchy: {organization: myorg, platform: pf, environment: prod, cluster: c2}
service: {name: payment-api, slaGroup: payment-system}
operations:
  backup: {expected: true, maxAgeDays: 2}
namespace: production
"#;

#[tokio::test]
async fn apply_is_idempotent_and_groups_merge_across_sources_and_clusters() {
    each(async |db| {
        let s = &db.store;
        let specs = parse_documents(DOCS).unwrap();
        let first = s.apply(&specs, Source::Config, T0).await.unwrap();
        assert_eq!(first.iter().map(|i| i.action.as_str()).collect::<Vec<_>>(), vec!["created", "created"]);
        let again = s.apply(&specs, Source::Config, T0 + 1000).await.unwrap();
        assert_eq!(again.iter().map(|i| i.action.as_str()).collect::<Vec<_>>(), vec!["unchanged", "unchanged"]);
        let rec = s.get_service(first[0].id).await.unwrap().unwrap();
        assert_eq!(rec.view.updated_at, nines_core::clock::rfc3339(T0), "an unchanged apply writes nothing");
        let st = rec.storage().unwrap();
        assert_eq!(st.free_percent, Some(75.0));
        assert_eq!(st.used_by[0].display_name.as_deref(), Some("Payment API"));
        // a push from a third cluster joins the same group
        let mut p = svc("myorg", "myorg/pf/prod/c3", "bare-db");
        p.sla_group = Some("payment-system".into());
        s.ingest_health(&[health(p, Status::Operational, T0)], &RULE, 0).await.unwrap();
        let groups = s.sla_groups(Some("myorg")).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members.len(), 3);
        assert_eq!(groups[0].sources, vec!["config".to_string(), "push".to_string()]);
        assert_eq!(groups[0].clusters.len(), 3);
        // another organization's group of the same name stays apart
        assert!(s.sla_groups(Some("other")).await.unwrap().is_empty());
        // a changed document updates
        let changed = DOCS.replace("criticality: critical", "criticality: high");
        let upd = s.apply(&parse_documents(&changed).unwrap(), Source::Config, T0 + 2000).await.unwrap();
        assert_eq!(upd[0].action, "updated");
        assert_eq!(upd[1].action, "unchanged");
        assert_eq!(s.get_service(first[0].id).await.unwrap().unwrap().view.criticality, Criticality::High);
    })
    .await;
}

#[tokio::test]
async fn backup_reports_by_service_group_and_namespace() {
    each(async |db| {
        let s = &db.store;
        let specs = parse_documents(DOCS).unwrap();
        let ids: Vec<i64> = s.apply(&specs, Source::Config, T0).await.unwrap().iter().map(|i| i.id).collect();
        let day = 86_400_000;
        // nothing yet: overdue one day after registration for maxAgeDays 1
        let rec = s.get_service(ids[0]).await.unwrap().unwrap();
        assert!(!rec.backup(T0 + day / 2).unwrap().overdue);
        assert!(rec.backup(T0 + day + 1).unwrap().overdue);
        // group report reaches both members with a backup expected
        let target = BackupTarget::SlaGroup { organization: Some("myorg".into()), name: "payment-system".into() };
        let (hit, _) =
            s.backup_report(&target, BackupStatus::Success, Some(5), None, T0 + day, T0 + day).await.unwrap();
        assert_eq!(hit.len(), 2);
        let b = s.get_service(ids[0]).await.unwrap().unwrap().backup(T0 + day + 1000).unwrap();
        assert!(!b.overdue);
        assert_eq!(b.size_bytes, Some(5));
        // a failed backup does not reset the age
        let target = BackupTarget::Namespace {
            organization: Some("myorg".into()),
            node_id: None,
            namespace: "production".into(),
        };
        let (hit, _) = s
            .backup_report(&target, BackupStatus::Failed, None, Some("disk full"), T0 + 2 * day, T0 + 2 * day)
            .await
            .unwrap();
        assert_eq!(hit.len(), 2);
        let b = s.get_service(ids[0]).await.unwrap().unwrap().backup(T0 + 2 * day + 1).unwrap();
        assert_eq!(b.last_status.as_deref(), Some("failed"));
        assert!(b.overdue, "last success is more than maxAgeDays old");
        let b2 = s.get_service(ids[1]).await.unwrap().unwrap().backup(T0 + 2 * day + 1).unwrap();
        assert!(!b2.overdue, "maxAgeDays 2");
        // unknown group writes nothing and says so
        let target = BackupTarget::SlaGroup { organization: Some("myorg".into()), name: "nope".into() };
        assert!(matches!(
            s.backup_report(&target, BackupStatus::Success, None, None, T0, T0).await,
            Err(nines_store::Error::Invalid { .. })
        ));
        // a service-level report creates the service with a backup expected
        let (hit, created) = s
            .backup_report(
                &BackupTarget::Service(svc("myorg", "myorg/pf/prod/c1", "minio")),
                BackupStatus::Success,
                None,
                None,
                T0,
                T0,
            )
            .await
            .unwrap();
        assert!(created);
        let b = s.get_service(hit[0].id).await.unwrap().unwrap().backup(T0 + 1).unwrap();
        assert!(b.expected && !b.overdue);
    })
    .await;
}

#[tokio::test]
async fn api_keys_store_only_hashes_and_verify() {
    each(async |db| {
        let s = &db.store;
        let (key, secret) = s.create_api_key("ci", &OrgScope::One("myorg".into()), Role::Agent, T0).await.unwrap();
        let found = s.find_api_key(&key.id).await.unwrap().unwrap();
        assert!(found.verify(&secret));
        assert!(!found.verify(&secret.replace('a', "b").replace('1', "2")));
        assert_eq!(found.scope, OrgScope::One("myorg".into()));
        // listing returns the key record (its secret is never kept: only its hash)
        let keys = s.list_api_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert!(matches!(
            s.create_api_key("x", &OrgScope::All, Role::Agent, T0).await,
            Err(nines_store::Error::Invalid { .. })
        ));
        assert!(s.revoke_api_key(&key.id, T0).await.unwrap());
        assert!(s.find_api_key(&key.id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn leases_have_one_holder_and_expire() {
    each(async |db| {
        let s = &db.store;
        let a = s.try_lease("workers", "a", T0, 15_000, 60_000).await.unwrap().unwrap();
        assert_eq!(a.watch_since, T0);
        assert!(s.try_lease("workers", "b", T0 + 5_000, 15_000, 60_000).await.unwrap().is_none());
        // a renews
        assert!(s.try_lease("workers", "a", T0 + 10_000, 15_000, 60_000).await.unwrap().is_some());
        // a dies; b takes over after expiry and inherits the watch
        let b = s.try_lease("workers", "b", T0 + 26_000, 15_000, 60_000).await.unwrap().unwrap();
        assert_eq!(b.watch_since, T0);
        assert_eq!(s.lease_holder("workers").await.unwrap().unwrap().0, "b");
        // after a long gap the watch starts afresh
        let c = s.try_lease("workers", "c", T0 + 500_000, 15_000, 60_000).await.unwrap().unwrap();
        assert_eq!(c.watch_since, T0 + 500_000);
        // released leases are free at once
        s.release_lease("workers", "c", T0 + 501_000).await.unwrap();
        assert!(s.try_lease("workers", "d", T0 + 501_000, 15_000, 60_000).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn filters_by_node_prefix_tag_status_and_group() {
    each(async |db| {
        let s = &db.store;
        let mut a = svc("o", "o/p1/prod/c1", "a");
        a.tags = vec!["db".into()];
        a.sla_group = Some("g".into());
        let b = svc("o", "o/p2/prod/c1", "b");
        let c = svc("o2", "unknown", "c");
        s.ingest_health(
            &[health(a, Status::Down, T0), health(b, Status::Operational, T0), health(c, Status::Operational, T0)],
            &RULE,
            0,
        )
        .await
        .unwrap();
        let q = |f: ServiceFilter| async move {
            s.list_services(&f).await.unwrap().iter().map(|r| r.view.service.clone()).collect::<Vec<_>>()
        };
        assert_eq!(q(ServiceFilter { node_id: Some("o/p1".into()), ..Default::default() }).await, vec!["a"]);
        assert_eq!(
            q(ServiceFilter { node_id: Some("o/p".into()), ..Default::default() }).await,
            Vec::<String>::new(),
            "prefixes are whole segments"
        );
        assert_eq!(q(ServiceFilter { tag: Some("db".into()), ..Default::default() }).await, vec!["a"]);
        assert_eq!(q(ServiceFilter { status: Some("OPERATIONAL".into()), ..Default::default() }).await, vec!["b", "c"]);
        assert_eq!(q(ServiceFilter { sla_group: Some("g".into()), ..Default::default() }).await, vec!["a"]);
        assert_eq!(q(ServiceFilter { organization: Some("o2".into()), ..Default::default() }).await, vec!["c"]);
        let rec =
            s.list_services(&ServiceFilter { organization: Some("o2".into()), ..Default::default() }).await.unwrap();
        assert!(rec[0].view.node_flagged);
    })
    .await;
}

/// One pass of the downtime engine over the transitions after `cursor`, as
/// the server's worker runs it, starting from the stored open downtimes.
async fn downtime_pass(s: &Store, cursor: i64) -> i64 {
    use nines_core::downtime::{OpenSet, decide_batch};
    let mut open = OpenSet::new(s.open_downtimes().await.unwrap());
    let rows = s.transitions_after(cursor, 1000).await.unwrap();
    let Some(last) = rows.last().map(|r| r.id) else { return cursor };
    let batch = rows.iter().map(|r| (&r.subject, r.from, r.to, r.at));
    let all = decide_batch(&mut open, batch, 300_000, |_, _, _| false);
    s.apply_downtime_actions(&all, cursor, last, T0).await.unwrap();
    last
}

#[tokio::test]
async fn a_member_gone_silent_stays_down_across_passes() {
    each(async |db| {
        let s = &db.store;
        let node = "o/p/prod/c1";
        let (a, b) = (svc("o", node, "a"), svc("o", node, "b"));
        for (x, st, at) in [(&a, Status::Operational, T0), (&b, Status::Operational, T0)] {
            s.ingest_health(&[health(x.clone(), st, at)], &RULE, 0).await.unwrap();
        }
        let mut cursor = downtime_pass(s, 0).await;
        for (x, st, at) in
            [(&a, Status::Down, T0 + 1000), (&b, Status::Down, T0 + 2000), (&a, Status::Unknown, T0 + 3000)]
        {
            s.ingest_health(&[health(x.clone(), st, at)], &RULE, 0).await.unwrap();
        }
        cursor = downtime_pass(s, cursor).await;
        let open = s.open_downtimes().await.unwrap();
        assert_eq!(open.len(), 1);
        let down: Vec<(String, bool)> = open[0].members.iter().map(|m| (m.subject.name.clone(), m.down)).collect();
        assert_eq!(down, vec![("a".to_string(), true), ("b".to_string(), true)], "silence is not recovery");
        // b recovers in a later pass, which starts from the stored members:
        // a is still down (silent), so the downtime stays open
        s.ingest_health(&[health(b.clone(), Status::Operational, T0 + 4000)], &RULE, 0).await.unwrap();
        cursor = downtime_pass(s, cursor).await;
        assert_eq!(s.open_downtimes().await.unwrap().len(), 1, "a silent member holds its downtime open");
        s.ingest_health(&[health(a.clone(), Status::Operational, T0 + 5000)], &RULE, 0).await.unwrap();
        downtime_pass(s, cursor).await;
        assert!(s.open_downtimes().await.unwrap().is_empty(), "resolved once a reports again");
    })
    .await;
}

#[tokio::test]
async fn pruning_in_chunks_removes_exactly_what_is_older() {
    each(async |db| {
        let s = &db.store;
        let a = svc("o", "o/p/prod/c1", "a");
        // 20 reports a second apart
        for i in 0..20 {
            let st = if i % 2 == 0 { Status::Operational } else { Status::Degraded };
            s.ingest_health(&[health(a.clone(), st, T0 + i * 1000)], &RULE, 0).await.unwrap();
        }
        let cutoff = T0 + 13_000;
        assert_eq!(s.observations_before(cutoff).await.unwrap(), 13);
        // chunks of 4: four full ones and a last of 1
        assert_eq!(s.prune_observations_by(cutoff, 4).await.unwrap(), 13);
        assert_eq!(s.observations_before(cutoff).await.unwrap(), 0);
        let id = s.ingest_health(&[health(a.clone(), Status::Operational, T0 + 20_000)], &RULE, 0).await.unwrap()[0].id;
        assert_eq!(s.observation_count(id).await.unwrap(), 8, "the 7 newer reports and this one stay");
        // the timeline is not touched by pruning
        assert_eq!(timeline(s, id).await.len(), 21);
    })
    .await;
}

fn sourced(s: NewService, status: Status, at: i64, cause: Cause, message: &str) -> HealthOp {
    HealthOp { service: s, status, message: Some(message.into()), at, received_at: at, cause }
}

async fn reasons(store: &Store, id: i64) -> Vec<(i64, Status, Option<String>)> {
    store.timeline(id, i64::MIN, i64::MAX).await.unwrap().into_iter().map(|(t, r)| (t.at, t.to, r)).collect()
}

#[tokio::test]
async fn each_source_keeps_its_own_state_through_ticks_and_late_reports() {
    each(async |db| {
        let s = &db.store;
        let api = || svc("o", "o/p/e/c", "api");
        let first = [sourced(api(), Status::Operational, T0, Cause::Probe, "api: 200 OK")];
        let id = s.ingest_health(&first, &RULE, 0).await.unwrap()[0].id;
        s.ingest_health(&[sourced(api(), Status::Operational, T0 + 1000, Cause::Report, "cron ok")], &RULE, 0)
            .await
            .unwrap();
        // the pushes stop: the push source goes stale, the service stays up with its checks
        let marked = s.stale_tick(&RULE, T0 + 400_000, 0).await.unwrap();
        assert!(marked.is_empty(), "{marked:?}");
        assert_eq!(s.get_service(id).await.unwrap().unwrap().view.status, Status::Operational);
        // a failing check shows, and a green push does not hide it
        s.ingest_health(&[sourced(api(), Status::Down, T0 + 500_000, Cause::Probe, "api: status 503")], &RULE, 0)
            .await
            .unwrap();
        s.ingest_health(&[sourced(api(), Status::Operational, T0 + 600_000, Cause::Report, "cron ok")], &RULE, 0)
            .await
            .unwrap();
        assert_eq!(s.get_service(id).await.unwrap().unwrap().view.status, Status::Down);
        // a late push rebuilds from its instant with the check's state as it stood then
        let late = s
            .ingest_health(&[sourced(api(), Status::Down, T0 + 300, Cause::Report, "disk full")], &RULE, 0)
            .await
            .unwrap();
        assert!(late[0].late);
        assert_eq!(
            reasons(s, id).await,
            vec![
                (T0, Status::Operational, Some("api: 200 OK".into())),
                (T0 + 300, Status::Down, Some("disk full".into())),
                (T0 + 1000, Status::Operational, Some("cron ok".into())),
                (T0 + 500_000, Status::Down, Some("api: status 503".into())),
            ]
        );
        assert_eq!(s.get_service(id).await.unwrap().unwrap().view.status, Status::Down);

        // a service with pushes alone still goes stale, each mark with its reason in words
        let first = [health(svc("o", "o/p/e/c", "cron"), Status::Operational, T0)];
        let cron = s.ingest_health(&first, &RULE, 0).await.unwrap()[0].id;
        let marked = s.stale_tick(&RULE, T0 + 400_000, 0).await.unwrap();
        assert_eq!(marked.iter().filter(|(sid, _)| *sid == cron).count(), 2);
        assert_eq!(
            reasons(s, cron).await[1..],
            [
                (T0 + 120_000, Status::Unknown, Some("no report for 2m".into())),
                (T0 + 300_000, Status::Down, Some("no report for 5m".into()))
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn a_service_is_tracked_from_its_earliest_observation_on_every_write_path() {
    each(async |db| {
        let s = &db.store;
        // declared an hour after the first thing an agent saw of it
        let items = s.apply(&parse_documents(DOCS).unwrap(), Source::Config, T0 + 3_600_000).await.unwrap();
        let id = items[0].id;
        let pg = || svc("myorg", "myorg/pf/prod/c1", "postgresql");
        // in order, on a known service: the batched path
        let first = [health(pg(), Status::Operational, T0)];
        let acks = s.ingest_health(&first, &RULE, 0).await.unwrap();
        assert_eq!((acks[0].id, acks[0].late), (id, false));
        let created = |r: nines_store::ServiceRecord| r.view.created_at;
        assert_eq!(created(s.get_service(id).await.unwrap().unwrap()), nines_core::clock::rfc3339(T0));
        // later reports never move it forward
        s.ingest_health(&[health(pg(), Status::Down, T0 + 7_200_000)], &RULE, 0).await.unwrap();
        assert_eq!(created(s.get_service(id).await.unwrap().unwrap()), nines_core::clock::rfc3339(T0));
        // a late one from before it moves it back (the general path)
        let acks = s.ingest_health(&[health(pg(), Status::Operational, T0 - 60_000)], &RULE, 0).await.unwrap();
        assert!(acks[0].late);
        assert_eq!(created(s.get_service(id).await.unwrap().unwrap()), nines_core::clock::rfc3339(T0 - 60_000));
    })
    .await;
}

#[tokio::test]
async fn optional_numbers_bind_null_then_a_value_on_every_backend() {
    each(async |db| {
        let s = &db.store;
        let plain = r#"
version: "1"
hierarchy: {organization: o, platform: p, environment: e, cluster: c}
service:
  name: first
"#;
        let backed = r#"
version: "1"
hierarchy: {organization: o, platform: p, environment: e, cluster: c}
service:
  name: second
operations:
  backup:
    expected: true
    maxAgeDays: 2
"#;
        let mut id = 0;
        for round in 0..3 {
            let docs = format!("{plain}---{backed}");
            let items = s.apply(&parse_documents(&docs).unwrap(), Source::Config, T0 + round).await;
            assert!(items.is_ok(), "round {round}: {items:?}");
            id = items.unwrap()[0].id;
        }
        // SLO settings: targets unset, then set, then unset again
        for (round, target) in [None, Some(99.5), None, Some(99.9)].into_iter().enumerate() {
            let set = nines_store::slo::SloSettings { slo_target: target, sla_target: target, ..Default::default() };
            let r = s.set_slo_settings(id, &set, T0 + 10 + round as i64).await;
            assert!(r.is_ok(), "slo round {round}: {r:?}");
        }
        // services created by a push (no backup: no maximum age) and by a
        // backup report (the default maximum age), alternately: the seed's
        // curl commands in the order a new user runs them
        for round in 0..3_i64 {
            let pushed = svc("o", "o/p/e/c", &format!("pushed-{round}"));
            let r = s.ingest_health(&[health(pushed, Status::Operational, T0 + 30 + round)], &RULE, 0).await;
            assert!(r.is_ok(), "push round {round}: {r:?}");
            let storage = StorageOp {
                service: svc("o", "o/p/e/c", &format!("volume-{round}")),
                allocated_bytes: None,
                used_bytes: None,
                free_percent: 100.0,
                storage_type: None,
                mount_path: None,
                at: T0 + 30 + round,
            };
            let r = s.storage_report(&storage, T0 + 30 + round).await;
            assert!(r.is_ok(), "storage round {round}: {r:?}");
            // as the backup push builds it: a backup is expected
            let backed_up = NewService { backup_expected: true, ..svc("o", "o/p/e/c", &format!("backed-up-{round}")) };
            let target = BackupTarget::Service(backed_up);
            let r =
                s.backup_report(&target, BackupStatus::Success, Some(5), None, T0 + 30 + round, T0 + 30 + round).await;
            assert!(r.is_ok(), "backup round {round}: {r:?}");
        }
        // a check failure without a duration, then with one
        for (round, total) in [None, Some(12.5), None].into_iter().enumerate() {
            let f = nines_store::checks::FailureRow {
                check_id: format!("{id}/home"),
                location: "server".into(),
                at: T0 + 20 + round as i64,
                outcome: "down".into(),
                error_kind: None,
                message: "refused".into(),
                http_status: None,
                total_ms: total,
            };
            let r = s.save_check_results(&[], &[f]).await;
            assert!(r.is_ok(), "failure round {round}: {r:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_persons_session_keeps_memberships_and_switches_only_among_them() {
    use nines_store::ui::{OidcLogin, PersonSession, UiSession};
    each(async |db| {
        let s = &db.store;
        let p = PersonSession {
            key_id: "user:alice".into(),
            subject: "0b5e-sub".into(),
            display_name: "alice".into(),
            email: Some("alice@example.com".into()),
            memberships: [("acme".to_string(), Role::Admin), ("globex".to_string(), Role::Operator)].into(),
            active_org: "acme".into(),
            id_token: "header.payload.signature".into(),
        };
        let token = s.create_person_session(&p, T0, T0 + 1000).await.unwrap();
        let Some(UiSession::Person(got)) = s.ui_session(&token, T0).await.unwrap() else {
            panic!("a person's session")
        };
        assert_eq!(got, p);
        assert!(!format!("{got:?}").contains("header.payload"), "the ID token is never printed");
        assert!(s.set_session_org(&token, "globex", T0).await.unwrap());
        assert!(!s.set_session_org(&token, "initech", T0).await.unwrap(), "not a member");
        let Some(UiSession::Person(got)) = s.ui_session(&token, T0).await.unwrap() else { panic!() };
        assert_eq!(got.active_org, "globex");
        assert!(s.ui_session(&token, T0 + 1000).await.unwrap().is_none(), "expired");
        assert!(!s.ui_session_hashes().await.unwrap().contains(&token), "only the hash is kept");

        // a sign-in under way serves once, and not after it expired
        let l = OidcLogin {
            nonce: "n".into(),
            code_verifier: "v".into(),
            redirect_uri: "http://127.0.0.1/ui/login/oidc/callback".into(),
            next_path: "/ui".into(),
        };
        assert!(s.create_oidc_login("state-1", &l, T0, T0 + 600_000).await.unwrap());
        assert_eq!(s.take_oidc_login("state-1", T0).await.unwrap(), Some(l.clone()));
        assert_eq!(s.take_oidc_login("state-1", T0).await.unwrap(), None, "single use");
        assert!(s.create_oidc_login("state-2", &l, T0, T0 + 600_000).await.unwrap());
        assert_eq!(s.take_oidc_login("state-2", T0 + 600_000).await.unwrap(), None, "expired");
        assert_eq!(s.take_oidc_login("forged", T0).await.unwrap(), None);
    })
    .await;
}
