//! The HTTP server loop, with the limits that keep one slow or idle client
//! from starving the others:
//!
//! - at most `max_connections` connections at once; past that, new ones
//!   wait in the listen backlog until a slot frees (nothing is refused, no
//!   descriptor is spent on them);
//! - a client must send a request's whole header within
//!   `header_read_timeout`, however slowly it trickles;
//! - a connection with no request in flight and no byte read or written for
//!   `idle_timeout` is closed, kept-alive or never used;
//! - a request body must arrive within `body_read_timeout` (see
//!   [`crate::extract::read_body`]).

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Connection limits; every one is a flag of `nines serve`.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// What a connection did last, and how many of its requests are running.
struct Activity {
    born: Instant,
    /// Milliseconds since `born` of the last byte read or written.
    last_ms: AtomicI64,
    inflight: AtomicUsize,
}

impl Activity {
    fn new() -> Self {
        Activity { born: Instant::now(), last_ms: AtomicI64::new(0), inflight: AtomicUsize::new(0) }
    }
    fn touch(&self) {
        self.last_ms.store(self.born.elapsed().as_millis() as i64, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let now = self.born.elapsed().as_millis() as i64;
        Duration::from_millis((now - self.last_ms.load(Ordering::Relaxed)).max(0) as u64)
    }
}

/// Counts a request as running until dropped.
struct Running(Arc<Activity>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// A socket that notes when bytes move, and gives hyper's own answers to
/// requests it could not parse a body in the error format.
struct Tracked {
    inner: TcpStream,
    act: Arc<Activity>,
    /// A replacement answer not yet written whole, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

/// hyper answers a request it cannot parse itself, before any handler runs:
/// 400 (bad request line or header), 414 (URI too long) or 431 (header too
/// large), each with an empty body, then closes. Such a head is recognised
/// by its status and `content-length: 0` (no handler of nines answers a 4xx
/// without a body) and replaced by the same status with an error body.
fn parse_error_answer(head: &[u8]) -> Option<Vec<u8>> {
    const EMPTY: &[u8] = b"\r\ncontent-length: 0\r\n";
    if head.len() > 512 || !head.ends_with(b"\r\n\r\n") || !head.windows(EMPTY.len()).any(|w| w == EMPTY) {
        return None;
    }
    let (status, code, message) = match head.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => {
            (400, "bad_request", "the request line or a header could not be parsed as HTTP/1.1")
        }
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => (414, "uri_too_long", "the request's URI is too long"),
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => {
            (431, "headers_too_large", "the request's header is too large or has too many fields")
        }
        _ => return None,
    };
    let reason = std::str::from_utf8(&head[13..head.iter().position(|&b| b == b'\r')?]).ok()?;
    let body = serde_json::json!({"error": {"code": code, "message": message, "field": "headers"}}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl Tracked {
    /// Write what is left of a replacement answer; Ready(Ok) once it is all out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((buf, done)) = &mut self.pending {
            match Pin::new(&mut self.inner).poll_write(cx, &buf[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *done += n;
                    if *done == buf.len() {
                        self.pending = None;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.act.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        if let Some(answer) = parse_error_answer(data) {
            // hyper's head counts as written; the replacement goes out in its place
            self.pending = Some((answer, 0));
            let _ = self.drain(cx)?;
            self.act.touch();
            return Poll::Ready(Ok(data.len()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.act.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.drain(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serve `app` on `listener` until `stop` changes; then stop accepting, let
/// requests in flight finish (at most 10 s) and return.
pub async fn serve(listener: TcpListener, app: Router, limits: HttpLimits, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (close_tx, close_rx) = watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // out of descriptors, most likely: wait instead of spinning
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => break,
        };
        let _ = sock.set_nodelay(true);
        let (app, limits, close) = (app.clone(), limits.clone(), close_rx.clone());
        conns.spawn(async move {
            let _slot = permit;
            connection(sock, app, limits, close).await;
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = close_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), async { while conns.join_next().await.is_some() {} }).await;
}

async fn connection(sock: TcpStream, app: Router, limits: HttpLimits, mut close: watch::Receiver<bool>) {
    let act = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: sock, act: act.clone(), pending: None });
    let a = act.clone();
    let l = limits.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        a.inflight.fetch_add(1, Ordering::SeqCst);
        let running = Running(a.clone());
        let app = app.clone();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(l.clone());
        async move {
            let r = app.oneshot(req).await;
            drop(running);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let every = (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = tick.tick(), if !closing => {
                if act.inflight.load(Ordering::SeqCst) == 0 && act.idle_for() >= limits.idle_timeout {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = close.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
