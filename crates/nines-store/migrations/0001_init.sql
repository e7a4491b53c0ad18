-- nines schema, version 1.
-- All instants are milliseconds since the Unix epoch (UTC).

CREATE TABLE sla_groups (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    mode TEXT NOT NULL DEFAULT 'all',
    quorum BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (organization, name)
);

CREATE TABLE services (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    node_id TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT,
    kind TEXT NOT NULL,
    criticality TEXT NOT NULL,
    sla_group_id BIGINT REFERENCES sla_groups (id),
    tags TEXT NOT NULL DEFAULT '[]',
    metadata TEXT NOT NULL DEFAULT '{}',
    source TEXT NOT NULL,
    namespace TEXT,
    workload_type TEXT,
    workload_name TEXT,
    config_hash TEXT,
    status TEXT NOT NULL DEFAULT 'UNKNOWN',
    message TEXT,
    last_real_at BIGINT,
    stale_stage BIGINT NOT NULL DEFAULT 0,
    stale_watch BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    backup_expected BIGINT NOT NULL DEFAULT 0,
    backup_max_age_days DOUBLE PRECISION,
    backup_schedule TEXT,
    backup_storage_size TEXT,
    backup_last_at BIGINT,
    backup_last_status TEXT,
    backup_last_success_at BIGINT,
    backup_size_bytes BIGINT,
    backup_message TEXT,
    storage_allocated_bytes BIGINT,
    storage_used_bytes BIGINT,
    storage_free_percent DOUBLE PRECISION,
    storage_type TEXT,
    storage_mount_path TEXT,
    storage_reported_at BIGINT,
    used_by TEXT NOT NULL DEFAULT '[]',
    UNIQUE (organization, node_id, name)
);
CREATE INDEX services_sla_group ON services (sla_group_id);
CREATE INDEX services_stale ON services (stale_watch, stale_stage, last_real_at);

-- Every observation: real ones (health reports, probe results) and the
-- synthetic stale marks. Raw observations are pruned by retention.
CREATE TABLE observations (
    id {{id_primary_key}},
    service_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status TEXT NOT NULL,
    cause TEXT NOT NULL,
    message TEXT,
    received_at BIGINT NOT NULL
);
CREATE INDEX observations_service_at ON observations (service_id, at);
CREATE INDEX observations_at ON observations (at);

-- The status timeline: every change of status, at its event time.
CREATE TABLE transitions (
    id {{id_primary_key}},
    service_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    cause TEXT NOT NULL
);
CREATE INDEX transitions_service_at ON transitions (service_id, at);
CREATE INDEX transitions_at ON transitions (at);

CREATE TABLE backup_reports (
    id {{id_primary_key}},
    service_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status TEXT NOT NULL,
    size_bytes BIGINT,
    message TEXT,
    scope TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX backup_reports_service_at ON backup_reports (service_id, at);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    organization TEXT,
    role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    watch_since BIGINT NOT NULL
);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
