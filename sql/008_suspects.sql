-- 008: a poison item must not take its batch-mates down with it, and
-- max_attempts counts the tries of one stage, not of the item's whole life.
--
-- `tries` counts acknowledgements. Until now it was never reset when an item
-- finished a stage, so a batch at the notifier had used up three of its tries
-- at the presenter, archiver and publisher. al.finish now resets it on success.
--
-- A ready item with tries > 0 was acknowledged before and never finished: its
-- worker died or timed out holding it. Such a *suspect* may be what killed the
-- worker, so al.claim sends suspects one per message. Innocent batch-mates
-- then finish on their own and the poison item alone uses up max_attempts.

-- CREATE OR REPLACE resets a function's attributes: both stay SECURITY
-- DEFINER with a fixed search_path, as 007 made them.
CREATE OR REPLACE FUNCTION al.finish(p_stage text, p_ids bigint[], p_attempts int[], p_ok boolean[], p_errors text[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = CASE WHEN a.ok THEN $3 ELSE $4 END,
                          error = CASE WHEN a.ok THEN NULL ELSE a.err END,
                          tries = CASE WHEN a.ok THEN 0 ELSE t.tries END,
                          status_changed_at = now()
     FROM unnest($1::bigint[], $2::int[], $6::boolean[], $7::text[]) AS a(id, att, ok, err)
     WHERE t.%2$I = a.id AND t.attempt = a.att AND t.%3$I = $5',
    s.tbl, s.id_col, s.status_col)
    USING p_ids, p_attempts, s.done_code, s.hundreds * 100 + 41, s.hundreds * 100 + 31, p_ok, p_errors;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.finish(text, bigint[], int[], boolean[], text[]) IS
  'Worker: writes outcomes fenced by (id, x31, attempt): processed (x90; JOBS 211, tries reset for the next stage) or error (x41 with error); returns rows written';

-- Suspects are rare, so these indexes stay tiny and the extra probe in
-- al.claim costs one index lookup.
CREATE INDEX jobs_suspect ON al.jobs (job_id) WHERE tries > 0 AND jobstatus = 111;
CREATE INDEX trns_suspect ON al.trns (trnstatus, trn_id) WHERE tries > 0 AND trnstatus IN (211, 311);
CREATE INDEX bchs_suspect ON al.bchs (bchstatus, bch_id) WHERE tries > 0 AND bchstatus IN (411, 511, 611, 711);

CREATE OR REPLACE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  extra text := CASE WHEN s.tbl = 'bchs' THEN 'AND (t.not_before IS NULL OR t.not_before <= now())' ELSE '' END;
BEGIN
  IF s.tbl = 'jobs' THEN
    RETURN QUERY EXECUTE
      'WITH c AS (SELECT job_id FROM al.jobs WHERE jobstatus = 111 AND NOT held AND tries > 0
                  ORDER BY job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
       UPDATE al.jobs t SET jobstatus = 121, worker = $1, status_changed_at = now()
       FROM c WHERE t.job_id = c.job_id RETURNING t.job_id, t.attempt'
      USING p_worker;
    IF FOUND THEN RETURN; END IF;
    RETURN QUERY EXECUTE
      'WITH c AS (SELECT job_id FROM al.jobs WHERE jobstatus = 111 AND NOT held
                  ORDER BY priority DESC, job_id LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE al.jobs t SET jobstatus = 121, worker = $2, status_changed_at = now()
       FROM c WHERE t.job_id = c.job_id RETURNING t.job_id, t.attempt'
      USING p_limit, p_worker;
    RETURN;
  END IF;
  -- First pass: one suspect, alone. Second pass: up to p_limit items in id order.
  FOR suspects IN 0 .. 1 LOOP
    RETURN QUERY EXECUTE format(
      'WITH c AS (SELECT t.%2$I AS id FROM al.%1$I t
                  WHERE t.%3$I = $1 %4$s %5$s
                    AND NOT EXISTS (SELECT 1 FROM al.jobs j WHERE j.job_id = t.job_id AND j.held)
                  ORDER BY t.%2$I LIMIT $2 FOR UPDATE OF t SKIP LOCKED)
       UPDATE al.%1$I t SET %3$I = $3, worker = $4, status_changed_at = now()
       FROM c WHERE t.%2$I = c.id RETURNING t.%2$I, t.attempt',
      s.tbl, s.id_col, s.status_col, extra, CASE WHEN suspects = 0 THEN 'AND t.tries > 0' ELSE '' END)
      USING s.hundreds * 100 + 11, CASE WHEN suspects = 0 THEN 1 ELSE p_limit END, s.hundreds * 100 + 21, p_worker;
    IF FOUND THEN RETURN; END IF;
  END LOOP;
END $$;
COMMENT ON FUNCTION al.claim(text, int, text) IS
  'Scheduler: moves up to p_limit ready items of a stage to scheduled (x11 → x21) for p_worker; a suspect (acknowledged before, never finished) is claimed alone. Returns (id, attempt)';
