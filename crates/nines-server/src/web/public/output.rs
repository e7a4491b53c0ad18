//! What a snapshot is served as: the HTML page ([`super::render`]), the
//! status-service JSON ([`super::json`]) and the Atom feed
//! ([`super::feed`]), each made once per snapshot and then served as bytes.
//! The snapshot itself (`super::snapshot`) knows nothing of these formats.

use axum::body::Bytes;

use super::snapshot::Snapshot;

impl Snapshot {
    pub fn page(&self) -> &Bytes {
        self.page.get_or_init(|| Bytes::from(super::render::page(self)))
    }
    pub fn status_json(&self) -> &Bytes {
        self.status_json.get_or_init(|| Bytes::from(super::json::status(self)))
    }
    pub fn feed(&self) -> &Bytes {
        self.feed.get_or_init(|| Bytes::from(super::feed::atom(self)))
    }
}

/// Make a new snapshot's page before the first request for it.
pub fn prerender(snap: &Snapshot) {
    let _ = snap.page();
}
