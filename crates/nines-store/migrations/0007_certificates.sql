-- nines schema, version 7: TLS certificates reported by the operator (or any
-- agent), one row per (node, namespace, name).

CREATE TABLE certificates (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    node_id TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_name TEXT,
    dns_names TEXT NOT NULL DEFAULT '[]',
    ip_addresses TEXT NOT NULL DEFAULT '[]',
    issuer_name TEXT,
    issuer_kind TEXT,
    not_before BIGINT,
    not_after BIGINT,
    renewal_time BIGINT,
    is_ready BIGINT NOT NULL DEFAULT 0,
    reported_status TEXT NOT NULL,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (node_id, namespace, name)
);
CREATE INDEX certificates_org ON certificates (organization);
CREATE INDEX certificates_not_after ON certificates (not_after);
