//! Why an engine did not do what it was asked, in the classes a caller
//! answers by: the HTTP layer maps each one to its status code. Storage
//! failures are logged here, once, where they are classified, and carry no
//! words of the database.

/// The outcome classes of an engine's refusal or failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The server is shutting down; the request was not taken.
    #[error("nines is shutting down")]
    ShuttingDown,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed; nothing of the request was stored.
    #[error("the database is unavailable")]
    Unavailable,
}

impl From<nines_store::Error> for EngineError {
    fn from(e: nines_store::Error) -> Self {
        match e {
            nines_store::Error::NotFound(m) => EngineError::NotFound(m),
            nines_store::Error::Invalid { field, message } => EngineError::Invalid { field, message },
            nines_store::Error::Conflict(m) => EngineError::Conflict(m),
            other => {
                tracing::error!(error = %other, "storage error");
                EngineError::Unavailable
            }
        }
    }
}
