-- nines schema, version 8: notification channels (config sealed with the
-- server's key), routes, events (one row per event, unique dedup key),
-- conditions currently raised, deliveries (event x channel, claimed in the
-- database) and every delivery attempt.

CREATE TABLE notify_channels (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config_sealed TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization, name)
);

CREATE TABLE notify_routes (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    position BIGINT NOT NULL,
    rule TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX notify_routes_org ON notify_routes (organization, position);

CREATE TABLE notify_events (
    id {{id_primary_key}},
    dedup_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    organization TEXT NOT NULL,
    payload TEXT NOT NULL,
    at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    routed_at BIGINT
);
CREATE INDEX notify_events_unrouted ON notify_events (routed_at, id);

CREATE TABLE notify_conditions (
    key TEXT PRIMARY KEY,
    organization TEXT NOT NULL,
    kind TEXT NOT NULL,
    since BIGINT NOT NULL
);

CREATE TABLE notify_deliveries (
    id {{id_primary_key}},
    event_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    organization TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim_token TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (event_id, channel_id)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, next_attempt_at);

CREATE TABLE notify_attempts (
    id {{id_primary_key}},
    delivery_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    status_code BIGINT,
    error TEXT,
    next_attempt_at BIGINT,
    replica TEXT NOT NULL,
    UNIQUE (delivery_id, attempt)
);
