-- 025: the batches' roll-up pairs old and new rows without a join, as those
-- of records, recipients and publications do since sql/024. al.form_batches
-- moves all of a job's new batches in one statement (401 -> 415 -> 411), 2 000
-- of them for 1 000 000 records, on the scheduler's connection, which has
-- usually moved one batch at a time before: with the join's plan kept from
-- such a call, each of those statements compared every batch with every
-- other, four times. The publications and recipients that travel with their
-- batches are found by `bch_id = ANY (array)`, not by joining unnest() with
-- their table: the generic plan of that join may read the whole table (at
-- 100 000 records the publications' carry-along took 42 µs a row, 6 µs
-- before). What the trigger does is that of sql/022.

CREATE OR REPLACE FUNCTION al.bchs_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id bigint[];     -- the statement's rows, sorted by bch_id
  v_job bigint[];
  v_old int[];
  v_new int[];
  v_errors text[];
  v_code int;
  v_carry bigint[];
  touched bigint[];
BEGIN
  SELECT array_agg(bchstatus ORDER BY bch_id) INTO v_old FROM old_rows;
  SELECT array_agg(bch_id ORDER BY bch_id), array_agg(job_id ORDER BY bch_id),
         array_agg(bchstatus ORDER BY bch_id), array_agg(error ORDER BY bch_id)
  INTO v_id, v_job, v_new, v_errors
  FROM new_rows;
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF v_old IS NOT DISTINCT FROM v_new THEN
    RETURN NULL;
  END IF;

  PERFORM al.check_status_moves('BCHS', v_id, v_old, v_new,
                                'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel');

  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'BCHS', m.bch_id, m.old_code, m.new_code, al.actor(), m.error
  FROM unnest(v_id, v_old, v_new, v_errors) AS m(bch_id, old_code, new_code, error)
  WHERE m.old_code <> m.new_code;

  -- Publications travel with their batch. Each UPDATE names its rows by
  -- `= ANY` on an indexed column: joined with unnest() instead, a generic
  -- plan may read the whole table (its estimate of the array is a guess).
  FOR v_code, v_carry IN
    SELECT m.new_code, array_agg(m.bch_id)
    FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
    WHERE m.new_code <> m.old_code AND m.new_code IN (511, 611, 711, 888, 999)
    GROUP BY 1
  LOOP
    UPDATE al.pubs p SET pubstatus = v_code, status_changed_at = now()
    WHERE p.bch_id = ANY (v_carry) AND p.pubstatus NOT IN (888, 999) AND p.pubstatus <> v_code;
  END LOOP;

  -- A batch that ends takes its open recipients with it: delivered when it is
  -- complete (or only its notification failed), failed when it failed earlier.
  SELECT array_agg(m.bch_id) INTO v_carry
  FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
  WHERE m.new_code <> m.old_code AND m.new_code IN (441, 541, 641, 741, 888, 999);
  IF v_carry IS NOT NULL THEN
    UPDATE al.rcps r SET
      rcpstatus = CASE m.new_code WHEN 999 THEN 999 WHEN 741 THEN 999 WHEN 888 THEN 888
                                  WHEN 541 THEN 541 ELSE 641 END,
      status_changed_at = now(),
      error = CASE WHEN m.new_code IN (999, 741) THEN r.error
                   ELSE 'batch ' || m.bch_id || ': ' || coalesce(m.error, 'status ' || m.new_code) END,
      post_status = CASE WHEN m.new_code IN (441, 641) THEN false ELSE r.post_status END,
      post_error = CASE WHEN m.new_code IN (441, 641) AND r.post_error IS NULL
                        THEN 'batch ' || m.bch_id || ' failed: ' || coalesce(m.error, 'status ' || m.new_code)
                        ELSE r.post_error END,
      archive_status = CASE WHEN m.new_code = 541 THEN false ELSE r.archive_status END,
      archive_error = CASE WHEN m.new_code = 541 AND r.archive_error IS NULL
                           THEN 'batch ' || m.bch_id || ' failed: ' || coalesce(m.error, 'status 541')
                           ELSE r.archive_error END
    FROM unnest(v_id, v_old, v_new, v_errors) AS m(bch_id, old_code, new_code, error)
    WHERE r.bch_id = ANY (v_carry) AND r.bch_id = m.bch_id AND r.rcpstatus = 411 AND m.new_code <> m.old_code
      AND m.new_code IN (441, 541, 641, 741, 888, 999);
  END IF;

  -- The step after x90: the next stage's ready code.
  IF v_new && ARRAY[490, 590, 690, 790] THEN
    UPDATE al.bchs b SET bchstatus = CASE m.new_code WHEN 490 THEN 511 WHEN 590 THEN 611
                                                     WHEN 690 THEN 711 ELSE 999 END,
                         status_changed_at = now()
    FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
    WHERE b.bch_id = ANY (v_id) AND b.bch_id = m.bch_id AND m.new_code IN (490, 590, 690, 790) AND m.old_code <> m.new_code
      AND b.bchstatus = m.new_code;
  END IF;

  -- Last: the job's counters lock its row until commit, and every batch of
  -- the job needs that row; the carry-along above must not run under it.
  SELECT al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', x.job_id, 'ob', x.ob, 'nb', x.nb, 'k', x.k)))
  INTO touched
  FROM (SELECT m.job_id, al.bchs_bucket(m.old_code) AS ob, al.bchs_bucket(m.new_code) AS nb, count(*) AS k
        FROM unnest(v_job, v_old, v_new) AS m(job_id, old_code, new_code)
        WHERE al.bchs_bucket(m.old_code) <> al.bchs_bucket(m.new_code)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;
