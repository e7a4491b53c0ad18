-- Each source of a service keeps its own state: the push source (with its
-- stale marks), the checks and the operator's sync. The service's status is
-- the worst of its live sources (nines_core::timeline). Existing services
-- start from their latest stored observation of each source.
ALTER TABLE services ADD COLUMN push_at BIGINT;
ALTER TABLE services ADD COLUMN push_status TEXT;
ALTER TABLE services ADD COLUMN checks_status TEXT;
ALTER TABLE services ADD COLUMN operator_status TEXT;

UPDATE services SET
    push_at = (SELECT MAX(o.at) FROM observations o WHERE o.service_id = services.id AND o.cause = 'report'),
    push_status = (SELECT o.status FROM observations o WHERE o.service_id = services.id
                   AND o.cause IN ('report', 'stale') ORDER BY o.at DESC, o.id DESC LIMIT 1),
    checks_status = (SELECT o.status FROM observations o WHERE o.service_id = services.id
                     AND o.cause = 'probe' ORDER BY o.at DESC, o.id DESC LIMIT 1),
    operator_status = (SELECT o.status FROM observations o WHERE o.service_id = services.id
                       AND o.cause = 'operator' ORDER BY o.at DESC, o.id DESC LIMIT 1);

-- Every transition carries its reason: the report's message, the check's
-- failure in words, or the silence that made a push source stale.
ALTER TABLE transitions ADD COLUMN reason TEXT;
