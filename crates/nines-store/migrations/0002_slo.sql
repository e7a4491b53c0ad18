-- nines schema, version 2: the SLO engine.

ALTER TABLE services ADD COLUMN last_mark_at BIGINT;
ALTER TABLE services ADD COLUMN slo_target DOUBLE PRECISION;
ALTER TABLE services ADD COLUMN sla_target DOUBLE PRECISION;
ALTER TABLE services ADD COLUMN slo_window_days BIGINT;
ALTER TABLE services ADD COLUMN degraded_counts TEXT;
ALTER TABLE services ADD COLUMN unknown_counts TEXT;
ALTER TABLE sla_groups ADD COLUMN updated_at BIGINT;

-- Time per status of each service for each UTC day and month, written once
-- the period plus the settle delay has passed; rewritten when a late
-- observation changes a finished period.
CREATE TABLE period_results (
    service_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    operational_ms BIGINT NOT NULL,
    degraded_ms BIGINT NOT NULL,
    down_ms BIGINT NOT NULL,
    maintenance_ms BIGINT NOT NULL,
    unknown_ms BIGINT NOT NULL,
    absent_ms BIGINT NOT NULL,
    start_status TEXT NOT NULL,
    end_status TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (service_id, kind, start_at)
);
CREATE INDEX period_results_kind_start ON period_results (kind, start_at, service_id);

-- Services whose finished periods must be recomputed from an instant on.
CREATE TABLE period_dirty (
    service_id BIGINT PRIMARY KEY,
    from_at BIGINT NOT NULL
);

CREATE TABLE system_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Burn-rate alerts currently raised, per object and severity.
CREATE TABLE slo_alerts (
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    organization TEXT NOT NULL,
    since BIGINT NOT NULL,
    PRIMARY KEY (object_kind, object_id, severity)
);

-- Events other parts consume (notifications): raised and cleared alerts.
CREATE TABLE events (
    id {{id_primary_key}},
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    organization TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);
