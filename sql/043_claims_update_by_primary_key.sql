-- 043: a claim updates the rows it picked through the primary key, whatever
-- the table's size.
--
-- Each claim picked its rows in a CTE (ready index, SKIP LOCKED, LIMIT) and
-- joined the CTE back to the table for the UPDATE. The planner chose that
-- join by its estimates: for al.bchs of a 1 000 000-record job (2 000
-- batches) a hash join over a sequential scan of the whole table, 2 000 rows
-- and 78 pages read for a claim of 100 (bench/scale's explain of
-- 2026-12-03 03:35, scale-20261203T033551.json); for al.jobs, which grows
-- with every job the line has kept, the same. Its cost grew with the table,
-- not with the claim.
--
-- Now the picked ids are collected into an array first (an InitPlan run
-- once, which takes the row locks) and the UPDATE finds them with
-- `= ANY (array)` on the primary key: one index probe per claimed row, the
-- plan independent of estimates. The rows are locked by the InitPlan, so
-- nothing changes them between the pick and the update. Otherwise al.claim
-- and al.claim_trns are sql/031's.

CREATE OR REPLACE FUNCTION al.claim_trns(p_hundreds int, p_limit int, p_worker text, p_held bigint[])
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql AS $$
DECLARE
  v_ready smallint := p_hundreds * 10 + 1;
  v_suspect smallint := p_hundreds * 10 + 2;
  v_scheduled int := p_hundreds * 100 + 21;
BEGIN
  RETURN QUERY
    UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    WHERE t.trn_id = ANY (ARRAY(SELECT r.trn_id FROM al.trns r
                                WHERE r.lane >= v_suspect AND r.lane <= v_suspect AND r.job_id <> ALL (p_held)
                                ORDER BY r.lane, r.trn_id LIMIT 1 FOR UPDATE OF r SKIP LOCKED))
    RETURNING t.trn_id, t.attempt;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY
    UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    WHERE t.trn_id = ANY (ARRAY(SELECT r.trn_id FROM al.trns r
                                WHERE r.lane >= v_ready AND r.lane <= v_ready AND r.job_id <> ALL (p_held)
                                ORDER BY r.lane, r.trn_id LIMIT p_limit FOR UPDATE OF r SKIP LOCKED))
    RETURNING t.trn_id, t.attempt;
END $$;

CREATE OR REPLACE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
      UPDATE al.jobs t SET jobstatus = 121, worker = p_worker, status_changed_at = now()
      WHERE t.job_id = ANY (ARRAY(SELECT j.job_id FROM al.jobs j WHERE j.jobstatus = 111 AND NOT j.held AND j.tries > 0
                                  ORDER BY j.job_id LIMIT 1 FOR UPDATE SKIP LOCKED))
      RETURNING t.job_id, t.attempt;
    IF FOUND THEN RETURN; END IF;
    RETURN QUERY
      UPDATE al.jobs t SET jobstatus = 121, worker = p_worker, status_changed_at = now()
      WHERE t.job_id = ANY (ARRAY(SELECT j.job_id FROM al.jobs j WHERE j.jobstatus = 111 AND NOT j.held
                                  ORDER BY j.priority DESC, j.job_id LIMIT p_limit FOR UPDATE SKIP LOCKED))
      RETURNING t.job_id, t.attempt;
    RETURN;
  END IF;
  -- Held jobs are few (a partial index finds them); see 018 for why they are
  -- passed as an array rather than joined.
  v_held := ARRAY(SELECT j.job_id FROM al.jobs j WHERE j.held);
  IF s.tbl = 'trns' THEN
    RETURN QUERY SELECT * FROM al.claim_trns(s.hundreds, p_limit, p_worker, v_held);
    RETURN;
  END IF;
  -- Batches: the publisher's throttle holds a batch back until not_before.
  RETURN QUERY
    UPDATE al.bchs t SET bchstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    WHERE t.bch_id = ANY (ARRAY(SELECT b.bch_id FROM al.bchs b
                                WHERE b.bchstatus = v_ready AND b.bchstatus IN (411, 511, 611, 711) AND b.tries > 0
                                  AND (b.not_before IS NULL OR b.not_before <= now()) AND b.job_id <> ALL (v_held)
                                ORDER BY b.bch_id LIMIT 1 FOR UPDATE OF b SKIP LOCKED))
    RETURNING t.bch_id, t.attempt;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY
    UPDATE al.bchs t SET bchstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    WHERE t.bch_id = ANY (ARRAY(SELECT b.bch_id FROM al.bchs b
                                WHERE b.bchstatus = v_ready AND b.bchstatus IN (411, 511, 611, 711)
                                  AND (b.not_before IS NULL OR b.not_before <= now()) AND b.job_id <> ALL (v_held)
                                ORDER BY b.bch_id LIMIT p_limit FOR UPDATE OF b SKIP LOCKED))
    RETURNING t.bch_id, t.attempt;
END $$;
