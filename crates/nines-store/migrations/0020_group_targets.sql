-- An SLA group's own SLO and SLA targets (%), set in the dashboard or the
-- API; NULL: the group answers to its strictest member, as before.
ALTER TABLE sla_groups ADD COLUMN slo_target DOUBLE PRECISION;
ALTER TABLE sla_groups ADD COLUMN sla_target DOUBLE PRECISION;
