-- Who did what, when: every write through the API or the dashboard by a
-- person's or a machine's key (telemetry pushes excepted), with the outcome.
-- `organization` is the caller's scope ('*' for every organization).
CREATE TABLE audit_log (
    id {{id_primary_key}},
    at BIGINT NOT NULL,
    key_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    organization TEXT NOT NULL,
    role TEXT NOT NULL,
    via TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status BIGINT NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (organization, id);
