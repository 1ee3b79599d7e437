-- 019: batches of one job stop queueing behind each other on the job's row.
--
-- On a 1 000 000-record job the batch stages took 556 s for 2 000 batches,
-- and pg_stat_statements on a 100 000-record run showed why: a batch's
-- al.finish waited 224 ms on average, most of it for the job's row. The
-- roll-up trigger bumped the job's counters (FOR UPDATE, held to commit)
-- before it carried the batch's 500 publications and recipients along, and
-- the foreign-key check of every batch update made in the same transaction
-- (FOR KEY SHARE on the job) waited for that FOR UPDATE: 1 401 checks, 58 s.
--
-- BCHS.job_id loses its foreign key like TRNS and RCPS did in sql/016
-- (batches are created only by al.form_batches for the job it has locked,
-- and jobs are never deleted), and the trigger bumps the job last.

ALTER TABLE al.bchs DROP CONSTRAINT bchs_job_id_fkey;
COMMENT ON COLUMN al.bchs.job_id IS
  'The job of this batch; not a foreign key (sql/019): created only by al.form_batches for the job it holds';

CREATE OR REPLACE FUNCTION al.bchs_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bad record;
  touched bigint[];
BEGIN
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF NOT EXISTS (SELECT bch_id, bchstatus FROM new_rows EXCEPT SELECT bch_id, bchstatus FROM old_rows) THEN
    RETURN NULL;
  END IF;
  SELECT o.bch_id, o.bchstatus AS old_code, n.bchstatus AS new_code INTO bad
  FROM old_rows o JOIN new_rows n USING (bch_id)
  WHERE o.bchstatus <> n.bchstatus
    AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = 'BCHS' AND t.from_code = o.bchstatus AND t.to_code = n.bchstatus);
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'BCHS %: illegal status change % -> %', bad.bch_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation',
            HINT = 'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel';
  END IF;

  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'BCHS', n.bch_id, o.bchstatus, n.bchstatus, al.actor(), n.error
  FROM old_rows o JOIN new_rows n USING (bch_id) WHERE o.bchstatus <> n.bchstatus;

  -- Publications travel with their batch.
  UPDATE al.pubs p SET pubstatus = n.bchstatus, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (bch_id)
  WHERE p.bch_id = n.bch_id AND n.bchstatus <> o.bchstatus
    AND n.bchstatus IN (511, 611, 711, 888, 999) AND p.pubstatus NOT IN (888, 999)
    AND p.pubstatus <> n.bchstatus;

  -- A batch that ends takes its open recipients with it: delivered when it is
  -- complete (or only its notification failed), failed when it failed earlier.
  UPDATE al.rcps r SET
    rcpstatus = CASE n.bchstatus WHEN 999 THEN 999 WHEN 741 THEN 999 WHEN 888 THEN 888
                                 WHEN 541 THEN 541 ELSE 641 END,
    status_changed_at = now(),
    error = CASE WHEN n.bchstatus IN (999, 741) THEN r.error
                 ELSE 'batch ' || n.bch_id || ': ' || coalesce(n.error, 'status ' || n.bchstatus) END,
    post_status = CASE WHEN n.bchstatus IN (441, 641) THEN false ELSE r.post_status END,
    post_error = CASE WHEN n.bchstatus IN (441, 641) AND r.post_error IS NULL
                      THEN 'batch ' || n.bch_id || ' failed: ' || coalesce(n.error, 'status ' || n.bchstatus)
                      ELSE r.post_error END,
    archive_status = CASE WHEN n.bchstatus = 541 THEN false ELSE r.archive_status END,
    archive_error = CASE WHEN n.bchstatus = 541 AND r.archive_error IS NULL
                         THEN 'batch ' || n.bch_id || ' failed: ' || coalesce(n.error, 'status 541')
                         ELSE r.archive_error END
  FROM new_rows n JOIN old_rows o USING (bch_id)
  WHERE r.bch_id = n.bch_id AND r.rcpstatus = 411 AND n.bchstatus <> o.bchstatus
    AND n.bchstatus IN (441, 541, 641, 741, 888, 999);

  -- The step after x90: the next stage's ready code.
  UPDATE al.bchs b SET bchstatus = CASE n.bchstatus WHEN 490 THEN 511 WHEN 590 THEN 611
                                                    WHEN 690 THEN 711 ELSE 999 END,
                       status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (bch_id)
  WHERE b.bch_id = n.bch_id AND n.bchstatus IN (490, 590, 690, 790) AND o.bchstatus <> n.bchstatus
    AND b.bchstatus = n.bchstatus;

  -- Last: the job's counters lock its row until commit, and every batch of
  -- the job needs that row; the carry-along above must not run under it.
  SELECT al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  INTO touched
  FROM (SELECT n.job_id, al.bchs_bucket(o.bchstatus) AS ob, al.bchs_bucket(n.bchstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (bch_id)
        WHERE al.bchs_bucket(o.bchstatus) <> al.bchs_bucket(n.bchstatus)
        GROUP BY 1, 2, 3) x;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;
