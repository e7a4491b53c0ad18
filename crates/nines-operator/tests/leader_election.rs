//! Two operator replicas elect one leader through the `nines-operator`
//! Lease: never both at once, the other takes over when the leader lets
//! go, and when the leader dies without letting go, once its Lease runs out.
//! On the fake and, when installed, on a real kube-apiserver.

mod common;
mod fake_kube;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use nines_operator::controller::leader_lease;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_leader() {
    match common::envtest::binaries() {
        Ok((etcd, apiserver)) => {
            let plane = common::envtest::ControlPlane::start(&etcd, &apiserver).await;
            election(plane.client.clone(), "kube-apiserver", true).await;
        }
        Err(why) => {
            assert!(
                std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() != Ok("1"),
                "no real API server under NINES_TEST_REQUIRE_ALL=1: {why}"
            );
            eprintln!("SKIP the real API server half: {why}");
        }
    }
    // the fake refuses a second leader, but its field ownership does not
    // follow the server's after the leader's own updates, so a takeover of
    // an expired lease is checked on the real server only
    let fake = fake_kube::FakeKube::start().await;
    election(fake.client(), "fake", false).await;
}

/// Sample both replicas for `span`: never two leaders; returns who led last.
async fn watch_both(
    a: &tokio::sync::watch::Receiver<bool>,
    b: &tokio::sync::watch::Receiver<bool>,
    span: Duration,
    server: &str,
) -> (bool, bool) {
    let end = Instant::now() + span;
    let mut last = (false, false);
    while Instant::now() < end {
        last = (*a.borrow(), *b.borrow());
        assert!(!(last.0 && last.1), "{server}: both replicas lead at once");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

async fn election(client: kube::Client, server: &str, takeover: bool) {
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "ops"}})).unwrap())
        .await
        .unwrap();
    // a 3 s lease renewed 1 s before it runs out
    let (a, a_task) = leader_lease(client.clone(), "ops", "replica-a", 3, 1).await.unwrap();
    let (b, b_task) = leader_lease(client.clone(), "ops", "replica-b", 3, 1).await.unwrap();

    // one of them leads within a lease's time, and only one, across renewals
    let (la, lb) = watch_both(&a, &b, Duration::from_secs(8), server).await;
    eprintln!("{server}: elected (a {la}, b {lb})");
    assert!(la ^ lb, "{server}: nobody leads after 8 s");
    let (leader, follower, leader_task, follower_task, leader_id, follower_id) = if la {
        (a, b, a_task, b_task, "replica-a", "replica-b")
    } else {
        (b, a, b_task, a_task, "replica-b", "replica-a")
    };
    let lease = Api::<Lease>::namespaced(client.clone(), "ops").get("nines-operator").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(leader_id), "{server}");
    if !takeover {
        drop((leader, follower));
        let _ = leader_task.await;
        let _ = follower_task.await;
        return;
    }

    // the leader dies without letting go (kill -9): its Lease runs out, then the other leads
    leader_task.abort();
    drop(leader);
    let died = Instant::now();
    let mut f = follower.clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !*f.borrow_and_update() {
            f.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{server}: the follower never took over"));
    drop(f);
    eprintln!("{server}: taken over after {:?}", died.elapsed());
    // not before the dead leader's lease could have run out (3 s from its last renewal)
    assert!(died.elapsed() >= Duration::from_millis(900), "{server}: took over after {:?}", died.elapsed());
    let lease = Api::<Lease>::namespaced(client.clone(), "ops").get("nines-operator").await.unwrap();
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some(follower_id), "{server}");

    // a third replica waits while the new leader holds on, and leads once it lets go
    let (c, c_task) = leader_lease(client.clone(), "ops", "replica-c", 3, 1).await.unwrap();
    let (lf, lc) = watch_both(&follower, &c, Duration::from_secs(5), server).await;
    assert!(lf && !lc, "{server}: the leader lost its lease to a newcomer");
    eprintln!("{server}: the newcomer waits");
    drop(follower);
    let released = follower_task.await.unwrap();
    assert!(released.is_ok(), "{server}: releasing the lease failed");
    let mut c2 = c.clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !*c2.borrow_and_update() {
            c2.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{server}: the newcomer never took over a released lease"));
    drop((c, c2));
    let _ = c_task.await;
}
