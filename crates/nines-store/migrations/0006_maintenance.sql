-- nines schema, version 6: maintenance windows.

CREATE TABLE maintenance_windows (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    service_ids TEXT NOT NULL DEFAULT '[]',
    sla_groups TEXT NOT NULL DEFAULT '[]',
    node_ids TEXT NOT NULL DEFAULT '[]',
    starts_at BIGINT,
    ends_at BIGINT,
    cron TEXT,
    duration_minutes BIGINT,
    time_zone TEXT,
    counts_towards_sla BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX maintenance_windows_org ON maintenance_windows (organization);
