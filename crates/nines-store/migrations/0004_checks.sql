-- nines schema, version 4: active checks, their per-location state, and
-- their failures.

CREATE TABLE checks (
    id TEXT PRIMARY KEY,
    service_id BIGINT NOT NULL,
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    locations TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX checks_service ON checks (service_id);

CREATE TABLE check_states (
    check_id TEXT NOT NULL,
    location TEXT NOT NULL,
    status TEXT NOT NULL,
    failures BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    last_outcome TEXT NOT NULL,
    last_message TEXT NOT NULL,
    PRIMARY KEY (check_id, location)
);

CREATE TABLE check_failures (
    id {{id_primary_key}},
    check_id TEXT NOT NULL,
    location TEXT NOT NULL,
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error_kind TEXT,
    message TEXT NOT NULL,
    http_status BIGINT,
    total_ms DOUBLE PRECISION
);
CREATE INDEX check_failures_check_at ON check_failures (check_id, at);
CREATE INDEX check_failures_at ON check_failures (at);
