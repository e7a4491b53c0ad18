-- nines schema, version 5: downtimes, their members, log and notes;
-- activities (deployments, installs) for downtime timelines.

CREATE TABLE downtimes (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    classification TEXT,
    counts_towards_sla BIGINT NOT NULL DEFAULT 1,
    excluded_reason TEXT,
    started_at BIGINT NOT NULL,
    resolved_at BIGINT,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    response_due_at BIGINT NOT NULL,
    resolution_due_at BIGINT NOT NULL,
    timeline TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX downtimes_open ON downtimes (resolved_at, started_at);

CREATE TABLE downtime_members (
    downtime_id BIGINT NOT NULL,
    service_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    node_id TEXT NOT NULL,
    down BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    recovered_at BIGINT,
    PRIMARY KEY (downtime_id, service_id)
);

CREATE TABLE downtime_log (
    id {{id_primary_key}},
    downtime_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX downtime_log_downtime ON downtime_log (downtime_id, at);

CREATE TABLE notes (
    id {{id_primary_key}},
    downtime_id BIGINT,
    organization TEXT NOT NULL,
    author TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE activities (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    node_id TEXT,
    service TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX activities_at ON activities (organization, at);
