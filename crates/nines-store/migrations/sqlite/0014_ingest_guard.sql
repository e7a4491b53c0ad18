-- The batched ingest path on SQLite keeps the live state of the services it
-- writes in memory and plans each batch from it. Its UPDATE of the services
-- matches only rows whose live state is still the remembered one, and then
-- inserts `changes() = expected` here: a mismatch (some other write changed
-- or deleted a service) aborts the whole transaction, and the batch is
-- planned again from the stored rows. A match writes nothing.
CREATE VIEW ingest_guard AS SELECT 1 AS ok;
CREATE TRIGGER ingest_guard_check INSTEAD OF INSERT ON ingest_guard
WHEN NOT NEW.ok
BEGIN
    SELECT RAISE(ABORT, 'ingest guard: live state changed');
END;
