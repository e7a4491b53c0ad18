-- What a notification event is about ('downtime:12', a condition's key):
-- deliveries to one channel about one subject go out in event order, a
-- later one waiting while an earlier one is still pending.
ALTER TABLE notify_events ADD COLUMN subject TEXT;
CREATE INDEX notify_events_subject ON notify_events (subject, id);
