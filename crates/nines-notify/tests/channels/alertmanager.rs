//! The Alertmanager channel against Debian's `prometheus-alertmanager`
//! (`apt-get install prometheus-alertmanager`), started here on a free
//! loopback port. Without the binary the test prints `SKIP alertmanager: …`
//! and passes, unless `NINES_TEST_REQUIRE_ALL=1`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nines_core::Status;
use nines_notify::event::Event;
use nines_notify::{Channel, ChannelConfig, Message, Notifier};

use crate::support::{BASE, downtime, now_ms};

fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NINES_ALERTMANAGER_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("prometheus-alertmanager"), d.join("alertmanager")])
        .find(|p| p.is_file())
}

struct Alertmanager {
    url: String,
    _child: tokio::process::Child,
    dir: PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start() -> Option<Alertmanager> {
    let Some(bin) = find_binary() else {
        let why = "no prometheus-alertmanager or alertmanager on PATH (apt-get install prometheus-alertmanager)";
        if std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("alertmanager required (NINES_TEST_REQUIRE_ALL=1): {why}");
        }
        println!("SKIP alertmanager: {why}");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("nines-notify-am-{}-{port}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n").unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = tokio::process::Command::new(&bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(format!("{url}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Some(Alertmanager { url, _child: child, dir });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alertmanager did not become ready: {}", std::fs::read_to_string(dir.join("log")).unwrap_or_default());
}

async fn active_alerts(url: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        reqwest::get(format!("{url}/api/v2/alerts")).await.unwrap().error_for_status().unwrap().json().await.unwrap();
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn alerts_reach_alertmanager_and_resolve() {
    let Some(am) = start().await else { return };
    let json = format!(r#"{{"type":"alertmanager","url":"{}","extraLabels":{{"cluster":"eu_1"}}}}"#, am.url);
    let ch = Channel::build(&ChannelConfig::from_json(&json).unwrap()).unwrap();
    let started = now_ms() - 120_000;
    let msg = Message::new("m1", Event::DowntimeOpened(downtime(started)), BASE).unwrap();
    let d = ch.send(&msg, now_ms()).await.unwrap();
    assert_eq!(d.status_code, Some(200));

    let alerts = active_alerts(&am.url).await;
    let gw = alerts
        .iter()
        .find(|a| a["labels"]["alertname"] == "NinesDowntime" && a["labels"]["service"] == "api-gateway")
        .unwrap_or_else(|| panic!("alert not found in {alerts:#?}"));
    assert_eq!(gw["labels"]["severity"], "critical");
    assert_eq!(gw["labels"]["organization"], "acme");
    assert_eq!(gw["labels"]["downtime_id"], "42");
    assert_eq!(gw["labels"]["node_id"], "acme/platform/prod/c1");
    assert_eq!(gw["labels"]["cluster"], "eu_1");
    assert_eq!(gw["annotations"]["summary"], "Opened: API outage");
    assert!(
        gw["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with("API outage <https://nines.example/ui/downtimes/42> started")
    );
    assert_eq!(gw["generatorURL"], "https://nines.example/ui/downtimes/42");
    assert_eq!(gw["status"]["state"], "active");
    assert_eq!(alerts.iter().filter(|a| a["labels"]["downtime_id"] == "42").count(), 2, "one alert per service");

    // Resolved: Alertmanager no longer lists them as active.
    let mut d = downtime(started);
    d.resolved_at = Some(now_ms() - 1_000);
    for s in &mut d.services {
        s.status = Status::Operational;
    }
    let msg = Message::new("m2", Event::DowntimeResolved(d), BASE).unwrap();
    ch.send(&msg, now_ms()).await.unwrap();
    let alerts = active_alerts(&am.url).await;
    assert!(alerts.iter().all(|a| a["labels"]["downtime_id"] != "42"), "{alerts:#?}");
}

#[tokio::test]
async fn alertmanager_rejects_what_it_cannot_take_permanently() {
    let Some(am) = start().await else { return };
    // A bad request straight to the API shows how a 400 is classified.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v2/alerts", am.url))
        .header("content-type", "application/json")
        .body("[{\"labels\":{}}]")
        .send()
        .await
        .unwrap();
    let code = resp.status().as_u16();
    assert!((400..500).contains(&code), "{code}");
    assert_eq!(nines_notify::error::status_class(code), nines_notify::Class::Permanent);
}
