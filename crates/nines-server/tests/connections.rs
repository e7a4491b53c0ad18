//! Idle and slow clients cannot starve the others: with hundreds of
//! connections that send nothing and a hundred that trickle a header a byte
//! at a time, on a server whose connection limit is below their number,
//! pushes keep succeeding; the idle and trickling connections are closed by
//! the idle and header-read timeouts, and a body that never arrives is
//! answered 408.

mod common;

use common::*;
use nines_core::clock::ManualClock;
use nines_server::serve::HttpLimits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Whether the server closed `s` (EOF or reset) within `within`.
async fn closed(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // an answer (408): keep reading to the close
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed_while_pushes_keep_succeeding() {
    for db in nines_store::testing::all().await {
        eprintln!("-- backend {}", db.label);
        on_backend(&db).await;
    }
}

async fn on_backend(db: &nines_store::testing::TestDb) {
    let mut cfg = fast_config("connections");
    cfg.http = HttpLimits {
        max_connections: 200,
        header_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(2),
    };
    let srv = start_with(db.store.clone(), Arc::new(ManualClock::new(T0)), cfg).await;
    let agent = srv.key("acme", "agent").await;
    let addr = srv.base.trim_start_matches("http://").to_string();

    // 300 connections that say nothing
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // 100 that trickle a header, a byte every 100 ms, for ever
    let mut trickle = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /api/v1/health/report HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        trickle.push(s);
    }
    let trickling = tokio::spawn(async move {
        let mut gone = vec![false; trickle.len()];
        for _ in 0..150 {
            for (i, s) in trickle.iter_mut().enumerate() {
                if !gone[i] && s.write_all(b"X").await.is_err() {
                    gone[i] = true;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (trickle, gone)
    });

    // meanwhile pushes, on fresh connections, keep succeeding
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).pool_max_idle_per_host(0).build().unwrap();
    let t0 = Instant::now();
    for i in 0..20 {
        let body =
            serde_json::json!({"service": format!("svc-{i}"), "status": "OPERATIONAL", "nodeId": "acme/p/prod/c1"});
        let r = http
            .post(format!("{}/api/v1/health/report", srv.base))
            .header("X-API-Key", &agent)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("push {i} after {:?}: {e}", t0.elapsed()));
        assert!(r.status().is_success(), "push {i}: {}", r.status());
    }

    // every idle connection was closed by the server
    let mut still_open = 0;
    for s in idle.iter_mut() {
        if !closed(s, Duration::from_secs(10)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "idle connections left open");
    // every trickling one too: a header must be whole within the timeout
    let (mut trickle, gone) = trickling.await.unwrap();
    let mut open = 0;
    for (i, s) in trickle.iter_mut().enumerate() {
        if !gone[i] && !closed(s, Duration::from_secs(5)).await {
            open += 1;
        }
    }
    assert_eq!(open, 0, "trickling connections left open");

    // a body that never arrives: 408, and the connection goes
    let mut s = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/health/report HTTP/1.1\r\nHost: x\r\nX-API-Key: {agent}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"service\""
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"field\"") || answer.contains("request_timeout"), "{answer}");
    srv.stop().await;
}

/// Requests hyper cannot parse are answered before any handler runs; those
/// answers carry the error format too, with their status kept.
#[tokio::test]
async fn unparseable_requests_are_answered_in_the_error_format() {
    let db = nines_store::testing::sqlite().await;
    let srv = start_with(db.store.clone(), Arc::new(ManualClock::new(T0)), fast_config("parse")).await;
    let addr = srv.base.trim_start_matches("http://").to_string();
    let many_fields: String = (0..150).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let huge_field = format!("X-Huge: {}\r\n", "a".repeat(600 * 1024));
    let cases = [
        (format!("GET /api/v1/services HTTP/1.1\r\nHost: x\r\n{many_fields}\r\n"), 431),
        (format!("GET /api/v1/services HTTP/1.1\r\nHost: x\r\n{huge_field}\r\n"), 431),
        ("GET /api/v1/services HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n".to_string(), 400),
        ("G\u{1}T / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(), 400),
    ];
    for (request, want) in cases {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        // the server may answer and close before it has read everything
        let _ = s.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        let (head, body) =
            text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("an answer to {:.60}: {text:?}", request));
        assert!(head.starts_with(&format!("HTTP/1.1 {want} ")), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
        assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{v}");
        assert_eq!(v["error"]["field"], "headers", "{v}");
    }
    // a request after them on a fresh connection is served as always
    let (code, _) = srv.get("/api/v1/services", &srv.admin).await;
    assert_eq!(code, 200);
    srv.stop().await;
}
