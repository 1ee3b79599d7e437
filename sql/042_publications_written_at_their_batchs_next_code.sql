-- 042: a batch's publications are written at 511, the code their batch
-- takes in the same transaction, instead of at 490 and carried to 511 at once.
--
-- The presenter writes a batch's publications (COPY, which names no status,
-- so the column's default applies) in the transaction whose al.finish moves
-- the batch 431 -> 490 -> 511 in one write (sql/032); the batch's roll-up
-- then carried every publication 490 -> 511, a second version of each row in
-- the transaction that had just inserted it: 10 000 of the 220 900 row writes
-- of a 10 000-record bench/throughput job. The presenter's outcome is ok
-- whenever it writes publications, and it holds its batch locked from
-- al.lock_owned to the commit, so the batch does reach 511 with them; a
-- presenter that fails rolls them back with its work. Three alternated pairs
-- (2026-12-03 00:40, the default set by AL_BENCH_EXTRA_SQL): row writes
-- 220 938 -> 210 933, PostgreSQL CPU 3.20 -> 3.14 s, wall 2.453 -> 2.396 s.
--
-- With history_items on, al.status_history still shows each publication's
-- 490 -> 511: the batch's roll-up writes it for the batches that moved
-- 431 -> 511 (a retried batch that goes 541 -> 511 gets no second one). The
-- rest of the function is sql/039's.

ALTER TABLE al.pubs ALTER COLUMN pubstatus SET DEFAULT 511;
COMMENT ON COLUMN al.pubs.pubstatus IS
  'Follows the batch: 511, 611, 711, 999 (888 cancelled). Made by the presenter at 490 and written at 511, '
  'the code its batch takes in the same transaction (sql/042)';

CREATE OR REPLACE FUNCTION al.bchs_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
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

  IF EXISTS (SELECT 1 FROM unnest(v_old, v_new) AS m(o, n)
             WHERE m.o <> m.n AND m.o * 1000 + m.n <> ALL (al.legal_status_moves('BCHS'))) THEN
    PERFORM al.check_status_moves('BCHS', v_id, v_old, v_new,
                                  'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel');
  END IF;

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
  IF v_new && ARRAY[511, 611, 711, 888, 999] THEN
    FOR v_code, v_carry IN
      SELECT m.new_code, array_agg(m.bch_id)
      FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
      WHERE m.new_code <> m.old_code AND m.new_code IN (511, 611, 711, 888, 999)
      GROUP BY 1
    LOOP
      UPDATE al.pubs p SET pubstatus = v_code, status_changed_at = now()
      WHERE p.bch_id = ANY (v_carry) AND p.pubstatus NOT IN (888, 999) AND p.pubstatus <> v_code;
    END LOOP;
  END IF;
  -- The presenter wrote its publications at 511 in this transaction (see
  -- above): their history gets the 490 -> 511 that no update recorded.
  IF v_new && ARRAY[511] AND v_old && ARRAY[431] AND al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'PUBS', p.pub_id, 490, 511, al.actor(), NULL
    FROM al.pubs p
    WHERE p.bch_id = ANY (ARRAY(SELECT m.bch_id FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
                                WHERE m.old_code = 431 AND m.new_code = 511))
      AND p.pubstatus = 511;
  END IF;

  -- A batch that ends takes its open recipients with it: delivered when it is
  -- complete (or only its notification failed), failed when it failed earlier.
  IF v_new && ARRAY[441, 541, 641, 741, 888, 999] THEN
    SELECT array_agg(m.bch_id) INTO v_carry
    FROM unnest(v_id, v_old, v_new) AS m(bch_id, old_code, new_code)
    WHERE m.new_code <> m.old_code AND m.new_code IN (441, 541, 641, 741, 888, 999);
  ELSE
    v_carry := NULL;
  END IF;
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
  -- A one-batch move within a bucket (a claim, an acknowledgement) moves no
  -- counter, which the arrays tell without a query.
  IF cardinality(v_id) > 1 OR al.bchs_bucket(v_old[1]) <> al.bchs_bucket(v_new[1]) THEN
    SELECT al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', x.job_id, 'ob', x.ob, 'nb', x.nb, 'k', x.k)))
    INTO touched
    FROM (SELECT m.job_id, al.bchs_bucket(m.old_code) AS ob, al.bchs_bucket(m.new_code) AS nb, count(*) AS k
          FROM unnest(v_job, v_old, v_new) AS m(job_id, old_code, new_code)
          WHERE al.bchs_bucket(m.old_code) <> al.bchs_bucket(m.new_code)
          GROUP BY 1, 2, 3) x
    HAVING count(*) > 0;
  END IF;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

