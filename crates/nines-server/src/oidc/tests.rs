//! ID token verification against a provider served on a loopback port by
//! the test (discovery and JWKS), with keys generated here: the signature,
//! each claim, and key rotation.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use nines_core::clock::ManualClock;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

const NOW: i64 = 1_800_000_000_000;
const CLIENT: &str = "nines";

/// An RSA key with its kid.
struct Rsa {
    kid: String,
    kp: RsaKeyPair,
}

/// One DER length and the rest of the input.
fn der_len(b: &[u8]) -> (usize, &[u8]) {
    match b[0] {
        n if n < 0x80 => (n as usize, &b[1..]),
        0x81 => (b[1] as usize, &b[2..]),
        0x82 => (((b[1] as usize) << 8) | b[2] as usize, &b[3..]),
        _ => panic!("length too long for a test key"),
    }
}

/// n and e of a DER RSAPublicKey (SEQUENCE of two INTEGERs).
fn n_and_e(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    assert_eq!(der[0], 0x30);
    let (_, rest) = der_len(&der[1..]);
    let int = |b: &[u8]| -> (Vec<u8>, usize) {
        assert_eq!(b[0], 0x02);
        let (len, body) = der_len(&b[1..]);
        let head = b.len() - body.len();
        let v = body[..len].iter().skip_while(|x| **x == 0).copied().collect();
        (v, head + len)
    };
    let (n, used) = int(rest);
    let (e, _) = int(&rest[used..]);
    (n, e)
}

impl Rsa {
    fn new(kid: &str) -> Rsa {
        Rsa { kid: kid.into(), kp: RsaKeyPair::generate(KeySize::Rsa2048).unwrap() }
    }
    fn jwk(&self) -> Value {
        let (n, e) = n_and_e(self.kp.public_key().as_ref());
        json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": B64URL.encode(n), "e": B64URL.encode(e)})
    }
    fn sign(&self, claims: &Value) -> String {
        let h = B64URL.encode(json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}).to_string());
        let p = B64URL.encode(claims.to_string());
        let msg = format!("{h}.{p}");
        let mut sig = vec![0u8; self.kp.public_modulus_len()];
        self.kp.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg.as_bytes(), &mut sig).unwrap();
        format!("{msg}.{}", B64URL.encode(sig))
    }
}

/// The test's provider: discovery and a JWKS the test changes, with the
/// number of JWKS fetches.
struct Fake {
    issuer: String,
    jwks: Arc<std::sync::Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

async fn fake() -> Fake {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/test", listener.local_addr().unwrap());
    let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": []})));
    let fetches = Arc::new(AtomicUsize::new(0));
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/certs"),
        "end_session_endpoint": format!("{issuer}/logout"),
    });
    let (j, f) = (jwks.clone(), fetches.clone());
    let app = axum::Router::new()
        .route("/realms/test/.well-known/openid-configuration", get(move || async move { axum::Json(doc) }))
        .route(
            "/realms/test/certs",
            get(move || async move {
                f.fetch_add(1, Ordering::SeqCst);
                axum::Json(j.lock().unwrap().clone())
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { issuer, jwks, fetches }
}

fn claims(issuer: &str) -> Value {
    json!({
        "iss": issuer, "aud": CLIENT, "azp": CLIENT, "sub": "u-1", "nonce": "n-1",
        "iat": NOW / 1000 - 5, "exp": NOW / 1000 + 300,
        "preferred_username": "alice", "groups": ["/acme/acme-admins", "globex-viewers"],
    })
}

fn provider(f: &Fake, clock: &ManualClock) -> Provider {
    Provider::new(OidcConfig::new(&f.issuer, CLIENT, Some("s3cret".into())), Arc::new(clock.clone()))
}

fn refused(r: Result<Value, ProviderError>) -> TokenError {
    match r {
        Err(ProviderError::Token(t)) => t,
        other => panic!("expected a refused token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_well_signed_token_passes_and_each_wrong_claim_is_named() {
    let f = fake().await;
    let k = Rsa::new("k1");
    *f.jwks.lock().unwrap() = json!({"keys": [k.jwk()]});
    let clock = ManualClock::new(NOW);
    let p = provider(&f, &clock);
    let good = claims(&f.issuer);
    let c = p.verify(&k.sign(&good), "n-1").await.unwrap();
    assert_eq!(display_name(&c), "alice");

    let with = |k2: &str, v: Value| {
        let mut c = good.clone();
        c[k2] = v;
        c
    };
    let bad = [
        ("iss", with("iss", json!("http://127.0.0.1:1/realms/other"))),
        ("aud", with("aud", json!("someone-else"))),
        (
            "azp",
            with("aud", json!([CLIENT, "other"]))
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.remove("azp");
                    Value::Object(o)
                })
                .unwrap(),
        ),
        ("azp", with("azp", json!("other"))),
        ("exp", with("exp", json!(NOW / 1000 - 120))),
        ("iat", with("iat", json!(NOW / 1000 + 600))),
        ("nonce", with("nonce", json!("n-2"))),
    ];
    for (name, c) in bad {
        match refused(p.verify(&k.sign(&c), "n-1").await) {
            TokenError::Claim { claim, .. } => assert_eq!(claim, name, "{c}"),
            other => panic!("{name}: {other}"),
        }
    }
    // a token expired within the leeway still passes; the nonce is the one asked
    assert!(p.verify(&k.sign(&with("exp", json!(NOW / 1000 - 30))), "n-1").await.is_ok());
    assert!(matches!(refused(p.verify(&k.sign(&good), "other").await), TokenError::Claim { claim: "nonce", .. }));
}

#[tokio::test]
async fn a_bad_signature_or_algorithm_is_refused() {
    let f = fake().await;
    let k = Rsa::new("k1");
    *f.jwks.lock().unwrap() = json!({"keys": [k.jwk()]});
    let clock = ManualClock::new(NOW);
    let p = provider(&f, &clock);
    let token = k.sign(&claims(&f.issuer));
    // the claims changed after signing
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut c = claims(&f.issuer);
    c["preferred_username"] = json!("mallory");
    parts[1] = B64URL.encode(c.to_string());
    assert_eq!(refused(p.verify(&parts.join("."), "n-1").await), TokenError::Signature);
    // signed by another key under the same kid
    let other = Rsa { kid: "k1".into(), kp: RsaKeyPair::generate(KeySize::Rsa2048).unwrap() };
    assert_eq!(refused(p.verify(&other.sign(&claims(&f.issuer)), "n-1").await), TokenError::Signature);
    // alg none and HS256 are never accepted
    for alg in ["none", "HS256"] {
        let h = B64URL.encode(json!({"alg": alg, "kid": "k1"}).to_string());
        let t = format!("{h}.{}.{}", parts[1], parts[2]);
        assert_eq!(refused(p.verify(&t, "n-1").await), TokenError::Algorithm(alg.into()));
    }
    assert!(matches!(refused(p.verify("not-a-jwt", "n-1").await), TokenError::Malformed(_)));
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_keys_again_but_not_on_every_token() {
    let f = fake().await;
    let (k1, k2) = (Rsa::new("k1"), Rsa::new("k2"));
    *f.jwks.lock().unwrap() = json!({"keys": [k1.jwk()]});
    let clock = ManualClock::new(NOW);
    let p = provider(&f, &clock);
    p.verify(&k1.sign(&claims(&f.issuer)), "n-1").await.unwrap();
    p.verify(&k1.sign(&claims(&f.issuer)), "n-1").await.unwrap();
    assert_eq!(f.fetches.load(Ordering::SeqCst), 1, "keys are cached");

    // the provider rotates to k2: a token naming it makes nines look again
    *f.jwks.lock().unwrap() = json!({"keys": [k2.jwk()]});
    clock.advance(60_000);
    p.verify(&k2.sign(&claims(&f.issuer)), "n-1").await.unwrap();
    assert_eq!(f.fetches.load(Ordering::SeqCst), 2);
    // a kid nobody has, right after: refused without another fetch
    let k3 = Rsa::new("k3");
    assert_eq!(refused(p.verify(&k3.sign(&claims(&f.issuer)), "n-1").await), TokenError::UnknownKey("k3".into()));
    assert_eq!(f.fetches.load(Ordering::SeqCst), 2, "refetches are rate-limited");
}

#[tokio::test]
async fn es256_tokens_verify_too() {
    let f = fake().await;
    let rng = SystemRandom::new();
    let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = kp.public_key().as_ref();
    assert_eq!(point.len(), 65);
    *f.jwks.lock().unwrap() = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "e1",
        "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..])}]});
    let h = B64URL.encode(json!({"alg": "ES256", "kid": "e1"}).to_string());
    let p64 = B64URL.encode(claims(&f.issuer).to_string());
    let msg = format!("{h}.{p64}");
    let sig = kp.sign(&rng, msg.as_bytes()).unwrap();
    let clock = ManualClock::new(NOW);
    let p = provider(&f, &clock);
    p.verify(&format!("{msg}.{}", B64URL.encode(sig.as_ref())), "n-1").await.unwrap();
}

#[tokio::test]
async fn a_discovery_document_of_another_issuer_is_refused() {
    let f = fake().await;
    let clock = ManualClock::new(NOW);
    // the same server under another name: its document names the first
    let issuer = f.issuer.replace("127.0.0.1", "localhost");
    let p = Provider::new(OidcConfig::new(&issuer, CLIENT, None), Arc::new(clock));
    let e = p.discovery().await.unwrap_err().to_string();
    assert!(e.contains("is not the configured --oidc-issuer"), "{e}");
}

#[test]
fn groups_map_to_organizations_with_the_highest_role() {
    let m = RoleMapping { platform_admin_group: Some("/nines-platform".into()), ..RoleMapping::default() };
    let g = |v: &[&str]| memberships(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &m);
    let got = g(&["/acme/acme-admins", "acme-viewers", "globex-developers", "staff", "Bad_Org-admins", "-admins"]);
    assert_eq!(got, [("acme".to_string(), Role::Admin), ("globex".to_string(), Role::Operator)].into());
    assert_eq!(g(&["globex-viewers"]), [("globex".to_string(), Role::ReadOnly)].into());
    assert_eq!(g(&["/platform/nines-platform"]), [("*".to_string(), Role::Admin)].into());
    assert!(g(&["developers", "acme"]).is_empty());

    assert_eq!(
        parse_role_suffixes("owners=admin, readers=read-only").unwrap(),
        vec![("owners".to_string(), Role::Admin), ("readers".to_string(), Role::ReadOnly)]
    );
    assert!(parse_role_suffixes("bots=agent").unwrap_err().contains("machines"));
    assert!(parse_role_suffixes("admins").unwrap_err().contains("suffix=role"));
    assert!(parse_role_suffixes("admins=root").unwrap_err().contains("unknown role"));
}

#[test]
fn pkce_challenge_is_rfc_7636s_example() {
    // RFC 7636 appendix B
    assert_eq!(
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(random_b64(32).len(), 43);
    assert_eq!(format!("{:?}", Secret("x".into())), "Secret(***)");
}
