//! API keys: `nines_<id>_<secret>`. Only the SHA-256 of the whole key is
//! stored; lookups go by the public id and the hash is compared in constant
//! time.

use nines_core::clock::Millis;
use nines_core::{OrgScope, Role};
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use crate::{Error, Result, Store};

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scope: OrgScope,
    pub role: Role,
    pub created_at: Millis,
    secret_sha256: [u8; 32],
}

impl ApiKey {
    /// Does `presented` hash to this key? Constant time in the hash.
    pub fn verify(&self, presented: &str) -> bool {
        let h = hash_key(presented);
        bool::from(h.ct_eq(&self.secret_sha256))
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let txt = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(txt, 16).ok()?;
    }
    Some(out)
}

pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new random key: 64 bits of public id, 256 bits of secret.
pub fn generate_key() -> (String, String) {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).expect("the operating system's random source");
    getrandom::fill(&mut secret).expect("the operating system's random source");
    let id = hex(&id);
    let key = format!("nines_{id}_{}", hex(&secret));
    (id, key)
}

/// The public id of a presented key, if it has our shape.
pub fn parse_key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("nines_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && secret.len() == 64).then_some(id)
}

impl Store {
    /// Create a key; returns its record and the key itself (shown once).
    pub async fn create_api_key(
        &self,
        name: &str,
        scope: &OrgScope,
        role: Role,
        now: Millis,
    ) -> Result<(ApiKey, String)> {
        if matches!(scope, OrgScope::All) && role != Role::Admin {
            return Err(Error::Invalid {
                field: "organization".into(),
                message: "only admin keys may span every organization; give an organization".into(),
            });
        }
        let (id, key) = generate_key();
        let hash = hash_key(&key);
        let mut w = self.write_tx().await?;
        sqlx::query("INSERT INTO api_keys (id, name, organization, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&id)
            .bind(name)
            .bind(scope.as_option().map(str::to_string))
            .bind(role.as_str())
            .bind(hex(&hash))
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok((ApiKey { id, name: name.into(), scope: scope.clone(), role, created_at: now, secret_sha256: hash }, key))
    }

    /// Accept `key`, made elsewhere (a Kubernetes Secret), as an admin key of
    /// every organization. Nothing happens when a key with its id exists
    /// already (a restart, another replica); the key itself is never stored,
    /// only its SHA-256. Returns whether it was added.
    pub async fn import_admin_key(&self, name: &str, key: &str, now: Millis) -> Result<bool> {
        let Some(id) = parse_key_id(key) else {
            return Err(Error::Invalid {
                field: "admin key".into(),
                message: "not a nines key: nines_ then 16 hex digits, _ and 64 hex digits".into(),
            });
        };
        if !key.bytes().skip(6).all(|b| b.is_ascii_hexdigit() || b == b'_') {
            return Err(Error::Invalid {
                field: "admin key".into(),
                message: "the id and secret must be hex digits".into(),
            });
        }
        let mut w = self.write_tx().await?;
        let added = sqlx::query(
            "INSERT INTO api_keys (id, name, organization, role, secret_sha256, created_at) VALUES ($1, $2, NULL, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(Role::Admin.as_str())
        .bind(hex(&hash_key(key)))
        .bind(now)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.tx.commit().await?;
        Ok(added > 0)
    }

    /// The key with this public id, unless revoked.
    pub async fn find_api_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, name, organization, role, secret_sha256, created_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| to_key(&r)))
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, name, organization, role, secret_sha256, created_at FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(to_key).collect())
    }

    pub async fn revoke_api_key(&self, id: &str, now: Millis) -> Result<bool> {
        let mut w = self.write_tx().await?;
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        w.tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn count_api_keys(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM api_keys").fetch_one(&self.pool).await?.get::<i64, _>(0))
    }
}

fn to_key(r: &sqlx::any::AnyRow) -> Option<ApiKey> {
    let org: Option<String> = r.get(2);
    Some(ApiKey {
        id: r.get(0),
        name: r.get(1),
        scope: org.map_or(OrgScope::All, OrgScope::One),
        role: r.get::<String, _>(3).parse().ok()?,
        secret_sha256: unhex32(&r.get::<String, _>(4))?,
        created_at: r.get(5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_parseable_shape() {
        let (id, key) = generate_key();
        assert_eq!(parse_key_id(&key), Some(id.as_str()));
        assert_eq!(parse_key_id("nines_short_x"), None);
        assert_eq!(parse_key_id("Bearer abc"), None);
        let (_, other) = generate_key();
        assert_ne!(key, other);
        assert_eq!(unhex32(&hex(&hash_key(&key))), Some(hash_key(&key)));
    }
}
