//! What the probes share: the [`ProbeEnv`] (resolver without a cache, TLS
//! client configurations on the aws-lc-rs provider, the clock) and the timed
//! phases every connection goes through — resolve, connect, TLS handshake —
//! each mapping its failures to a `ProbeResult` in plain words. No probe kind
//! logic lives here.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use nines_core::clock::{Clock, Millis};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::result::{ErrorKind, ProbeResult, Timings};

/// Errors while building a [`ProbeEnv`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the system resolver configuration: {0}")]
    Resolver(String),
    #[error("cannot build the TLS client configuration: {0}")]
    Tls(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const DAY_MS: i64 = 86_400_000;

/// The wall clock of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Everything a probe needs besides its check: built once, shared by all runs.
#[derive(Clone)]
pub struct ProbeEnv {
    pub(crate) resolver: TokioResolver,
    tls_verify: Arc<ClientConfig>,
    tls_no_verify: Arc<ClientConfig>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// Builds a [`ProbeEnv`]; defaults: the system's resolver configuration and
/// trust store, and the system clock.
#[derive(Default)]
pub struct ProbeEnvBuilder {
    roots: Option<RootCertStore>,
    nameserver: Option<SocketAddr>,
    clock: Option<Arc<dyn Clock>>,
}

impl ProbeEnvBuilder {
    /// Trust these roots instead of the system's.
    pub fn roots(mut self, roots: RootCertStore) -> Self {
        self.roots = Some(roots);
        self
    }
    /// Resolve host names with this server (UDP) instead of `/etc/resolv.conf`.
    pub fn nameserver(mut self, addr: SocketAddr) -> Self {
        self.nameserver = Some(addr);
        self
    }
    /// The clock certificate expiry is measured against.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    pub fn build(self) -> Result<ProbeEnv> {
        let resolver = build_resolver(self.nameserver)?;
        let roots = match self.roots {
            Some(r) => r,
            None => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                roots
            }
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = || {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::Tls(e.to_string()))
        };
        let mut verify = builder()?.with_root_certificates(roots).with_no_client_auth();
        verify.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut no_verify = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone())))
            .with_no_client_auth();
        no_verify.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ProbeEnv {
            resolver,
            tls_verify: Arc::new(verify),
            tls_no_verify: Arc::new(no_verify),
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

impl ProbeEnv {
    pub fn builder() -> ProbeEnvBuilder {
        ProbeEnvBuilder::default()
    }
    /// The system's resolver configuration and trust store.
    pub fn system() -> Result<Self> {
        Self::builder().build()
    }
}

/// A resolver without a cache (each probe asks afresh), `nameserver` or the system's.
pub(crate) fn build_resolver(nameserver: Option<SocketAddr>) -> Result<TokioResolver> {
    let mut builder = match nameserver {
        Some(addr) => {
            let mut conn = ConnectionConfig::udp();
            conn.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![conn]);
            let config = ResolverConfig::from_parts(None, Vec::new(), vec![ns]);
            let mut b = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        }
        None => TokioResolver::builder_tokio().map_err(|e| Error::Resolver(e.to_string()))?,
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.attempts = 1;
    builder.build().map_err(|e| Error::Resolver(e.to_string()))
}

/// Strip the brackets of an IPv6 literal.
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Resolve `host` (an IP literal needs no DNS) and time it into `t.dns`.
pub(crate) async fn resolve(
    resolver: &TokioResolver,
    host: &str,
    port: u16,
    t: &mut Timings,
) -> Result<SocketAddr, ProbeResult> {
    if let Some(ip) = ip_literal(host) {
        return Ok(SocketAddr::new(ip, port));
    }
    let start = Instant::now();
    let res = resolver.lookup_ip(host).await;
    t.dns = Some(start.elapsed());
    match res {
        Ok(ips) => match ips.iter().next() {
            Some(ip) => Ok(SocketAddr::new(ip, port)),
            None => Err(ProbeResult::down(ErrorKind::DnsNoRecords, format!("DNS failure: no address for {host}"))),
        },
        Err(e) => Err(dns_error(host, "address", &e)),
    }
}

pub(crate) fn dns_error(name: &str, what: &str, e: &NetError) -> ProbeResult {
    if e.is_nx_domain() {
        ProbeResult::down(ErrorKind::DnsNoSuchHost, format!("DNS failure: no such host {name}"))
    } else if e.is_no_records_found() {
        ProbeResult::down(ErrorKind::DnsNoRecords, format!("DNS failure: no {what} records for {name}"))
    } else if matches!(e, NetError::Timeout) {
        ProbeResult::down(ErrorKind::DnsFailure, format!("DNS failure: resolver timed out for {name}"))
    } else {
        ProbeResult::down(ErrorKind::DnsFailure, format!("DNS failure for {name}: {e}"))
    }
}

/// Open a fresh TCP connection and time it into `t.connect`.
pub(crate) async fn connect(addr: SocketAddr, t: &mut Timings) -> Result<TcpStream, ProbeResult> {
    let start = Instant::now();
    let res = TcpStream::connect(addr).await;
    t.connect = Some(start.elapsed());
    match res {
        Ok(s) => {
            // Nagle only delays a probe's small writes.
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ProbeResult::down(ErrorKind::ConnectionRefused, format!("connection refused by {addr}")))
        }
        Err(e) => Err(ProbeResult::down(ErrorKind::ConnectFailed, format!("cannot connect to {addr}: {e}"))),
    }
}

/// A finished TLS handshake and what it tells about the certificates.
pub(crate) struct TlsSession {
    pub stream: TlsStream<TcpStream>,
    /// Earliest `notAfter` of the presented chain.
    pub not_after_ms: Option<Millis>,
}

/// TLS handshake on `tcp`, timed into `t.tls`. `verify: false` skips every
/// certificate check (signatures of the handshake itself are still checked).
pub(crate) async fn tls_handshake(
    env: &ProbeEnv,
    tcp: TcpStream,
    server_name: &str,
    verify: bool,
    t: &mut Timings,
) -> Result<TlsSession, ProbeResult> {
    let name =
        ServerName::try_from(server_name.trim_start_matches('[').trim_end_matches(']').to_owned()).map_err(|_| {
            ProbeResult::down(ErrorKind::InvalidConfig, format!("`{server_name}` is not a TLS server name"))
        })?;
    let config = if verify { env.tls_verify.clone() } else { env.tls_no_verify.clone() };
    let start = Instant::now();
    let res = TlsConnector::from(config).connect(name, tcp).await;
    t.tls = Some(start.elapsed());
    match res {
        Ok(stream) => {
            let not_after_ms = stream.get_ref().1.peer_certificates().and_then(earliest_not_after);
            Ok(TlsSession { stream, not_after_ms })
        }
        Err(e) => Err(tls_error(server_name, &e)),
    }
}

fn tls_error(server_name: &str, e: &std::io::Error) -> ProbeResult {
    let rustls_err = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let Some(rustls::Error::InvalidCertificate(ce)) = rustls_err else {
        return ProbeResult::down(ErrorKind::TlsHandshake, format!("TLS handshake failed: {e}"));
    };
    match ce {
        CertificateError::ExpiredContext { time, not_after } => {
            let not_after_ms = unix_ms(*not_after);
            let now = i64::try_from(time.as_secs()).unwrap_or(i64::MAX).saturating_mul(1000);
            let mut r = ProbeResult::down(
                ErrorKind::CertificateExpired,
                format!("TLS: certificate {}", expired_ago(now, not_after_ms)),
            );
            r.cert_not_after_ms = Some(not_after_ms);
            r
        }
        CertificateError::Expired => ProbeResult::down(ErrorKind::CertificateExpired, "TLS: certificate expired"),
        CertificateError::UnknownIssuer => {
            ProbeResult::down(ErrorKind::TlsCertificateInvalid, "TLS: certificate signed by an unknown authority")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => ProbeResult::down(
            ErrorKind::TlsCertificateInvalid,
            format!("TLS: certificate is not valid for {server_name}"),
        ),
        other => ProbeResult::down(ErrorKind::TlsCertificateInvalid, format!("TLS: invalid certificate ({other:?})")),
    }
}

fn unix_ms(t: UnixTime) -> Millis {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX).saturating_mul(1000)
}

/// `expired 3 days ago`, `expired today`.
pub(crate) fn expired_ago(now_ms: Millis, not_after_ms: Millis) -> String {
    match (now_ms - not_after_ms) / DAY_MS {
        0 => "expired today".to_owned(),
        1 => "expired 1 day ago".to_owned(),
        d => format!("expired {d} days ago"),
    }
}

/// Whole days from `now_ms` until `not_after_ms` (negative once expired).
pub(crate) fn days_left(now_ms: Millis, not_after_ms: Millis) -> i64 {
    (not_after_ms - now_ms).div_euclid(DAY_MS)
}

/// The earliest `notAfter` (ms since the epoch) among DER certificates.
pub fn earliest_not_after(certs: &[CertificateDer<'_>]) -> Option<Millis> {
    certs
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der.as_ref()).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp().saturating_mul(1000))
        .min()
}

/// Accepts any certificate: `tlsVerify: false`. Handshake signatures are still
/// verified, so the peer proves it holds the key of the certificate it shows.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_in_words() {
        let day = DAY_MS;
        assert_eq!(expired_ago(10 * day, 7 * day), "expired 3 days ago");
        assert_eq!(expired_ago(10 * day, 9 * day), "expired 1 day ago");
        assert_eq!(expired_ago(10 * day, 10 * day - 5), "expired today");
        assert_eq!(days_left(0, 5 * day + 10), 5);
        assert_eq!(days_left(0, -1), -1);
    }
}
