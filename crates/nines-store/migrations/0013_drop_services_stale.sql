-- The stale detector scans the services once a minute; an index on the
-- columns every health report rewrites (last_real_at) cost each report a
-- delete and an insert in it, far more than the scan it saved.
DROP INDEX IF EXISTS services_stale;
