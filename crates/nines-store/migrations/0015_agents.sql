-- Remote agents (`nines agent`), one row per organization and location:
-- what they run, what they hold, and when each was last heard from. The
-- leader's silence check reads `last_seen`; `organization` is the agent
-- key's organization, '*' for a key of every organization.
CREATE TABLE agents (
    organization TEXT NOT NULL,
    location TEXT NOT NULL,
    version TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    checks_assigned BIGINT NOT NULL DEFAULT 0,
    results_buffered BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (organization, location)
);
