-- 018: al.claim stays an index scan at any job size.
--
-- The claim skipped items of held jobs with NOT EXISTS (… j.held). On a job
-- of 1 000 000 records the planner, which cannot tell that the one job those
-- records belong to is not held, estimated that the anti-join left a single
-- row, and sorted all 666 000 ready records instead of reading the first 500
-- of the ready index: 1.1 s per claim of 500 (bench/scale, EXPLAIN ANALYZE),
-- O(job size) per claim. The held jobs are now looked up first (few, and a
-- partial index finds them) and passed as an array: with none held the
-- condition is plainly true and the plan is the ready index in id order.

CREATE INDEX jobs_held ON al.jobs (job_id) WHERE held;

CREATE OR REPLACE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  extra text := CASE WHEN s.tbl = 'bchs' THEN 'AND (t.not_before IS NULL OR t.not_before <= now())' ELSE '' END;
  held_jobs bigint[];
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
  held_jobs := ARRAY(SELECT j.job_id FROM al.jobs j WHERE j.held);
  -- First pass: one suspect, alone. Second pass: up to p_limit items in id order.
  FOR suspects IN 0 .. 1 LOOP
    RETURN QUERY EXECUTE format(
      'WITH c AS (SELECT t.%2$I AS id FROM al.%1$I t
                  WHERE t.%3$I = $1 %4$s %5$s AND t.job_id <> ALL ($5)
                  ORDER BY t.%2$I LIMIT $2 FOR UPDATE OF t SKIP LOCKED)
       UPDATE al.%1$I t SET %3$I = $3, worker = $4, status_changed_at = now()
       FROM c WHERE t.%2$I = c.id RETURNING t.%2$I, t.attempt',
      s.tbl, s.id_col, s.status_col, extra, CASE WHEN suspects = 0 THEN 'AND t.tries > 0' ELSE '' END)
      USING s.hundreds * 100 + 11, CASE WHEN suspects = 0 THEN 1 ELSE p_limit END, s.hundreds * 100 + 21, p_worker,
            held_jobs;
    IF FOUND THEN RETURN; END IF;
  END LOOP;
END $$;
COMMENT ON FUNCTION al.claim(text, int, text) IS
  'Scheduler: moves up to p_limit ready items of a stage to scheduled (x11 → x21) for p_worker, skipping items of held jobs; a suspect (acknowledged before, never finished) is claimed alone. Returns (id, attempt)';
REVOKE EXECUTE ON FUNCTION al.claim(text, int, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION al.claim(text, int, text) TO al_scheduler;
