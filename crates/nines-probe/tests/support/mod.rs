//! Real local servers for the probe tests: HTTP, HTTPS (rcgen certificates),
//! TCP and a tiny UDP DNS server. All bind 127.0.0.1:0.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, UdpSocket};

async fn route(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = |status: u16, body: &str| {
        Response::builder().status(status).body(Full::new(Bytes::from(body.to_owned()))).unwrap()
    };
    let redirect =
        |to: &str| Response::builder().status(302).header("location", to).body(Full::new(Bytes::new())).unwrap();
    Ok(match path.as_str() {
        "/ok" => resp(200, "hello"),
        "/fail" => resp(503, "unavailable"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            resp(200, "slow hello")
        }
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            resp(200, "late")
        }
        "/redirect" => redirect("/ok"),
        "/loop" => redirect("/loop"),
        "/json" => resp(200, r#"{"database":"connected","checks":[{"name":"db","latencyMs":3}]}"#),
        "/json-bad" => resp(200, r#"{"database":"disconnected"}"#),
        "/echo-method" => resp(200, req.method().as_str()),
        _ => resp(404, "not found"),
    })
}

/// A plain HTTP server; returns its address.
pub async fn http_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(route))
                    .await;
            });
        }
    });
    addr
}

/// An HTTPS server presenting `chain` with `key`.
pub async fn https_server(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> SocketAddr {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service_fn(route))
                    .await;
            });
        }
    });
    addr
}

/// A port nothing listens on (bound, then released).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A test CA and leaf certificates it signs.
pub struct Pki {
    pub ca_der: CertificateDer<'static>,
    ca_params: CertificateParams,
    ca_key: KeyPair,
}

pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// `notAfter` in ms since the epoch.
    pub not_after_ms: i64,
}

const DAY_S: i64 = 86_400;

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

pub fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

impl Pki {
    pub fn new() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "nines test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        Pki { ca_der: ca.der().clone(), ca_params, ca_key }
    }

    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        roots
    }

    /// A leaf for `localhost` and 127.0.0.1 valid from `from_days` to `to_days`
    /// relative to today (midnight UTC).
    pub fn leaf(&self, from_days: i64, to_days: i64) -> Leaf {
        let today = now_s().div_euclid(DAY_S);
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let (y, m, d) = civil(today + from_days);
        p.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = civil(today + to_days);
        p.not_after = rcgen::date_time_ymd(y, m, d);
        p.distinguished_name.push(DnType::CommonName, "localhost");
        let issuer = Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            not_after_ms: (today + to_days) * DAY_S * 1000,
        }
    }
}

/// Records the test DNS server knows: (name without trailing dot, type, rdata).
#[derive(Clone)]
pub enum Rec {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(&'static str),
    Ns(&'static str),
    Mx(u16, &'static str),
    Txt(&'static str),
}

impl Rec {
    fn qtype(&self) -> u16 {
        match self {
            Rec::A(_) => 1,
            Rec::Ns(_) => 2,
            Rec::Cname(_) => 5,
            Rec::Mx(..) => 15,
            Rec::Txt(_) => 16,
            Rec::Aaaa(_) => 28,
        }
    }
    fn rdata(&self) -> Vec<u8> {
        match self {
            Rec::A(ip) => ip.octets().to_vec(),
            Rec::Aaaa(ip) => ip.octets().to_vec(),
            Rec::Cname(n) | Rec::Ns(n) => encode_name(n),
            Rec::Mx(pref, n) => {
                let mut v = pref.to_be_bytes().to_vec();
                v.extend(encode_name(n));
                v
            }
            Rec::Txt(t) => {
                let mut v = vec![t.len() as u8];
                v.extend(t.as_bytes());
                v
            }
        }
    }
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend(label.as_bytes());
    }
    v.push(0);
    v
}

/// A UDP DNS server answering from `zone`; unknown names get NXDOMAIN,
/// known names without records of the asked type get an empty NOERROR.
pub async fn dns_server(zone: Vec<(&'static str, Rec)>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else { return };
            if let Some(resp) = answer(&buf[..n], &zone) {
                let _ = sock.send_to(&resp, peer).await;
            }
        }
    });
    addr
}

fn answer(q: &[u8], zone: &[(&'static str, Rec)]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // Question: labels from offset 12, then type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question_end = i + 4;
    let name = labels.join(".");
    let known = zone.iter().any(|(n, _)| *n == name);
    let records: Vec<&Rec> = zone.iter().filter(|(n, r)| *n == name && r.qtype() == qtype).map(|(_, r)| r).collect();
    let mut out = Vec::new();
    out.extend(&q[0..2]); // id
    let rcode = if known { 0 } else { 3 };
    out.extend([0x81 | (q[2] & 0x01), 0x80 | rcode]); // QR, RD copied, RA
    out.extend(1u16.to_be_bytes());
    out.extend((records.len() as u16).to_be_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend(&q[12..question_end]);
    for r in records {
        out.extend([0xc0, 0x0c]); // pointer to the question name
        out.extend(qtype.to_be_bytes());
        out.extend(1u16.to_be_bytes());
        out.extend(60u32.to_be_bytes());
        let rdata = r.rdata();
        out.extend((rdata.len() as u16).to_be_bytes());
        out.extend(rdata);
    }
    Some(out)
}
