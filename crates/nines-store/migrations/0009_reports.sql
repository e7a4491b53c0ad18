-- nines schema, version 9: the daily SLA reports.

-- One row per organization and report day. A scheduled run first claims the
-- row ('claimed', with who and when), so several replicas make a day's report
-- once; the row turns 'done' with the files' paths when they are on disk.
CREATE TABLE sla_reports (
    organization TEXT NOT NULL,
    report_date TEXT NOT NULL,
    state TEXT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    generated_at BIGINT,
    json_path TEXT,
    pdf_path TEXT,
    json_bytes BIGINT,
    pdf_bytes BIGINT,
    pushed_at BIGINT,
    push_error TEXT,
    PRIMARY KEY (organization, report_date)
);
CREATE INDEX sla_reports_date ON sla_reports (report_date);
