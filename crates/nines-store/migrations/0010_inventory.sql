-- nines schema, version 10: cluster registrations and the inventory the
-- operator reports (images, deployed apps, hosts).

CREATE TABLE clusters (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    workspace TEXT NOT NULL,
    name TEXT NOT NULL,
    node_id TEXT NOT NULL,
    api_server_url TEXT,
    kubernetes_version TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization, workspace)
);

CREATE TABLE inventory_items (
    id {{id_primary_key}},
    organization TEXT NOT NULL,
    node_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (organization, node_id, kind, item_key)
);
CREATE INDEX inventory_items_kind ON inventory_items (organization, kind);
