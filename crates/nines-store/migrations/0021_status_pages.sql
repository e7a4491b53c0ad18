-- nines schema, version 21: status pages per organization, public incident
-- updates, and the pages' subscribers.

-- A status page: an organization's (its public groups, or some of them), or
-- one across organizations (organization NULL, the groups it lists).
-- `links` and `groups` are JSON arrays.
CREATE TABLE status_pages (
    id {{id_primary_key}},
    slug TEXT NOT NULL UNIQUE,
    organization TEXT,
    title TEXT NOT NULL,
    description TEXT,
    logo_url TEXT,
    links TEXT NOT NULL DEFAULT '[]',
    footer TEXT,
    custom_domain TEXT UNIQUE,
    is_default BIGINT NOT NULL DEFAULT 0,
    groups TEXT NOT NULL DEFAULT '[]',
    email_channel_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What a person tells the public about a downtime, newest last.
CREATE TABLE downtime_updates (
    id {{id_primary_key}},
    downtime_id BIGINT NOT NULL,
    organization TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX downtime_updates_downtime ON downtime_updates (downtime_id, id);

-- The public's name for a downtime (the internal title stays internal).
ALTER TABLE downtimes ADD COLUMN public_title TEXT;

-- A maintenance window's public face: shown on status pages only when set.
ALTER TABLE maintenance_windows ADD COLUMN public_title TEXT;
ALTER TABLE maintenance_windows ADD COLUMN public_description TEXT;

-- Subscribers of a page: email (confirmed by a link first) or webhook.
CREATE TABLE page_subscribers (
    id {{id_primary_key}},
    page_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    confirmed_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (page_id, kind, target)
);

-- Messages to subscribers, sent by the notifier with retries. A row is
-- written in the transaction of what caused it, so an acknowledged update
-- reaches its subscribers after a crash.
CREATE TABLE page_deliveries (
    id {{id_primary_key}},
    subscriber_id BIGINT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    sent_at BIGINT,
    failed_at BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX page_deliveries_due ON page_deliveries (sent_at, failed_at, next_at);
