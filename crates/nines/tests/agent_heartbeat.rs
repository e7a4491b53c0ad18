//! `nines agent` as users run it sends a heartbeat every poll: the server
//! lists it with its version and what it holds, against a server on
//! loopback.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nines_core::clock::Clock;
use nines_core::{OrgScope, Role};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_nines");

#[tokio::test]
async fn the_agent_heartbeats_with_its_version_every_poll() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        heartbeats(&db).await;
    }
}

async fn heartbeats(db: &nines_store::testing::TestDb) {
    let clock: Arc<dyn Clock> = Arc::new(nines_server::SystemClock);
    let now = clock.now_ms();
    let (_, admin) = db.store.create_api_key("admin", &OrgScope::All, Role::Admin, now).await.unwrap();
    let (_, agent_key) =
        db.store.create_api_key("lab agent", &OrgScope::One("acme".into()), Role::Agent, now).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running =
        nines_server::start(db.store.clone(), clock, nines_server::ServerConfig::default(), listener).await.unwrap();
    let base = format!("http://{}", running.addr);
    let mut agent = Command::new(BIN)
        .args(["agent", "--server", &base, "--location", "lab", "--poll-seconds", "1"])
        .env("NINES_API_KEY", &agent_key)
        .env_remove("NINES_KEY_FILE")
        .env("NINES_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut seen = None;
    for _ in 0..100 {
        let list: Value = http
            .get(format!("{base}/api/v1/agents"))
            .header("X-API-Key", &admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(a) = list["items"].as_array().and_then(|l| l.iter().find(|a| a["version"].is_string())) {
            seen = Some(a.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let a = seen.expect("a heartbeat with the agent's version");
    assert_eq!(a["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!((a["organization"].as_str(), a["location"].as_str()), (Some("acme"), Some("lab")));
    assert_eq!((a["state"].as_str(), a["resultsBuffered"].as_i64()), (Some("online"), Some(0)));
    running.shutdown().await;
}
