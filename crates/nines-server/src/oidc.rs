//! Signing in to the dashboard through an OpenID Connect provider
//! (Keycloak first, any provider that follows the specification).
//!
//! nines is the relying party of the authorization-code flow with PKCE:
//! the browser is sent to the provider's login page and comes back to
//! `/ui/login/oidc/callback` with a code, which nines exchanges for an ID
//! token at the provider's token endpoint. The token is verified here, not
//! by a library: the signature (RS256 or ES256, with the provider's keys
//! from its JWKS, cached by `kid` and fetched again when a token names a key
//! not seen yet), the issuer, the audience, the times and the nonce.
//!
//! What a person may do comes from their groups ([`RoleMapping`]): a group
//! `acme-admins` (or a Keycloak full path `/acme/acme-admins`) makes them an
//! admin of organization `acme`. What lives elsewhere: the routes and the
//! session cookie (`web::dashboard::signin`, `web::dashboard::session`), the
//! session rows (`nines_store::ui`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use nines_core::Role;
use nines_core::clock::{Clock, Millis};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// A value that is never printed: the client secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the dashboard lets people in.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// How long a dashboard session lasts.
    pub session_ttl_ms: i64,
    /// Whether the login page takes an API key (`--disable-key-login` turns it off).
    pub key_login: bool,
    /// The OpenID Connect provider, when there is one.
    pub oidc: Option<OidcConfig>,
}

/// A session lasts 12 hours unless `--session-ttl` says otherwise.
pub const DEFAULT_SESSION_TTL_MS: i64 = 12 * 3_600_000;

impl Default for SignInConfig {
    fn default() -> Self {
        SignInConfig { session_ttl_ms: DEFAULT_SESSION_TTL_MS, key_login: true, oidc: None }
    }
}

/// The provider nines signs people in with.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer exactly as the provider names itself
    /// (`https://keycloak.example.com/realms/acme`).
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub client_secret: Option<Secret>,
    /// Asked for besides `openid profile email`.
    pub extra_scopes: Vec<String>,
    /// Shown on the sign-in button: "Sign in with {provider_name}".
    pub provider_name: String,
    pub roles: RoleMapping,
}

impl OidcConfig {
    /// The defaults of everything but the provider's address and client.
    pub fn new(issuer: &str, client_id: &str, client_secret: Option<String>) -> OidcConfig {
        OidcConfig {
            // kept as written: the ID token's iss must equal it exactly,
            // trailing slash and all (some providers have one)
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.map(Secret),
            extra_scopes: Vec::new(),
            provider_name: "single sign-on".into(),
            roles: RoleMapping::default(),
        }
    }

    pub fn scopes(&self) -> String {
        let mut s: Vec<&str> = vec!["openid", "profile", "email"];
        for x in &self.extra_scopes {
            if !s.contains(&x.as_str()) {
                s.push(x);
            }
        }
        s.join(" ")
    }
}

/// From a person's groups to their organizations and roles.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleMapping {
    /// The ID token claim that lists the groups.
    pub groups_claim: String,
    /// `{org}-{suffix}` gives `role` in `org`.
    pub suffixes: Vec<(String, Role)>,
    /// Members of this group are admins of every organization.
    pub platform_admin_group: Option<String>,
}

impl Default for RoleMapping {
    fn default() -> Self {
        RoleMapping {
            groups_claim: "groups".into(),
            suffixes: parse_role_suffixes(DEFAULT_ROLE_SUFFIXES).expect("the default mapping parses"),
            platform_admin_group: None,
        }
    }
}

pub const DEFAULT_ROLE_SUFFIXES: &str = "admins=admin,developers=operator,viewers=read-only";

/// `admins=admin,developers=operator,viewers=read-only`: group name
/// suffixes and the role each gives. Agent is no role for a person.
pub fn parse_role_suffixes(s: &str) -> Result<Vec<(String, Role)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((suffix, role)) = part.split_once('=') else {
            return Err(format!("{part:?}: expected suffix=role, e.g. admins=admin"));
        };
        let suffix = suffix.trim();
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(format!("{part:?}: the suffix must be lowercase letters, digits and dashes"));
        }
        let role: Role = role.trim().parse().map_err(|e| format!("{part:?}: {e}"))?;
        if role == Role::Agent {
            return Err(format!("{part:?}: agent is the role of machines, not of people"));
        }
        out.push((suffix.to_string(), role));
    }
    if out.is_empty() {
        return Err("no suffix=role pair".into());
    }
    Ok(out)
}

/// An organization's name as groups carry it: a lowercase DNS label.
fn is_org_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && nines_core::check_name(s).is_ok()
}

/// The last segment of a group path (`/acme/acme-admins` -> `acme-admins`).
fn group_name(g: &str) -> &str {
    g.trim_end_matches('/').rsplit('/').next().unwrap_or(g)
}

/// Every organization the groups give, with the highest role each gives;
/// `*` when the person is a platform admin.
pub fn memberships(groups: &[String], m: &RoleMapping) -> BTreeMap<String, Role> {
    let mut out: BTreeMap<String, Role> = BTreeMap::new();
    let platform = m.platform_admin_group.as_deref().map(group_name);
    for g in groups {
        let name = group_name(g);
        if Some(name) == platform {
            out.insert("*".into(), Role::Admin);
            continue;
        }
        for (suffix, role) in &m.suffixes {
            if let Some(org) = name.strip_suffix(suffix.as_str()).and_then(|o| o.strip_suffix('-'))
                && is_org_name(org)
            {
                let e = out.entry(org.to_string()).or_insert(*role);
                *e = (*e).max(*role);
            }
        }
    }
    out
}

/// The groups of the claim `name`: a list of strings (or one string).
pub fn groups_of(claims: &Value, name: &str) -> Vec<String> {
    match &claims[name] {
        Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Why an ID token was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("the ID token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {0:?}; nines accepts RS256 and ES256")]
    Algorithm(String),
    #[error("the provider has no key {0:?} to check the ID token's signature with")]
    UnknownKey(String),
    #[error("the ID token's signature does not verify")]
    Signature,
    #[error("the ID token's {claim} is wrong: {reason}")]
    Claim { claim: &'static str, reason: String },
}

fn claim(claim: &'static str, reason: impl Into<String>) -> TokenError {
    TokenError::Claim { claim, reason: reason.into() }
}

/// A public key of the provider, from its JWKS.
#[derive(Debug, Clone)]
pub enum Jwk {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// P-256, as the uncompressed point `04 || x || y`.
    Ec {
        point: Vec<u8>,
    },
}

/// The signing keys of a JWKS document by `kid` (keys without one under "").
pub fn parse_jwks(doc: &Value) -> HashMap<String, Jwk> {
    let mut out = HashMap::new();
    for k in doc["keys"].as_array().into_iter().flatten() {
        if k["use"].as_str().is_some_and(|u| u != "sig") {
            continue;
        }
        let b = |f: &str| k[f].as_str().and_then(|s| B64URL.decode(s.trim_end_matches('=')).ok());
        let key = match (k["kty"].as_str(), k["crv"].as_str()) {
            (Some("RSA"), _) => match (b("n"), b("e")) {
                (Some(n), Some(e)) => Jwk::Rsa { n, e },
                _ => continue,
            },
            (Some("EC"), Some("P-256")) => match (b("x"), b("y")) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                    let mut point = vec![4u8];
                    point.extend(x);
                    point.extend(y);
                    Jwk::Ec { point }
                }
                _ => continue,
            },
            _ => continue,
        };
        out.insert(k["kid"].as_str().unwrap_or_default().to_string(), key);
    }
    out
}

/// The parts of a compact JWS: header, claims, signed bytes, signature.
struct Jws<'a> {
    alg: String,
    kid: Option<String>,
    claims: Value,
    signed: &'a [u8],
    signature: Vec<u8>,
}

fn split(token: &str) -> Result<Jws<'_>, TokenError> {
    let bad = |why: &str| TokenError::Malformed(why.into());
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("expected three dot-separated parts"));
    };
    let header: Value = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("the header is not base64url JSON"))?;
    let claims: Value = B64URL
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(|| bad("the payload is not a base64url JSON object"))?;
    let signature = B64URL.decode(s).map_err(|_| bad("the signature is not base64url"))?;
    Ok(Jws {
        alg: header["alg"].as_str().unwrap_or_default().to_string(),
        kid: header["kid"].as_str().map(str::to_string),
        claims,
        signed: &token.as_bytes()[..h.len() + 1 + p.len()],
        signature,
    })
}

fn verify_signature(jws: &Jws, key: &Jwk) -> Result<(), TokenError> {
    use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
    let ok = match (jws.alg.as_str(), key) {
        ("RS256", Jwk::Rsa { n, e }) => RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, jws.signed, &jws.signature)
            .is_ok(),
        ("ES256", Jwk::Ec { point }) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(jws.signed, &jws.signature)
            .is_ok(),
        _ => false,
    };
    if ok { Ok(()) } else { Err(TokenError::Signature) }
}

/// What the ID token must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now_ms: Millis,
}

/// Clocks of the provider and of nines may differ by this much.
const LEEWAY_S: i64 = 60;

/// Check the claims of an ID token whose signature was verified.
fn check_claims(c: &Value, x: &Expected) -> Result<(), TokenError> {
    if c["iss"].as_str() != Some(x.issuer) {
        return Err(claim("iss", format!("{} is not the configured issuer {:?}", c["iss"], x.issuer)));
    }
    let aud: Vec<&str> = match &c["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !aud.contains(&x.client_id) {
        return Err(claim("aud", format!("{} does not name this client {:?}", c["aud"], x.client_id)));
    }
    match c["azp"].as_str() {
        Some(azp) if azp != x.client_id => {
            return Err(claim("azp", format!("{azp:?} is not this client {:?}", x.client_id)));
        }
        None if aud.len() > 1 => return Err(claim("azp", "missing, and the token has several audiences")),
        _ => {}
    }
    let now = x.now_ms.div_euclid(1000);
    let Some(exp) = c["exp"].as_i64() else { return Err(claim("exp", "missing")) };
    if exp + LEEWAY_S <= now {
        return Err(claim("exp", format!("the token expired at {exp}, it is now {now}")));
    }
    let Some(iat) = c["iat"].as_i64() else { return Err(claim("iat", "missing")) };
    if iat > now + LEEWAY_S {
        return Err(claim("iat", format!("issued at {iat}, in the future (it is now {now})")));
    }
    let nonce = c["nonce"].as_str().unwrap_or_default();
    if !constant_eq(nonce.as_bytes(), x.nonce.as_bytes()) {
        return Err(claim("nonce", "not the one this sign-in sent"));
    }
    if c["sub"].as_str().is_none_or(str::is_empty) {
        return Err(claim("sub", "missing"));
    }
    Ok(())
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Random bytes as base64url: states, nonces, PKCE verifiers.
pub fn random_b64(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).expect("the operating system's random source");
    B64URL.encode(raw)
}

/// The PKCE S256 challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// Same-length strings compared in constant time (state against cookie).
pub fn same_secret(a: &str, b: &str) -> bool {
    constant_eq(a.as_bytes(), b.as_bytes())
}

/// The endpoints of the provider, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// Why talking to the provider failed; shown to the person signing in.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot reach the sign-in provider at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the sign-in provider's {what} is not usable: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("the sign-in provider refused the code: {0}")]
    Refused(String),
    #[error(transparent)]
    Token(#[from] TokenError),
}

struct KeyCache {
    keys: HashMap<String, Jwk>,
    /// When the JWKS was last fetched (never: `None`).
    fetched_at: Option<Millis>,
}

/// A token naming an unknown key fetches the JWKS again, at most this often
/// (a flood of forged tokens must not turn into a flood of fetches).
const JWKS_REFETCH_MS: i64 = 10_000;
/// The discovery document is read again after this long.
const DISCOVERY_TTL_MS: i64 = 3_600_000;

/// The provider as nines talks to it: its endpoints and keys, cached.
pub struct Provider {
    pub config: OidcConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    discovery: Mutex<Option<(Discovery, Millis)>>,
    keys: Mutex<KeyCache>,
}

impl Provider {
    pub fn new(config: OidcConfig, clock: Arc<dyn Clock>) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client builds");
        Provider {
            config,
            http,
            clock,
            discovery: Mutex::new(None),
            keys: Mutex::new(KeyCache { keys: HashMap::new(), fetched_at: None }),
        }
    }

    async fn get_json(&self, url: &str, what: &'static str) -> Result<Value, ProviderError> {
        let unreachable =
            |e: reqwest::Error| ProviderError::Unreachable { url: url.to_string(), reason: e.to_string() };
        let resp = self.http.get(url).header("accept", "application/json").send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(ProviderError::Invalid { what, reason: format!("GET {url} answered {}", resp.status()) });
        }
        resp.json().await.map_err(|e| ProviderError::Invalid { what, reason: format!("GET {url}: {e}") })
    }

    /// The discovery document, fetched on first use and hourly after.
    pub async fn discovery(&self) -> Result<Discovery, ProviderError> {
        let now = self.clock.now_ms();
        let mut d = self.discovery.lock().await;
        if let Some((doc, at)) = d.as_ref()
            && now - at < DISCOVERY_TTL_MS
            && now >= *at
        {
            return Ok(doc.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let v = self.get_json(&url, "discovery document").await?;
        let doc: Discovery = serde_json::from_value(v)
            .map_err(|e| ProviderError::Invalid { what: "discovery document", reason: e.to_string() })?;
        if doc.issuer != self.config.issuer {
            return Err(ProviderError::Invalid {
                what: "discovery document",
                reason: format!(
                    "its issuer {:?} is not the configured --oidc-issuer {:?}",
                    doc.issuer, self.config.issuer
                ),
            });
        }
        *d = Some((doc.clone(), now));
        Ok(doc)
    }

    async fn fetch_keys(&self, cache: &mut KeyCache, now: Millis) -> Result<(), ProviderError> {
        let d = self.discovery().await?;
        let v = self.get_json(&d.jwks_uri, "key set (JWKS)").await?;
        cache.keys = parse_jwks(&v);
        cache.fetched_at = Some(now);
        Ok(())
    }

    /// The key `kid` names, fetching the JWKS again when it is unknown
    /// (the provider rotated its keys) unless it was fetched moments ago.
    async fn key(&self, kid: &str) -> Result<Jwk, ProviderError> {
        let now = self.clock.now_ms();
        let mut cache = self.keys.lock().await;
        if let Some(k) = cache.keys.get(kid) {
            return Ok(k.clone());
        }
        let recent = cache.fetched_at.is_some_and(|at| now >= at && now - at < JWKS_REFETCH_MS);
        if !recent {
            self.fetch_keys(&mut cache, now).await?;
        }
        cache.keys.get(kid).cloned().ok_or_else(|| TokenError::UnknownKey(kid.to_string()).into())
    }

    /// Verify an ID token: signature, then claims. Returns its claims.
    pub async fn verify(&self, token: &str, nonce: &str) -> Result<Value, ProviderError> {
        let jws = split(token)?;
        if !matches!(jws.alg.as_str(), "RS256" | "ES256") {
            return Err(TokenError::Algorithm(jws.alg.clone()).into());
        }
        let key = self.key(jws.kid.as_deref().unwrap_or_default()).await?;
        verify_signature(&jws, &key)?;
        let x = Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce,
            now_ms: self.clock.now_ms(),
        };
        check_claims(&jws.claims, &x)?;
        Ok(jws.claims)
    }

    /// Where to send the browser to sign in.
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String, ProviderError> {
        let d = self.discovery().await?;
        let q = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", &self.config.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &self.config.scopes()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", &pkce_challenge(verifier)),
            ("code_challenge_method", "S256"),
        ])
        .expect("strings encode");
        let sep = if d.authorization_endpoint.contains('?') { '&' } else { '?' };
        Ok(format!("{}{sep}{q}", d.authorization_endpoint))
    }

    /// Exchange the code for tokens (client_secret_basic, or the client id
    /// alone for a public client) and return the ID token, unverified.
    pub async fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<String, ProviderError> {
        let d = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut req = self.http.post(&d.token_endpoint).header("accept", "application/json");
        match &self.config.client_secret {
            Some(secret) => {
                // RFC 6749 2.3.1: both form-encoded before the Basic encoding
                let enc = |s: &str| serde_urlencoded::to_string([("", s)]).expect("encodes")[1..].to_string();
                let basic = base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&self.config.client_id),
                    enc(&secret.0)
                ));
                req = req.header("authorization", format!("Basic {basic}"));
            }
            None => form.push(("client_id", &self.config.client_id)),
        }
        let body = serde_urlencoded::to_string(&form).expect("strings encode");
        let resp = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| ProviderError::Unreachable { url: d.token_endpoint.clone(), reason: e.to_string() })?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let why = [v["error"].as_str(), v["error_description"].as_str()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            return Err(ProviderError::Refused(if why.is_empty() { status.to_string() } else { why }));
        }
        v["id_token"].as_str().map(str::to_string).ok_or_else(|| ProviderError::Invalid {
            what: "token response",
            reason: "it holds no id_token (is `openid` among the client's scopes?)".into(),
        })
    }

    /// Where to send the browser to end its session at the provider, if
    /// the provider supports RP-initiated logout.
    pub async fn end_session_url(&self, id_token: &str, post_logout_redirect_uri: &str) -> Option<String> {
        let d = self.discovery().await.ok()?;
        let end = d.end_session_endpoint?;
        let q = serde_urlencoded::to_string([
            ("id_token_hint", id_token),
            ("client_id", &self.config.client_id),
            ("post_logout_redirect_uri", post_logout_redirect_uri),
        ])
        .ok()?;
        let sep = if end.contains('?') { '&' } else { '?' };
        Some(format!("{end}{sep}{q}"))
    }
}

/// The name a person is shown and signs with: preferred_username, else
/// name, else email, else the subject.
pub fn display_name(claims: &Value) -> String {
    ["preferred_username", "name", "email", "sub"]
        .iter()
        .filter_map(|c| claims[*c].as_str())
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("unknown")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests;
