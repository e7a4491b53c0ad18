//! A real `nines serve` on a loopback port over a real database, in
//! process, with an admin key; and the small helpers every suite that talks
//! to it uses (requests that answer a status and a JSON body, keys per
//! organization, waiting for the background workers).

use nines_core::clock::{Clock, ManualClock};
use nines_core::{OrgScope, Role};
use nines_server::{Running, ServerConfig};
use nines_store::Store;
use nines_store::testing::TestDb;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A running server and what a test needs to reach it.
pub struct Srv {
    pub running: Option<Running>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An admin key of every organization.
    pub admin: String,
    pub http: reqwest::Client,
    pub store: Store,
}

/// The instant a [`start`]ed server's clock begins at.
pub const T0: i64 = 1_800_000_000_000;

/// Settings whose workers go round every 20 ms, so a test waits little.
pub fn fast_config(replica: &str) -> ServerConfig {
    ServerConfig {
        stale_check_every: Duration::from_millis(20),
        lease_renew: Duration::from_millis(20),
        downtime_every: Duration::from_millis(20),
        replica: replica.into(),
        ..ServerConfig::default()
    }
}

pub async fn start_with(store: Store, clock: Arc<dyn Clock>, config: ServerConfig) -> Srv {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    start_on(store, clock, config, listener).await
}

/// [`start_with`] on a listener the test bound (it needs the address first).
pub async fn start_on(
    store: Store,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
) -> Srv {
    let (_, admin) = store
        .create_api_key("test-admin", &OrgScope::All, Role::Admin, clock.now_ms())
        .await
        .expect("the admin key is stored");
    let running = nines_server::start(store.clone(), clock, config, listener).await.expect("the server starts");
    let base = format!("http://{}", running.addr);
    Srv { running: Some(running), base, admin, http: reqwest::Client::new(), store }
}

/// A server on a manual clock at [`T0`], with [`fast_config`].
pub async fn start(db: &TestDb) -> (Srv, ManualClock) {
    let clock = ManualClock::new(T0);
    let srv = start_with(db.store.clone(), Arc::new(clock.clone()), fast_config("test")).await;
    (srv, clock)
}

/// The status and the body of a response: JSON when it parses, else the
/// text as a JSON string.
async fn answer(resp: reqwest::Response) -> (u16, Value) {
    let code = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

impl Srv {
    /// Wait until the background workers (stale detector, downtime engine,
    /// notifier and its condition watcher) have each finished two passes
    /// since now: whatever an earlier action causes has then happened, so a
    /// check that nothing (more) happened cannot pass because a worker was
    /// merely slow.
    pub async fn settle(&self) {
        let state = &self.running.as_ref().expect("running").state;
        let p = &state.leadership.passes;
        // the condition watcher counts only where the test runs it often
        let watches = state.config.notify.watch_every <= Duration::from_secs(1);
        // the singleton workers go round only on the leader
        let leader = state.leadership.leads();
        let read = || {
            use std::sync::atomic::Ordering::SeqCst;
            let mut v = vec![p.notifier.load(SeqCst)];
            if leader {
                v.extend([p.stale.load(SeqCst), p.downtimes.load(SeqCst)]);
                if watches {
                    v.push(p.watches.load(SeqCst));
                }
            }
            v
        };
        let start = read();
        eventually("two passes of every worker", async || {
            read().iter().zip(&start).all(|(now, then)| *now >= then + 2).then_some(())
        })
        .await;
    }

    /// Wait until the downtime engine has finished two passes since now.
    pub async fn settle_downtimes(&self) {
        let p = &self.running.as_ref().expect("running").state.leadership.passes;
        let read = || p.downtimes.load(std::sync::atomic::Ordering::SeqCst);
        let start = read();
        eventually("two passes of the downtime engine", async || (read() >= start + 2).then_some(())).await;
    }

    /// Any request with a JSON body (or none), as `key`.
    pub async fn send(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().expect("an HTTP method"), format!("{}{path}", self.base))
            .header("X-API-Key", key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.expect("the server answers")).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        body: &str,
        content_type: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).body(body.to_string());
        if let Some(k) = key {
            req = req.header("X-API-Key", k);
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        answer(req.send().await.expect("the server answers")).await
    }

    /// POST like the seed's curl `-d` (form content type, JSON body).
    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.post_raw(path, Some(key), &body.to_string(), Some("application/x-www-form-urlencoded")).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send("GET", path, key, None).await
    }

    pub async fn put(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send("PUT", path, key, Some(body)).await
    }

    /// `/metrics` as a key of every organization scrapes it.
    pub async fn metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .header("X-API-Key", &self.admin)
            .send()
            .await
            .expect("the server answers");
        r.text().await.expect("a body")
    }

    /// A new key of `org` with `role`, made through the API.
    pub async fn key(&self, org: &str, role: &str) -> String {
        let (code, v) =
            self.post("/api/v1/apikeys", &self.admin, serde_json::json!({"organization": org, "role": role})).await;
        assert_eq!(code, 201, "{v}");
        v["secret"].as_str().expect("the key's secret").to_string()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }
}

/// Poll `f` until it returns Some, for at most 10 s.
pub async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..500 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
