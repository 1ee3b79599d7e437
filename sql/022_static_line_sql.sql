-- 022: the line functions run static SQL.
--
-- al.claim, al.ack, al.lock_owned and al.finish built their statement with
-- format() and ran it with EXECUTE, so PostgreSQL parsed and planned it again
-- on every call. On an idle database (pgbench, one client) that overhead was
-- most of a call: an empty claim took 0.79 ms, an empty ack 0.58 ms, against
-- 0.15 ms for SELECT 1. Every hop of a record pays for a claim, an ack, a lock
-- and a finish, so it added up to a large share of a one-record job's latency.
--
-- The bodies are now written out per table (JOBS, TRNS, BCHS), which lets
-- PL/pgSQL keep their plans. Each ready-state test repeats the ready index's
-- predicate as a literal list (`t.trnstatus IN (211, 311)`): the status is a
-- variable, and without the list a cached generic plan could not prove that
-- the partial index applies. The behaviour is that of 003, 008, 018 and 021.

CREATE OR REPLACE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  v_ready int := s.hundreds * 100 + 11;
  v_scheduled int := s.hundreds * 100 + 21;
  v_held bigint[];
BEGIN
  -- First a suspect (acknowledged before, never finished), alone; else up to
  -- p_limit items in id order (jobs: by priority).
  IF s.tbl = 'jobs' THEN
    RETURN QUERY
      WITH c AS (SELECT j.job_id FROM al.jobs j WHERE j.jobstatus = 111 AND NOT j.held AND j.tries > 0
                 ORDER BY j.job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
      UPDATE al.jobs t SET jobstatus = 121, worker = p_worker, status_changed_at = now()
      FROM c WHERE t.job_id = c.job_id RETURNING t.job_id, t.attempt;
    IF FOUND THEN RETURN; END IF;
    RETURN QUERY
      WITH c AS (SELECT j.job_id FROM al.jobs j WHERE j.jobstatus = 111 AND NOT j.held
                 ORDER BY j.priority DESC, j.job_id LIMIT p_limit FOR UPDATE SKIP LOCKED)
      UPDATE al.jobs t SET jobstatus = 121, worker = p_worker, status_changed_at = now()
      FROM c WHERE t.job_id = c.job_id RETURNING t.job_id, t.attempt;
    RETURN;
  END IF;
  -- Held jobs are few (a partial index finds them); see 018 for why they are
  -- passed as an array rather than joined.
  v_held := ARRAY(SELECT j.job_id FROM al.jobs j WHERE j.held);
  IF s.tbl = 'trns' THEN
    RETURN QUERY
      WITH c AS (SELECT r.trn_id FROM al.trns r
                 WHERE r.trnstatus = v_ready AND r.trnstatus IN (211, 311) AND r.tries > 0 AND r.job_id <> ALL (v_held)
                 ORDER BY r.trn_id LIMIT 1 FOR UPDATE OF r SKIP LOCKED)
      UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
      FROM c WHERE t.trn_id = c.trn_id RETURNING t.trn_id, t.attempt;
    IF FOUND THEN RETURN; END IF;
    RETURN QUERY
      WITH c AS (SELECT r.trn_id FROM al.trns r
                 WHERE r.trnstatus = v_ready AND r.trnstatus IN (211, 311) AND r.job_id <> ALL (v_held)
                 ORDER BY r.trn_id LIMIT p_limit FOR UPDATE OF r SKIP LOCKED)
      UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
      FROM c WHERE t.trn_id = c.trn_id RETURNING t.trn_id, t.attempt;
    RETURN;
  END IF;
  -- Batches: the publisher's throttle holds a batch back until not_before.
  RETURN QUERY
    WITH c AS (SELECT b.bch_id FROM al.bchs b
               WHERE b.bchstatus = v_ready AND b.bchstatus IN (411, 511, 611, 711) AND b.tries > 0
                 AND (b.not_before IS NULL OR b.not_before <= now()) AND b.job_id <> ALL (v_held)
               ORDER BY b.bch_id LIMIT 1 FOR UPDATE OF b SKIP LOCKED)
    UPDATE al.bchs t SET bchstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    FROM c WHERE t.bch_id = c.bch_id RETURNING t.bch_id, t.attempt;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY
    WITH c AS (SELECT b.bch_id FROM al.bchs b
               WHERE b.bchstatus = v_ready AND b.bchstatus IN (411, 511, 611, 711)
                 AND (b.not_before IS NULL OR b.not_before <= now()) AND b.job_id <> ALL (v_held)
               ORDER BY b.bch_id LIMIT p_limit FOR UPDATE OF b SKIP LOCKED)
    UPDATE al.bchs t SET bchstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    FROM c WHERE t.bch_id = c.bch_id RETURNING t.bch_id, t.attempt;
END $$;

CREATE OR REPLACE FUNCTION al.ack(p_stage text, p_ids bigint[], p_attempts int[], p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  v_scheduled int := s.hundreds * 100 + 21;
  v_processing int := s.hundreds * 100 + 31;
BEGIN
  IF s.tbl = 'jobs' THEN
    RETURN QUERY
      UPDATE al.jobs t SET jobstatus = v_processing, worker = p_worker, tries = t.tries + 1, status_changed_at = now()
      FROM unnest(p_ids, p_attempts) AS a(item, att)
      WHERE t.job_id = a.item AND t.attempt = a.att AND t.jobstatus = v_scheduled
      RETURNING t.job_id, t.attempt;
  ELSIF s.tbl = 'trns' THEN
    RETURN QUERY
      UPDATE al.trns t SET trnstatus = v_processing, worker = p_worker, tries = t.tries + 1, status_changed_at = now()
      FROM unnest(p_ids, p_attempts) AS a(item, att)
      WHERE t.trn_id = a.item AND t.attempt = a.att AND t.trnstatus = v_scheduled
      RETURNING t.trn_id, t.attempt;
  ELSE
    RETURN QUERY
      UPDATE al.bchs t SET bchstatus = v_processing, worker = p_worker, tries = t.tries + 1, status_changed_at = now()
      FROM unnest(p_ids, p_attempts) AS a(item, att)
      WHERE t.bch_id = a.item AND t.attempt = a.att AND t.bchstatus = v_scheduled
      RETURNING t.bch_id, t.attempt;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION al.lock_owned(p_stage text, p_ids bigint[], p_attempts int[])
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  v_processing int := s.hundreds * 100 + 31;
BEGIN
  IF s.tbl = 'jobs' THEN
    RETURN QUERY
      SELECT t.job_id, t.attempt FROM al.jobs t
      JOIN unnest(p_ids, p_attempts) AS a(item, att) ON t.job_id = a.item AND t.attempt = a.att
      WHERE t.jobstatus = v_processing ORDER BY t.job_id FOR UPDATE OF t;
  ELSIF s.tbl = 'trns' THEN
    RETURN QUERY
      SELECT t.trn_id, t.attempt FROM al.trns t
      JOIN unnest(p_ids, p_attempts) AS a(item, att) ON t.trn_id = a.item AND t.attempt = a.att
      WHERE t.trnstatus = v_processing ORDER BY t.trn_id FOR UPDATE OF t;
  ELSE
    RETURN QUERY
      SELECT t.bch_id, t.attempt FROM al.bchs t
      JOIN unnest(p_ids, p_attempts) AS a(item, att) ON t.bch_id = a.item AND t.attempt = a.att
      WHERE t.bchstatus = v_processing ORDER BY t.bch_id FOR UPDATE OF t;
  END IF;
END $$;

CREATE OR REPLACE FUNCTION al.finish(p_stage text, p_ids bigint[], p_attempts int[], p_ok boolean[], p_errors text[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  -- TRNS go straight on to the step after 290 / 390 (021).
  v_ok int := CASE s.done_code WHEN 290 THEN 301 WHEN 390 THEN 401 ELSE s.done_code END;
  v_failed int := s.hundreds * 100 + 41;
  v_processing int := s.hundreds * 100 + 31;
  n int;
BEGIN
  IF s.tbl = 'jobs' THEN
    UPDATE al.jobs t SET jobstatus = CASE WHEN a.ok THEN v_ok ELSE v_failed END,
                         error = CASE WHEN a.ok THEN NULL ELSE a.err END,
                         tries = CASE WHEN a.ok THEN 0 ELSE t.tries END,
                         status_changed_at = now()
    FROM unnest(p_ids, p_attempts, p_ok, p_errors) AS a(item, att, ok, err)
    WHERE t.job_id = a.item AND t.attempt = a.att AND t.jobstatus = v_processing;
  ELSIF s.tbl = 'trns' THEN
    UPDATE al.trns t SET trnstatus = CASE WHEN a.ok THEN v_ok ELSE v_failed END,
                         error = CASE WHEN a.ok THEN NULL ELSE a.err END,
                         tries = CASE WHEN a.ok THEN 0 ELSE t.tries END,
                         status_changed_at = now()
    FROM unnest(p_ids, p_attempts, p_ok, p_errors) AS a(item, att, ok, err)
    WHERE t.trn_id = a.item AND t.attempt = a.att AND t.trnstatus = v_processing;
  ELSE
    UPDATE al.bchs t SET bchstatus = CASE WHEN a.ok THEN v_ok ELSE v_failed END,
                         error = CASE WHEN a.ok THEN NULL ELSE a.err END,
                         tries = CASE WHEN a.ok THEN 0 ELSE t.tries END,
                         status_changed_at = now()
    FROM unnest(p_ids, p_attempts, p_ok, p_errors) AS a(item, att, ok, err)
    WHERE t.bch_id = a.item AND t.attempt = a.att AND t.bchstatus = v_processing;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

-- Recipients lose their foreign key to batches, as publications did in 021.
-- al.form_batches assigns every recipient of a job its batch in one UPDATE,
-- and each row paid a FOR KEY SHARE check on its batch: 100 ms of the step's
-- 1 s for 10 000 recipients (auto_explain, bench/throughput -n 10000), while
-- the rest of the line waits for the batches. ON DELETE SET NULL never fired:
-- batches are deleted only by retention (006), after their job's recipients.
ALTER TABLE al.rcps DROP CONSTRAINT rcps_bch_id_fkey;
COMMENT ON COLUMN al.rcps.bch_id IS
  'The batch of this recipient; not a foreign key (sql/022): set only by al.form_batches, cleared by a retry';

-- A distributor's transaction holds its job's row from the recipients'
-- roll-up (the job's counters) until it commits, and the other distributor
-- waits for it. AFTER triggers of one event fire in name order, so the
-- console's search rows (20-45 ms per 500 recipients) were written after the
-- roll-up, with the job's row locked. The roll-up now fires last, as
-- jobs_zz_close_automatically does on al.jobs.
ALTER TRIGGER rcps_after_insert ON al.rcps RENAME TO rcps_zz_after_insert;
