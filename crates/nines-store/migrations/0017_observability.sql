-- Observability accounting per organization (VictoriaLogs, VictoriaMetrics).
-- Rows are keyed by the label value the backends group by, not by the
-- organization: an organization's figures are the rows of its label value
-- (its name, or the override below), so an override or an organization that
-- appears later reads the history already sampled. Times are milliseconds.

-- Log lines and message bytes per label value and closed UTC hour.
CREATE TABLE obs_log_hours (
    label_value TEXT NOT NULL,
    hour BIGINT NOT NULL,
    lines BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (label_value, hour)
);
CREATE INDEX obs_log_hours_hour ON obs_log_hours (hour);
-- The hours a VictoriaLogs query answered in full: a label value without a
-- row there had no logs (zero); an hour missing here is a gap.
CREATE TABLE obs_log_covered (
    hour BIGINT PRIMARY KEY,
    sampled_at BIGINT NOT NULL
);

-- Active series per label value, summed over the hour's samples (one every
-- 5 minutes); the hour's average is series_sum / the hour's covered slots.
CREATE TABLE obs_series_hours (
    label_value TEXT NOT NULL,
    hour BIGINT NOT NULL,
    series_sum BIGINT NOT NULL,
    PRIMARY KEY (label_value, hour)
);
CREATE INDEX obs_series_hours_hour ON obs_series_hours (hour);
-- The 5-minute evaluation times VictoriaMetrics answered in full.
CREATE TABLE obs_series_slots (
    at BIGINT PRIMARY KEY,
    sampled_at BIGINT NOT NULL
);
-- The newest sample's counts ("current").
CREATE TABLE obs_series_latest (
    label_value TEXT PRIMARY KEY,
    series BIGINT NOT NULL,
    at BIGINT NOT NULL
);

-- Per backend ('logs', 'metrics'): the last success and the last error.
CREATE TABLE obs_backends (
    backend TEXT PRIMARY KEY,
    last_success BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    last_queries BIGINT,
    last_duration_ms BIGINT
);

-- An organization whose label value is not its name.
CREATE TABLE obs_label_overrides (
    organization TEXT PRIMARY KEY,
    logs_value TEXT,
    metrics_value TEXT,
    updated_at BIGINT NOT NULL
);
