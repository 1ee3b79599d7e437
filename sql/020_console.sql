-- 020: what the web console (al-console, docs/console.md) reads.
--
-- 1. A change marker. The console tells open pages "something changed" within
--    a second or two. A NOTIFY per status change would serialise every commit
--    of the line on the notify queue's lock, so the tables bump a sequence
--    once per statement instead (nextval is not transactional and takes no
--    lock that writers share), and the console polls its last_value.
-- 2. al.job_items: a job's items as the seed's detail window lists them.
-- 3. Indexes for sorting processes by destination and for a job's failed
--    items, and al.rcps_search for the free-text search.

CREATE SEQUENCE al.change_marker;
COMMENT ON SEQUENCE al.change_marker IS
  'Bumped once per statement that changes JOBS, TRNS, RCPS or BCHS; al-console polls last_value to tell pages to refetch';

CREATE FUNCTION al.bump_change_marker() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  PERFORM nextval('al.change_marker');
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_change_marker AFTER INSERT OR UPDATE OR DELETE ON al.jobs
  FOR EACH STATEMENT EXECUTE FUNCTION al.bump_change_marker();
CREATE TRIGGER trns_change_marker AFTER INSERT OR UPDATE OR DELETE ON al.trns
  FOR EACH STATEMENT EXECUTE FUNCTION al.bump_change_marker();
CREATE TRIGGER rcps_change_marker AFTER INSERT OR UPDATE OR DELETE ON al.rcps
  FOR EACH STATEMENT EXECUTE FUNCTION al.bump_change_marker();
CREATE TRIGGER bchs_change_marker AFTER INSERT OR UPDATE OR DELETE ON al.bchs
  FOR EACH STATEMENT EXECUTE FUNCTION al.bump_change_marker();

GRANT SELECT ON al.change_marker TO al_integrator, al_admin;

-- The state word of one item in the seed's detail window: pending (not yet
-- created: no recipient row yet), open (created, delivery pending),
-- successful, failed, skipped manually, cancelled, excluded, deleted.
CREATE FUNCTION al.item_state(job_deleted boolean, code int, error text, has_recipient boolean)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN job_deleted THEN 'deleted'
    WHEN code = 888 AND error LIKE 'skipped manually%' THEN 'skipped manually'
    WHEN code = 888 THEN 'cancelled'
    WHEN code IN (241, 341, 541, 641) THEN 'failed'
    WHEN code = 388 THEN 'excluded'
    WHEN code = 999 THEN 'successful'
    WHEN has_recipient THEN 'open'
    ELSE 'pending' END
$$;
COMMENT ON FUNCTION al.item_state(boolean, int, text, boolean) IS
  'The state word of a job item (seed serial-jobs-overview.txt): pending, open, successful, failed, skipped manually, cancelled, excluded, deleted';
GRANT EXECUTE ON FUNCTION al.item_state(boolean, int, text, boolean) TO al_integrator, al_admin;

-- One row per recipient, or per record that has none (it failed or was
-- cancelled before the distributor made any). Page by (record_no, rcp_id).
CREATE VIEW al.job_items AS
SELECT t.job_id,
       t.seq AS record_no,
       t.trn_id,
       r.rcp_id,
       r.address AS recipient,
       r.channel,
       coalesce(r.status_changed_at, t.status_changed_at) AS last_attempt,
       coalesce(r.attempt, t.attempt) AS attempt,
       coalesce(r.rcpstatus, t.trnstatus) AS code,
       s.name AS status_name,
       al.item_state(j.deleted_at IS NOT NULL, coalesce(r.rcpstatus, t.trnstatus),
                     coalesce(r.error, t.error), r.rcp_id IS NOT NULL) AS state,
       coalesce(r.post_error, r.archive_error, r.error, t.error) AS error
FROM al.trns t
JOIN al.jobs j ON j.job_id = t.job_id
LEFT JOIN al.rcps r ON r.trn_id = t.trn_id
LEFT JOIN al.status_codes s ON s.object = CASE WHEN r.rcp_id IS NULL THEN 'TRNS' ELSE 'RCPS' END
                           AND s.code = coalesce(r.rcpstatus, t.trnstatus);
COMMENT ON VIEW al.job_items IS
  'A job''s items for the console''s detail window: recipient, channel, last attempt, state word, error';
GRANT SELECT ON al.job_items TO al_integrator, al_admin;

-- Sorting and paging the processes list by destination walks this index.
CREATE INDEX rcps_address ON al.rcps (address, rcp_id);
-- A job's failed recipients, for its "failed" items without reading the
-- whole job. rcpstatus is in partial-index predicates already, so this
-- costs an index entry only when a recipient fails.
CREATE INDEX rcps_job_failed ON al.rcps (job_id, trn_id) WHERE rcpstatus IN (341, 541, 641);

-- An operator's action on a job, for al.status_history: retry and skip change
-- items, not always the job, so the job's own history would not show who
-- pressed the button. The row keeps the job's code (old = new) and says what.
CREATE FUNCTION al.record_action(p_job_id bigint, p_action text, p_items int) RETURNS void LANGUAGE sql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'JOBS', j.job_id, j.jobstatus, j.jobstatus, al.actor(), p_action || ': ' || p_items || ' items'
  FROM al.jobs j WHERE j.job_id = p_job_id
$$;
COMMENT ON FUNCTION al.record_action(bigint, text, int) IS
  'Records an admin action on a job (who, what, how many items) in al.status_history';
GRANT EXECUTE ON FUNCTION al.record_action(bigint, text, int) TO al_admin;

-- The free-text search of the processes list: each recipient's destination
-- and record, written once when the recipient is made, with a trigram index
-- (pg_trgm ships with PostgreSQL and is a trusted extension). A trigram index
-- on al.rcps or al.trns themselves would be written again at every status
-- change, since those updates are not HOT: bench/throughput -n 10000 --runs 3
-- took 11.3 s with trigram indexes on rcps.address and trns.data, 6.3 s with
-- this insert-only table instead (6.5 s without either).
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE TABLE al.rcps_search (
  rcp_id bigint PRIMARY KEY REFERENCES al.rcps ON DELETE CASCADE,
  text   text NOT NULL
);
COMMENT ON TABLE al.rcps_search IS
  'What the console''s free text searches: a recipient''s destination and record fields, written once per recipient';
CREATE INDEX rcps_search_trgm ON al.rcps_search USING gin (text public.gin_trgm_ops);
GRANT SELECT ON al.rcps_search TO al_integrator, al_admin;

CREATE FUNCTION al.rcps_search_after_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  INSERT INTO al.rcps_search (rcp_id, text)
  SELECT n.rcp_id, n.address || E'\n' || t.data::text
  FROM new_rcps n JOIN al.trns t ON t.trn_id = n.trn_id;
  RETURN NULL;
END $$;
CREATE TRIGGER rcps_search_after_insert AFTER INSERT ON al.rcps
  REFERENCING NEW TABLE AS new_rcps FOR EACH STATEMENT EXECUTE FUNCTION al.rcps_search_after_insert();
-- The recipients made before this migration.
INSERT INTO al.rcps_search (rcp_id, text)
SELECT r.rcp_id, r.address || E'\n' || t.data::text FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id;
