-- The it-ops document text of services created or edited in the dashboard
-- (source `ui`), as written, so the dashboard edits what the person wrote.
CREATE TABLE ui_documents (
    service_id BIGINT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
