-- SQLite's batched ingest path checks its remembered live states against
-- the stored rows through a guard view (its migration 0014). PostgreSQL
-- ingests through the general path with row locks and needs no guard; this
-- keeps the two migration lists in step.
SELECT 1;
