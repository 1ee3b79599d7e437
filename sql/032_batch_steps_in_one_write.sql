-- 032: a batch's processed code and the step after it in one write.
--
-- A batch stage's outcome wrote x90 (490, 590, 690, 790), and the batch
-- trigger then moved the batch on to the next stage's ready code (511, 611,
-- 711, 999) with a second UPDATE: a second row version and a second run of
-- the trigger (transition tables, the move check, history, the counters),
-- 80 of each per 10 000 records. al.finish now writes the step after x90 at
-- once, as it does for records since sql/021; the history still records both
-- moves (431 -> 490 -> 511), so every canonical code stays visible there.
-- The trigger's own step after x90 remains for stages passed through.

CREATE FUNCTION al.bchs_via_processed(p_from int, p_to int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_from = 431 AND p_to = 511 THEN 490
              WHEN p_from = 531 AND p_to = 611 THEN 590
              WHEN p_from = 631 AND p_to = 711 THEN 690
              WHEN p_from = 731 AND p_to = 999 THEN 790 END
$$;
COMMENT ON FUNCTION al.bchs_via_processed(int, int) IS
  'Internal: the processed code (490, 590, 690, 790) between a batch stage''s x31 and the next ready code, which al.finish writes at once; else NULL';

CREATE OR REPLACE FUNCTION al.check_status_moves(p_object text, p_ids bigint[], p_old int[], p_new int[], p_hint text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_old int;
  v_new int;
  v_id bigint;
BEGIN
  SELECT m.old_code, m.new_code INTO v_old, v_new
  FROM (SELECT DISTINCT o, n FROM unnest(p_old, p_new) AS u(o, n) WHERE o <> n) AS m(old_code, new_code)
  WHERE NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = p_object AND t.from_code = m.old_code AND t.to_code = m.new_code)
    AND (p_object <> 'TRNS' OR al.trns_via_processed(m.old_code, m.new_code) IS NULL)
    AND (p_object <> 'BCHS' OR al.bchs_via_processed(m.old_code, m.new_code) IS NULL);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT u.id INTO v_id FROM unnest(p_ids, p_old, p_new) AS u(id, o, n) WHERE u.o = v_old AND u.n = v_new;
  RAISE EXCEPTION '% %: illegal status change % -> %', p_object, v_id, v_old, v_new
    USING ERRCODE = 'check_violation', HINT = p_hint;
END $$;

CREATE OR REPLACE FUNCTION al.finish(p_stage text, p_ids bigint[], p_attempts int[], p_ok boolean[], p_errors text[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  -- TRNS go straight on to the step after 290 / 390 (021), BCHS to the
  -- next stage's ready code (032).
  v_ok int := CASE s.done_code WHEN 290 THEN 301 WHEN 390 THEN 401
                               WHEN 490 THEN 511 WHEN 590 THEN 611 WHEN 690 THEN 711 WHEN 790 THEN 999
                               ELSE s.done_code END;
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
                         -- Distributed: its recipients, made in this transaction (sql/026).
                         n_rcps_open = CASE WHEN v_processing = 331
                                            THEN (SELECT count(*) FROM al.rcps r
                                                  WHERE r.trn_id = t.trn_id AND r.rcpstatus IN (401, 411))
                                            ELSE t.n_rcps_open END,
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
  SELECT 'BCHS', m.bch_id, h.old_status, h.new_status, al.actor(), m.error
  FROM unnest(v_id, v_old, v_new, v_errors) AS m(bch_id, old_code, new_code, error)
  CROSS JOIN LATERAL (
    SELECT m.old_code, m.new_code WHERE al.bchs_via_processed(m.old_code, m.new_code) IS NULL
    UNION ALL  -- a worker's x90 and the step after it, written at once: both moves recorded
    SELECT m.old_code, al.bchs_via_processed(m.old_code, m.new_code)
    WHERE al.bchs_via_processed(m.old_code, m.new_code) IS NOT NULL
    UNION ALL
    SELECT al.bchs_via_processed(m.old_code, m.new_code), m.new_code
    WHERE al.bchs_via_processed(m.old_code, m.new_code) IS NOT NULL
  ) AS h(old_status, new_status)
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

  -- The step after x90, for a stage passed through (al.finish writes a
  -- worker's x90 and this step at once).
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
