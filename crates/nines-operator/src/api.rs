//! The typed client of the nines API the operator calls with its operator
//! key (`X-API-Key`). Request bodies are built by [`crate::mapping`]; this
//! module only sends them and turns `{"error":{code,message,field}}`
//! answers into [`ApiError`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// (built by the backup mappings, hence defined beside them)
pub use crate::mapping::BackupReport;
use crate::mapping::apply::{ApplyDocument, render};
/// The bodies, under the paths the operator has always used.
pub use crate::wire::*;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("nines API {status}: {code}: {message}{}", field.as_deref().map(|f| format!(" ({f})")).unwrap_or_default())]
    Api { status: u16, code: String, message: String, field: Option<String> },
    #[error("nines API unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("invalid API URL {0:?}")]
    Url(String),
}

impl ApiError {
    /// Worth retrying with backoff: transport errors, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Api { status, .. } => *status == 429 || *status >= 500,
            ApiError::Transport(_) => true,
            ApiError::Url(_) => false,
        }
    }
}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inventory<'a, T> {
    node_id: &'a str,
    items: &'a [T],
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
}

/// The nines API as the operator sees it.
#[derive(Clone)]
pub struct NinesClient {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for NinesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the key
        f.debug_struct("NinesClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl NinesClient {
    pub fn new(base_url: &str, key: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Url(base_url.into()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("nines-operator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { base, key: key.into(), http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let (code, message, field) = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(b) => (b.error.code, b.error.message, b.error.field),
            Err(_) => ("http_error".into(), text.chars().take(200).collect(), None),
        };
        Err(ApiError::Api { status: status.as_u16(), code, message, field })
    }

    async fn post_json<B: Serialize + ?Sized>(&self, path: &str, body: &B) -> Result<reqwest::Response> {
        let r = self.http.post(self.url(path)).header("X-API-Key", &self.key).json(body).send().await?;
        Self::check(r).await
    }

    pub async fn whoami(&self) -> Result<WhoAmI> {
        let r = self.http.get(self.url("/api/v1/whoami")).header("X-API-Key", &self.key).send().await?;
        Ok(Self::check(r).await?.json().await?)
    }

    /// Apply documents (idempotent on the server).
    pub async fn apply(&self, docs: &[ApplyDocument]) -> Result<ApplyResponse> {
        let r = self
            .http
            .post(self.url("/api/v1/services/apply"))
            .query(&[("source", "operator")])
            .header("X-API-Key", &self.key)
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(render(docs))
            .send()
            .await?;
        Ok(Self::check(r).await?.json().await?)
    }

    /// Delete a service; `Ok(false)` when it was already gone.
    pub async fn delete_service(&self, node_id: &str, service: &str) -> Result<bool> {
        let r = self
            .http
            .delete(self.url("/api/v1/services"))
            .query(&[("nodeId", node_id), ("service", service)])
            .header("X-API-Key", &self.key)
            .send()
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Self::check(r).await?;
        Ok(true)
    }

    pub async fn report_health(&self, r: &HealthReport) -> Result<()> {
        self.post_json("/api/v1/health/report", r).await.map(drop)
    }

    /// Something done to the platform, shown on the timelines of downtimes
    /// around it (`POST /api/v1/activities`).
    pub async fn record_activity(&self, a: &Activity) -> Result<()> {
        self.post_json("/api/v1/activities", a).await.map(drop)
    }

    pub async fn report_backup(&self, r: &BackupReport) -> Result<()> {
        self.post_json("/api/v1/backup/report", r).await.map(drop)
    }

    async fn send_json<B: Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<reqwest::Response> {
        let r = self.http.request(method, self.url(path)).header("X-API-Key", &self.key).json(body).send().await?;
        Self::check(r).await
    }

    /// DELETE `path`; `Ok(false)` when it was already gone.
    async fn delete_path(&self, path: &str) -> Result<bool> {
        let r = self.http.delete(self.url(path)).header("X-API-Key", &self.key).send().await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        Self::check(r).await?;
        Ok(true)
    }

    /// Upsert a certificate; returns its API id.
    pub async fn upsert_certificate(&self, r: &CertificateReport) -> Result<String> {
        let c: Created = self.post_json("/api/v1/certificates", r).await?.json().await?;
        Ok(c.id())
    }

    pub async fn delete_certificate(&self, id: &str) -> Result<bool> {
        self.delete_path(&format!("/api/v1/certificates/{}", encode_segment(id))).await
    }

    pub async fn register_cluster(&self, r: &ClusterRegistration) -> Result<ClusterRegistered> {
        Ok(self.post_json("/api/v1/clusters/register", r).await?.json().await?)
    }

    /// The clusters registered in the key's organization.
    pub async fn list_clusters(&self) -> Result<Vec<RegisteredCluster>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self.http.get(self.url("/api/v1/clusters")).header("X-API-Key", &self.key);
            req = req.query(&[("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c)]);
            }
            let page: nines_core::wire::Page<RegisteredCluster> = Self::check(req.send().await?).await?.json().await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    /// Remove a registered cluster (and the inventory of its node); `Ok(false)`
    /// when it was already gone.
    pub async fn delete_cluster(&self, id: &str) -> Result<bool> {
        self.delete_path(&format!("/api/v1/clusters/{}", encode_segment(id))).await
    }

    pub async fn put_artifacts(&self, node_id: &str, items: &[ArtifactItem]) -> Result<UpsertResult> {
        let body = Inventory { node_id, items };
        Ok(self.send_json(reqwest::Method::PUT, "/api/v1/inventory/artifacts", &body).await?.json().await?)
    }

    pub async fn put_apps(&self, node_id: &str, items: &[AppItem]) -> Result<UpsertResult> {
        let body = Inventory { node_id, items };
        Ok(self.send_json(reqwest::Method::PUT, "/api/v1/inventory/apps", &body).await?.json().await?)
    }

    pub async fn put_hosts(&self, node_id: &str, items: &[HostItem]) -> Result<UpsertResult> {
        let body = Inventory { node_id, items };
        Ok(self.send_json(reqwest::Method::PUT, "/api/v1/inventory/hosts", &body).await?.json().await?)
    }

    /// Replace the membership of a status page group.
    pub async fn put_status_group(&self, name: &str, g: &StatusPageGroup) -> Result<()> {
        let path = format!("/api/v1/status-page/groups/{}", encode_segment(name));
        self.send_json(reqwest::Method::PUT, &path, g).await.map(drop)
    }

    pub async fn delete_status_group(&self, name: &str) -> Result<bool> {
        self.delete_path(&format!("/api/v1/status-page/groups/{}", encode_segment(name))).await
    }
}

/// Percent-encode one path segment (names are DNS labels, but be safe).
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
