//! The `tcp` check: resolve and open a fresh TCP connection; accepted is
//! `Up`, anything else is `Down` with its reason. Nothing is sent.

use std::time::Instant;

use crate::config::TcpCheck;
use crate::net::{self, ProbeEnv};
use crate::result::{ProbeResult, Timings};

/// Run one `tcp` check. Never panics; the caller bounds it in time.
pub async fn probe(check: &TcpCheck, env: &ProbeEnv, t: &mut Timings) -> ProbeResult {
    let start = Instant::now();
    let r = async {
        let addr = net::resolve(&env.resolver, &check.host, check.port, t).await?;
        let _stream = net::connect(addr, t).await?;
        Ok::<_, ProbeResult>(ProbeResult::up(format!("connected to {addr}")))
    }
    .await
    .unwrap_or_else(|e| e);
    t.total = start.elapsed();
    r
}
