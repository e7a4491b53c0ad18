//! Tenant provisioning: the systems nines provisions into (Keycloak, GitLab,
//! Harbor, Argo CD), one client module each, and what they share.
//!
//! Every client answers in [`Outcome`]s and fails with a [`ProvisionError`]
//! whose [`ErrorKind`] tells the controller what to do: retry soon
//! (`Transient`, honouring `retry_after`), wait for someone to act
//! (`Blocked`: a Harbor project that still holds repositories, an Argo CD
//! project still used by applications), or report a mistake in the custom
//! resource or the credentials (`Refused`, `Unauthorized`).
//!
//! [`Clients`] keeps one client per connection across reconciles, so that
//! tokens are reused.

pub mod argocd;
pub mod gitlab;
pub mod harbor;
pub mod keycloak;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argocd::ArgoCdClient;
use gitlab::GitLabClient;
use harbor::HarborClient;
use keycloak::KeycloakAdmin;

/// A system nines provisions tenants into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum System {
    Keycloak,
    GitLab,
    Harbor,
    ArgoCd,
    /// nines' own API, where a K8sCluster is registered. Its client is
    /// [`crate::api::NinesClient`], not a module here; it is a system so that
    /// its registrations get the same records, conditions and errors.
    Nines,
}

impl System {
    /// The systems with a client module here.
    pub const ALL: [System; 4] = [System::Keycloak, System::GitLab, System::Harbor, System::ArgoCd];

    /// The name used in conditions (`KeycloakReady`), events and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            System::Keycloak => "Keycloak",
            System::GitLab => "GitLab",
            System::Harbor => "Harbor",
            System::ArgoCd => "ArgoCD",
            System::Nines => "Nines",
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a failure asks of the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Unreachable, 5xx, 429, a timeout: retry with backoff.
    Transient,
    /// The credentials were refused (401/403): retry after they change.
    Unauthorized,
    /// The system refused the request as it is (4xx naming a field): the
    /// custom resource needs a change.
    Refused,
    /// Waiting on something outside nines (repositories left in a project,
    /// applications using a project): retry later, never force.
    Blocked,
}

/// A failed call to a provisioned system, in words fit for a status
/// condition: the system, what was attempted, and the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionError {
    pub system: System,
    pub kind: ErrorKind,
    pub message: String,
    /// From a `Retry-After` answer.
    pub retry_after: Option<Duration>,
}

impl ProvisionError {
    pub fn new(system: System, kind: ErrorKind, message: impl Into<String>) -> Self {
        ProvisionError { system, kind, message: message.into(), retry_after: None }
    }
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.system, self.message)
    }
}

impl std::error::Error for ProvisionError {}

pub type Result<T> = std::result::Result<T, ProvisionError>;

/// How an `ensure` call met the thing it ensures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// nines created it now.
    Created,
    /// It existed under the right name and nines took it over.
    Adopted,
    /// It existed and was changed to match.
    Updated,
    /// It existed and matched: nothing was written.
    Unchanged,
}

/// The HTTP client every provisioning client uses: bounded request and
/// connect times, no redirects followed (an answer that moves is an answer
/// to report, not to chase with credentials), no cookie store.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("nines-operator/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds: rustls with its bundled roots and no proxy settings")
}

/// A request to `system` that got no answer: unreachable or timed out,
/// with the whole chain of causes.
pub(crate) fn transport_error(system: System, what: &str, e: &reqwest::Error) -> ProvisionError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    let what_failed = if e.is_timeout() { "timed out" } else { "unreachable" };
    ProvisionError::new(system, ErrorKind::Transient, format!("{what}: {what_failed} ({detail})"))
}

/// An answer of `system` that is not what its API promises.
pub(crate) fn unexpected(system: System, what: &str, detail: impl fmt::Display) -> ProvisionError {
    ProvisionError::new(system, ErrorKind::Transient, format!("{what}: unexpected answer ({detail})"))
}

/// The attribute (Keycloak) or description marker nines puts on what it
/// creates, so that it deletes only what it created.
pub const CREATED_BY: &str = "nines.dev/created-by";

/// Clients of the connected systems, kept across reconciles so that their
/// tokens are reused; keyed by the connection and a digest of its
/// credentials, so rotated credentials make a new client.
#[derive(Default)]
pub struct Clients {
    pub(crate) keycloak: ClientCache<KeycloakAdmin>,
    pub(crate) gitlab: ClientCache<GitLabClient>,
    pub(crate) harbor: ClientCache<HarborClient>,
    pub(crate) argocd: ClientCache<ArgoCdClient>,
}

/// The clients of one system: connection → (digest of its credentials, client).
pub(crate) struct ClientCache<T>(Mutex<HashMap<String, (String, Arc<T>)>>);

impl<T> Default for ClientCache<T> {
    fn default() -> Self {
        ClientCache(Mutex::default())
    }
}

impl<T> ClientCache<T> {
    /// The client of `connection` made with the credentials digested as
    /// `credentials`: the one kept, or a new one from `make` that replaces
    /// a client of older credentials.
    pub(crate) fn get(&self, connection: &str, credentials: &[&str], make: impl FnOnce() -> T) -> Arc<T> {
        let digest = crate::mapping::config_hash(credentials);
        let mut m = self.0.lock().expect("not poisoned");
        match m.get(connection) {
            Some((d, c)) if *d == digest => c.clone(),
            _ => {
                let c = Arc::new(make());
                m.insert(connection.to_string(), (digest, c.clone()));
                c
            }
        }
    }
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clients")
    }
}
