-- nines schema, version 11: what the public status page shows.

-- Groups of the public page (the status-service seed's groups). Members are
-- named by (nodeId, service) and joined to services when read, so a group
-- may name a service before it is first seen.
CREATE TABLE status_groups (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    position BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization, name)
);

CREATE TABLE status_group_services (
    group_id BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    service TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    position BIGINT NOT NULL,
    PRIMARY KEY (group_id, node_id, service)
);

-- Services marked public one by one; they show in their organization's
-- group "Default".
CREATE TABLE public_services (
    service_id BIGINT PRIMARY KEY,
    organization TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL
);

-- The page's cache reads day results changed since its last look.
CREATE INDEX period_results_computed ON period_results (computed_at);
