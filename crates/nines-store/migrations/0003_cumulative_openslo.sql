-- nines schema, version 3: running totals of daily results (a window's sum
-- is two rows per service) and OpenSLO objectives.

ALTER TABLE period_results ADD COLUMN cum_operational_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE period_results ADD COLUMN cum_degraded_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE period_results ADD COLUMN cum_down_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE period_results ADD COLUMN cum_maintenance_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE period_results ADD COLUMN cum_unknown_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE period_results ADD COLUMN cum_absent_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN slo_name TEXT;
ALTER TABLE services ADD COLUMN slo_budgeting TEXT;
ALTER TABLE services ADD COLUMN slo_slice_ms BIGINT;
ALTER TABLE services ADD COLUMN slo_slice_target DOUBLE PRECISION;
ALTER TABLE services ADD COLUMN slo_calendar_month BIGINT NOT NULL DEFAULT 0;

-- Window edges read (at, service, new status) straight from the index.
DROP INDEX transitions_at;
CREATE INDEX transitions_at_cover ON transitions (at, service_id, to_status);
