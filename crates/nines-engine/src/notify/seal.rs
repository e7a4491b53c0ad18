//! Channel secrets at rest: a channel's whole config is sealed with
//! AES-256-GCM (aws-lc-rs, already in the build through rustls) under the
//! server's key before it reaches the database, with the organization as
//! associated data so a sealed config cannot be moved to another
//! organization's row. Replicas on one database share the key.
//!
//! The key comes from `NINES_SECRET_KEY` (64 hex digits, or any passphrase
//! of 16+ characters, hashed with SHA-256) or from `notify.key` in the data
//! directory, created with mode 0600 on first start.

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::Digest;

/// The sealed form's version prefix.
const V1: &str = "v1.";

/// A 256-bit key. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        SecretKey(b)
    }

    /// A fresh random key.
    pub fn generate() -> Result<SecretKey, String> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness for a key: {e}"))?;
        Ok(SecretKey(b))
    }

    /// 64 hex digits, or a passphrase of at least 16 characters.
    pub fn parse(s: &str) -> Result<SecretKey, String> {
        let s = s.trim();
        if s.len() == 64
            && let Ok(v) = hex::decode(s)
        {
            let mut b = [0u8; 32];
            b.copy_from_slice(&v);
            return Ok(SecretKey(b));
        }
        if s.chars().count() < 16 {
            return Err("the secret key must be 64 hex digits or a passphrase of at least 16 characters".into());
        }
        Ok(SecretKey(sha2::Sha256::digest(s.as_bytes()).into()))
    }

    /// `env` when given, else `dir/notify.key`, created (0600) when missing.
    pub fn load(env: Option<&str>, dir: &Path) -> Result<SecretKey, String> {
        if let Some(v) = env {
            return SecretKey::parse(v).map_err(|e| format!("NINES_SECRET_KEY: {e}"));
        }
        let path = dir.join("notify.key");
        match std::fs::read_to_string(&path) {
            Ok(s) => SecretKey::parse(&s).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k = SecretKey::generate()?;
                write_private(&path, &format!("{}\n", hex::encode(k.0)))
                    .map_err(|e| format!("creating {}: {e}", path.display()))?;
                tracing::info!(file = %path.display(), "created the key that seals notification channel secrets");
                Ok(k)
            }
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte key fits AES-256"))
    }

    /// Seal `plain` bound to `context`: `v1.<hex(nonce ‖ ciphertext ‖ tag)>`.
    /// A value derived from the key for `context` (HMAC-SHA-256), as 64 hex
    /// digits: tokens the server can recompute instead of storing them
    /// (a subscriber's links, a webhook subscription's signing secret).
    pub fn derive(&self, context: &str) -> String {
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        hex::encode(aws_lc_rs::hmac::sign(&k, context.as_bytes()).as_ref())
    }

    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<String, String> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no randomness for a nonce: {e}"))?;
        let mut buf = plain.to_vec();
        self.aead()
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| "sealing failed".to_string())?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(format!("{V1}{}", hex::encode(out)))
    }

    /// Open what [`SecretKey::seal`] sealed with the same context.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, String> {
        let raw = sealed
            .strip_prefix(V1)
            .and_then(|h| hex::decode(h).ok())
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or("not a sealed value")?;
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| "bad nonce")?;
        let mut buf = ct.to_vec();
        let plain = self
            .aead()
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| "cannot open the sealed config: another key sealed it, or it was altered".to_string())?;
        Ok(plain.to_vec())
    }
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_binds_the_context() {
        let k = SecretKey::generate().unwrap();
        let s = k.seal("acme", b"{\"secret\":\"s3cr3t\"}").unwrap();
        assert!(s.starts_with("v1.") && !s.contains("s3cr3t"));
        assert_eq!(k.open("acme", &s).unwrap(), b"{\"secret\":\"s3cr3t\"}");
        assert!(k.open("other", &s).is_err(), "another organization's row");
        assert!(SecretKey::generate().unwrap().open("acme", &s).is_err(), "another key");
        assert_ne!(k.seal("acme", b"x").unwrap(), k.seal("acme", b"x").unwrap(), "fresh nonces");
        let mut bad = s.clone();
        bad.pop();
        bad.push(if s.ends_with('0') { '1' } else { '0' });
        assert!(k.open("acme", &bad).is_err(), "altered");
    }

    #[test]
    fn keys_parse_from_hex_or_passphrase_and_files_are_private() {
        let hex_key = "00".repeat(31) + "ff";
        assert_eq!(SecretKey::parse(&hex_key).unwrap().0[31], 0xff);
        assert_eq!(SecretKey::parse("a long enough passphrase"), SecretKey::parse(" a long enough passphrase\n"));
        assert!(SecretKey::parse("short").is_err());
        let dir = std::env::temp_dir().join(format!("nines-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let a = SecretKey::load(None, &dir).unwrap();
        assert_eq!(SecretKey::load(None, &dir).unwrap(), a, "the file is read back");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("notify.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_ne!(SecretKey::load(Some("another passphrase, long"), &dir).unwrap(), a, "env wins");
        assert_eq!(format!("{a:?}"), "SecretKey(<redacted>)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
