//! Who is calling: API keys looked up by their public id, verified in
//! constant time, cached for a few seconds so ingestion at tens of thousands
//! of reports a second does not read the key table each time.

use nines_core::clock::Clock;
use nines_core::{OrgScope, Role};
use nines_store::{ApiKey, Store, parse_key_id};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::RwLock;

use crate::error::ApiError;

/// An authenticated caller: an API key, or a person signed in to the
/// dashboard through the OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id; for a person `user:<username>`.
    pub key_id: String,
    /// The key's name; for a person their name. Audit entries, notes and
    /// acknowledgements are signed with it.
    pub key_name: String,
    pub scope: OrgScope,
    pub role: Role,
}

impl Caller {
    /// A person acts in one organization at a time, the one their session
    /// looks at, with the role their groups give there (`*`: every
    /// organization, as a platform admin). `None` when the session looks at
    /// an organization it has no role in.
    pub fn of_person(p: &nines_store::ui::PersonSession) -> Option<Caller> {
        let role = *p.memberships.get(&p.active_org)?;
        let scope = if p.active_org == "*" { OrgScope::All } else { OrgScope::One(p.active_org.clone()) };
        Some(Caller { key_id: p.key_id.clone(), key_name: p.display_name.clone(), scope, role })
    }

    /// A row of another organization is answered exactly as a missing one
    /// (404), so ids cannot be probed across organizations.
    pub fn visible<T>(
        &self,
        row: Option<T>,
        org: fn(&T) -> &str,
        missing: impl FnOnce() -> String,
    ) -> Result<T, ApiError> {
        match row {
            Some(r) if self.scope.allows(org(&r)) => Ok(r),
            _ => Err(ApiError::not_found(missing())),
        }
    }
    /// 403 unless the key may act on `org`.
    pub fn require_org(&self, org: &str, field: &str) -> Result<(), ApiError> {
        if self.scope.allows(org) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this key belongs to organization {:?}, not {org:?}",
                self.scope.as_option().unwrap_or("*")
            ))
            .field(field))
        }
    }
}

/// How long a verified key stays cached; a revoked key stops working within this.
const CACHE_TTL_MS: i64 = 10_000;

pub struct Auth {
    store: Store,
    clock: Arc<dyn Clock>,
    cache: RwLock<HashMap<String, (ApiKey, i64)>>,
}

impl Auth {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Auth { store, clock, cache: RwLock::new(HashMap::new()) }
    }

    pub async fn authenticate(&self, presented: &str) -> Result<Caller, ApiError> {
        let invalid = || ApiError::unauthorized("invalid API key").field("X-API-Key");
        let id = parse_key_id(presented).ok_or_else(invalid)?;
        let now = self.clock.now_ms();
        let cached = self.cache.read().await.get(id).filter(|(_, at)| now - at < CACHE_TTL_MS).map(|(k, _)| k.clone());
        let key = match cached {
            Some(k) => k,
            None => {
                let k = self.store.find_api_key(id).await.map_err(ApiError::from)?.ok_or_else(invalid)?;
                let mut cache = self.cache.write().await;
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(id.to_string(), (k.clone(), now));
                k
            }
        };
        if !key.verify(presented) {
            return Err(invalid());
        }
        Ok(Caller { key_id: key.id.clone(), key_name: key.name.clone(), scope: key.scope.clone(), role: key.role })
    }

    pub async fn forget(&self, id: &str) {
        self.cache.write().await.remove(id);
    }
}
