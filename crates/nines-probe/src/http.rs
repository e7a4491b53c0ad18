//! The `http` check: resolve, connect, TLS (for https) and one HTTP/1.1
//! request on a hyper client connection over that fresh stream, so each phase
//! is timed on its own. Redirects are followed here, by hand, when asked.
//! The status, body substring, regex and JSON condition are checked on at
//! most [`MAX_BODY_BYTES`] of body.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use crate::config::{HttpCheck, MAX_BODY_BYTES, MAX_REDIRECTS, describe_status};
use crate::jsonpath;
use crate::net::{self, ProbeEnv};
use crate::result::{ErrorKind, Outcome, ProbeResult, Timings, human_duration};

const UA: &str = concat!("nines-probe/", env!("CARGO_PKG_VERSION"));

/// Run one `http` check. Never panics; the caller bounds it in time.
pub async fn probe(check: &HttpCheck, env: &ProbeEnv, t: &mut Timings) -> ProbeResult {
    let start = Instant::now();
    let mut r = run(check, env, t).await;
    t.total = start.elapsed();
    if r.outcome == Outcome::Up
        && let Some(max) = check.max_response_time_ms
        && t.total.as_millis() > u128::from(max)
    {
        r.outcome = Outcome::Degraded;
        r.error = Some(ErrorKind::SlowResponse);
        r.message = format!("slow: answered in {}, more than maxResponseTimeMs {max}", human_duration(t.total));
    }
    r
}

async fn run(check: &HttpCheck, env: &ProbeEnv, t: &mut Timings) -> ProbeResult {
    let mut url = match Url::parse(&check.url) {
        Ok(u) => u,
        Err(e) => return ProbeResult::down(ErrorKind::InvalidConfig, format!("invalid URL `{}`: {e}", check.url)),
    };
    let mut method = Method::from_bytes(check.method.as_bytes()).unwrap_or(Method::GET);
    let mut body = check.body.clone();
    let mut earliest_cert: Option<i64> = None;
    let mut hops = 0;
    loop {
        let hop = one_request(check, env, &url, &method, body.as_deref(), t).await;
        let (resp, not_after, _conn) = match hop {
            Ok(x) => x,
            Err(mut r) => {
                r.cert_not_after_ms = r.cert_not_after_ms.or(earliest_cert);
                return r;
            }
        };
        earliest_cert = match (earliest_cert, not_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let status = resp.status();
        if check.follow_redirects
            && status.is_redirection()
            && let Some(next) = location(&url, &resp)
        {
            hops += 1;
            if hops > MAX_REDIRECTS {
                let mut r = ProbeResult::down(
                    ErrorKind::TooManyRedirects,
                    format!("more than {MAX_REDIRECTS} redirects, last to {next}"),
                );
                r.http_status = Some(status.as_u16());
                r.cert_not_after_ms = earliest_cert;
                return r;
            }
            if status == StatusCode::SEE_OTHER || (method == Method::POST && matches!(status.as_u16(), 301 | 302)) {
                method = Method::GET;
                body = None;
            }
            url = next;
            *t = Timings::default();
            continue;
        }
        let mut r = judge(check, resp).await;
        r.cert_not_after_ms = earliest_cert;
        return r;
    }
}

fn location(base: &Url, resp: &Response<Incoming>) -> Option<Url> {
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    let next = base.join(loc).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

type Hop = (Response<Incoming>, Option<i64>, AbortOnDrop);

async fn one_request(
    check: &HttpCheck,
    env: &ProbeEnv,
    url: &Url,
    method: &Method,
    body: Option<&str>,
    t: &mut Timings,
) -> Result<Hop, ProbeResult> {
    let Some(host) = url.host_str() else {
        return Err(ProbeResult::down(ErrorKind::InvalidConfig, format!("URL `{url}` has no host")));
    };
    let https = url.scheme() == "https";
    let Some(port) = url.port_or_known_default() else {
        return Err(ProbeResult::down(ErrorKind::InvalidConfig, format!("unknown scheme `{}`", url.scheme())));
    };
    let addr = net::resolve(&env.resolver, host, port, t).await?;
    let tcp = net::connect(addr, t).await?;
    let req = build_request(check, url, method, body)?;
    if https {
        let tls = net::tls_handshake(env, tcp, host, check.tls_verify, t).await?;
        let not_after = tls.not_after_ms;
        exchange(tls.stream, req, t).await.map(|(r, g)| (r, not_after, g)).map_err(|mut e| {
            e.cert_not_after_ms = not_after;
            e
        })
    } else {
        exchange(tcp, req, t).await.map(|(r, g)| (r, None, g))
    }
}

fn build_request(
    check: &HttpCheck,
    url: &Url,
    method: &Method,
    body: Option<&str>,
) -> Result<Request<Full<Bytes>>, ProbeResult> {
    let invalid = |m: String| ProbeResult::down(ErrorKind::InvalidConfig, m);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let uri: Uri = path.parse().map_err(|e| invalid(format!("invalid request path `{path}`: {e}")))?;
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let mut req = Request::builder().method(method.clone()).uri(uri);
    let headers = req.headers_mut().ok_or_else(|| invalid("invalid request".to_owned()))?;
    headers.insert(HOST, HeaderValue::from_str(&host).map_err(|_| invalid(format!("invalid host `{host}`")))?);
    headers.insert(USER_AGENT, HeaderValue::from_static(UA));
    for (k, v) in &check.headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| invalid(format!("invalid header name `{k}`")))?;
        let value = HeaderValue::from_str(v).map_err(|_| invalid(format!("invalid value of header `{k}`")))?;
        headers.insert(name, value);
    }
    let body = Full::new(Bytes::from(body.unwrap_or_default().to_owned()));
    req.body(body).map_err(|e| invalid(format!("invalid request: {e}")))
}

/// Aborts the connection task when the probe is done (or cancelled by its timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<S>(
    io: S,
    req: Request<Full<Bytes>>,
    t: &mut Timings,
) -> Result<(Response<Incoming>, AbortOnDrop), ProbeResult>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let start = Instant::now();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ProbeResult::down(ErrorKind::HttpProtocol, format!("HTTP handshake failed: {e}")))?;
    // The connection task drives the body too, so it lives as long as the
    // response; the guard ends it when the probe is done or cancelled.
    let guard = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let res = sender.send_request(req).await;
    t.first_byte = Some(start.elapsed());
    res.map(|r| (r, guard)).map_err(|e| {
        let msg = if e.is_incomplete_message() {
            "server closed the connection before answering".to_owned()
        } else {
            format!("HTTP request failed: {e}")
        };
        ProbeResult::down(ErrorKind::HttpProtocol, msg)
    })
}

async fn judge(check: &HttpCheck, resp: Response<Incoming>) -> ProbeResult {
    let status = resp.status().as_u16();
    let fail = |kind: ErrorKind, m: String| {
        let mut r = ProbeResult::down(kind, m);
        r.http_status = Some(status);
        r
    };
    let ok = check.expected_status.iter().any(|p| p.range().is_ok_and(|(a, b)| (a..=b).contains(&status)));
    if !ok {
        return fail(
            ErrorKind::UnexpectedStatus,
            format!("status {status} where {} was expected", describe_status(&check.expected_status)),
        );
    }
    let needs_body = check.expected_body.is_some() || check.body_regex.is_some() || check.json_path.is_some();
    if needs_body {
        let body = match Limited::new(resp.into_body(), MAX_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let msg = if e.is::<http_body_util::LengthLimitError>() {
                    format!("body larger than {MAX_BODY_BYTES} bytes")
                } else {
                    format!("reading the body failed: {e}")
                };
                return fail(ErrorKind::BodyMismatch, msg);
            }
        };
        let text = String::from_utf8_lossy(&body);
        if let Some(want) = &check.expected_body
            && !text.contains(want.as_str())
        {
            return fail(ErrorKind::BodyMismatch, format!("body lacks `{want}`"));
        }
        if let Some(re) = &check.body_regex {
            match regex::Regex::new(re) {
                Ok(re) if re.is_match(&text) => {}
                Ok(_) => return fail(ErrorKind::BodyMismatch, format!("body does not match /{re}/")),
                Err(_) => return fail(ErrorKind::InvalidConfig, format!("invalid bodyRegex `{re}`")),
            }
        }
        if let Some(cond) = &check.json_path {
            let steps = match jsonpath::parse(&cond.path) {
                Ok(s) => s,
                Err(e) => return fail(ErrorKind::InvalidConfig, e),
            };
            let doc: serde_json::Value = match serde_json::from_slice(&body) {
                Ok(d) => d,
                Err(e) => return fail(ErrorKind::BodyMismatch, format!("body is not JSON: {e}")),
            };
            match (jsonpath::select(&doc, &steps), &cond.equals) {
                (None | Some(serde_json::Value::Null), None) | (None, Some(_)) => {
                    return fail(ErrorKind::BodyMismatch, format!("JSON {} is missing", cond.path));
                }
                (Some(found), Some(want)) if !jsonpath::matches(found, want) => {
                    return fail(
                        ErrorKind::BodyMismatch,
                        format!("JSON {} is {found} where {want} was expected", cond.path),
                    );
                }
                _ => {}
            }
        }
    }
    let mut r = ProbeResult::up(format!("status {status}"));
    r.http_status = Some(status);
    r
}
