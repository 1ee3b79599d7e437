-- 022: cheaper hops. Each part below was measured on its own (docs/internals.md):
--   1. the line functions run static SQL;
--   2. recipients lose their foreign key to batches;
--   3. the recipients' roll-up fires after the console's search rows;
--   4. roll-ups skip the statements that would change nothing;
--   5. al.form_batches assigns recipients their batch in O(records);
--   6. the recipients' roll-up locks the job's row last;
--   7. room on al.trns pages for the versions of a record's status moves.

-- 1. al.claim, al.ack, al.lock_owned and al.finish built their statement with
-- format() and ran it with EXECUTE, so PostgreSQL parsed and planned it again
-- on every call: in a loop of 3 000 calls on an idle database an empty ack
-- took 0.22-0.24 ms that way and 0.06-0.07 ms written out. Every hop of a
-- record pays for a claim, an ack, a lock and a finish.
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

-- 2. Recipients lose their foreign key to batches, as publications did in 021.
-- al.form_batches assigns every recipient of a job its batch in one UPDATE,
-- and each row paid a FOR KEY SHARE check on its batch: 100 ms of the step's
-- 1 s for 10 000 recipients (auto_explain, bench/throughput -n 10000), while
-- the rest of the line waits for the batches. ON DELETE SET NULL never fired:
-- batches are deleted only by retention (006), after their job's recipients.
ALTER TABLE al.rcps DROP CONSTRAINT rcps_bch_id_fkey;
COMMENT ON COLUMN al.rcps.bch_id IS
  'The batch of this recipient; not a foreign key (sql/022): set only by al.form_batches, cleared by a retry';

-- 3. A distributor's transaction holds its job's row from the recipients'
-- roll-up (the job's counters) until it commits, and the other distributor
-- waits for it. AFTER triggers of one event fire in name order, so the
-- console's search rows (20-45 ms per 500 recipients) were written after the
-- roll-up, with the job's row locked. The roll-up now fires last, as
-- jobs_zz_close_automatically does on al.jobs.
ALTER TRIGGER rcps_after_insert ON al.rcps RENAME TO rcps_zz_after_insert;

-- 4. Roll-ups skip the statements that would change nothing. A statement
-- trigger fires for zero rows too, so every claim and ack (no job counter
-- moves, nothing to carry along) ran an UPDATE of al.jobs and up to three
-- UPDATEs of its own table that matched no row, each firing that table's
-- triggers in turn: 1.7 of the 1.9 ms of a one-batch ack (auto_explain with
-- nested statements). Each step now runs only when the statement's own rows
-- call for it; what it does is that of 019 and 021.

CREATE OR REPLACE FUNCTION al.trns_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bad record;
  touched bigint[];
BEGIN
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF NOT EXISTS (SELECT trn_id, trnstatus FROM new_rows EXCEPT SELECT trn_id, trnstatus FROM old_rows) THEN
    RETURN NULL;
  END IF;
  SELECT o.trn_id, o.trnstatus AS old_code, n.trnstatus AS new_code INTO bad
  FROM old_rows o JOIN new_rows n USING (trn_id)
  WHERE o.trnstatus <> n.trnstatus
    AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = 'TRNS' AND t.from_code = o.trnstatus AND t.to_code = n.trnstatus)
    AND al.trns_via_processed(o.trnstatus, n.trnstatus) IS NULL;
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'TRNS %: illegal status change % -> %', bad.trn_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation',
            HINT = 'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel';
  END IF;

  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'TRNS', n.trn_id, h.old_status, h.new_status, al.actor(), n.error
    FROM old_rows o JOIN new_rows n USING (trn_id)
    CROSS JOIN LATERAL (
      SELECT o.trnstatus, n.trnstatus WHERE al.trns_via_processed(o.trnstatus, n.trnstatus) IS NULL
      UNION ALL  -- a worker's x90 and the step after it, written at once: both moves recorded
      SELECT o.trnstatus, al.trns_via_processed(o.trnstatus, n.trnstatus)
      WHERE al.trns_via_processed(o.trnstatus, n.trnstatus) IS NOT NULL
      UNION ALL
      SELECT al.trns_via_processed(o.trnstatus, n.trnstatus), n.trnstatus
      WHERE al.trns_via_processed(o.trnstatus, n.trnstatus) IS NOT NULL
    ) AS h(old_status, new_status)
    WHERE o.trnstatus <> n.trnstatus;
  END IF;

  SELECT al.bump_jobs_for_trns(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  INTO touched
  FROM (SELECT n.job_id, al.trns_bucket(o.trnstatus) AS ob, al.trns_bucket(n.trnstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (trn_id)
        WHERE al.trns_bucket(o.trnstatus) <> al.trns_bucket(n.trnstatus)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  -- The step after x90, in the same transaction: assembled records wait at
  -- the barrier, distributed ones wait for their batches, and a batched
  -- record whose recipients are all terminal is complete. (al.finish writes
  -- the first two at once; these catch a stage passed through.)
  IF EXISTS (SELECT 1 FROM new_rows WHERE trnstatus = 290) THEN
    UPDATE al.trns t SET trnstatus = 301, status_changed_at = now()
    FROM new_rows n JOIN old_rows o USING (trn_id)
    WHERE t.trn_id = n.trn_id AND n.trnstatus = 290 AND o.trnstatus <> 290;
  END IF;
  IF EXISTS (SELECT 1 FROM new_rows WHERE trnstatus = 390) THEN
    UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
    FROM new_rows n JOIN old_rows o USING (trn_id)
    WHERE t.trn_id = n.trn_id AND n.trnstatus = 390 AND o.trnstatus <> 390;
  END IF;
  -- (new_rows filtered first: usually no record qualifies, and the join
  -- with al.trns cost 66 ms per 10 000 records to find that out.)
  IF EXISTS (SELECT 1 FROM new_rows WHERE trnstatus = 411 AND n_rcps_open = 0) THEN
    UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
    FROM (SELECT n.trn_id FROM new_rows n WHERE n.trnstatus = 411 AND n.n_rcps_open = 0) n
         JOIN old_rows o USING (trn_id)
    WHERE t.trn_id = n.trn_id AND o.trnstatus <> 411 AND t.n_rcps_open = 0 AND t.trnstatus = 411;
  END IF;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

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
  IF EXISTS (SELECT 1 FROM new_rows WHERE bchstatus IN (511, 611, 711, 888, 999)) THEN
    UPDATE al.pubs p SET pubstatus = n.bchstatus, status_changed_at = now()
    FROM new_rows n JOIN old_rows o USING (bch_id)
    WHERE p.bch_id = n.bch_id AND n.bchstatus <> o.bchstatus
      AND n.bchstatus IN (511, 611, 711, 888, 999) AND p.pubstatus NOT IN (888, 999)
      AND p.pubstatus <> n.bchstatus;
  END IF;

  -- A batch that ends takes its open recipients with it: delivered when it is
  -- complete (or only its notification failed), failed when it failed earlier.
  IF EXISTS (SELECT 1 FROM new_rows WHERE bchstatus IN (441, 541, 641, 741, 888, 999)) THEN
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
  END IF;

  -- The step after x90: the next stage's ready code.
  IF EXISTS (SELECT 1 FROM new_rows WHERE bchstatus IN (490, 590, 690, 790)) THEN
    UPDATE al.bchs b SET bchstatus = CASE n.bchstatus WHEN 490 THEN 511 WHEN 590 THEN 611
                                                      WHEN 690 THEN 711 ELSE 999 END,
                         status_changed_at = now()
    FROM new_rows n JOIN old_rows o USING (bch_id)
    WHERE b.bch_id = n.bch_id AND n.bchstatus IN (490, 590, 690, 790) AND o.bchstatus <> n.bchstatus
      AND b.bchstatus = n.bchstatus;
  END IF;

  -- Last: the job's counters lock its row until commit, and every batch of
  -- the job needs that row; the carry-along above must not run under it.
  SELECT al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  INTO touched
  FROM (SELECT n.job_id, al.bchs_bucket(o.bchstatus) AS ob, al.bchs_bucket(n.bchstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (bch_id)
        WHERE al.bchs_bucket(o.bchstatus) <> al.bchs_bucket(n.bchstatus)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

-- 5. al.form_batches assigned each recipient its batch by joining the
-- recipients with the batches just made on (channel, number). The planner,
-- with no statistics for either, ran it as a nested loop: every recipient
-- against every batch of the job, O(records × batches). It took 0.26 s for
-- 10 000 records (20 batches) and 6.2 s for 100 000 (200 batches): cost 24
-- times for 10 times the records (pg_stat_statements, bench/throughput).
-- The recipient now carries its batch's rank and reads the id from an array.

CREATE OR REPLACE FUNCTION al.form_batches(p_limit int, p_batch_size int DEFAULT 500) RETURNS int LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  j al.jobs;
  sort_key text;
  first_seq int;
  n int := 0;
BEGIN
  IF p_batch_size < 1 THEN
    RAISE EXCEPTION 'form_batches: batch size must be at least 1, got %', p_batch_size;
  END IF;
  FOR j IN SELECT * FROM al.jobs WHERE jobstatus = 390
           ORDER BY priority DESC, job_id LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT t.sort_field INTO sort_key FROM al.templates t WHERE t.name = j.template AND t.version = j.template_version;
    SELECT coalesce(max(seq), 0) INTO first_seq FROM al.bchs WHERE job_id = j.job_id;

    -- Numbered once in the template's sort order; the batches are created
    -- (at 401) and their recipients assigned in one statement. A recipient
    -- finds its batch's id by position in an array (grp: the batch's rank in
    -- (channel, bn) order, which is the order the ids are made in), not by
    -- a join with the new batches, which the planner ran as a nested loop:
    -- every recipient against every batch of the job.
    WITH numbered AS MATERIALIZED (
      SELECT x.rcp_id, x.channel, x.bn, dense_rank() OVER (ORDER BY x.channel, x.bn) AS grp
      FROM (SELECT r.rcp_id, r.channel,
                   (row_number() OVER (PARTITION BY r.channel ORDER BY t.data->>sort_key, r.rcp_id) - 1)
                     / p_batch_size AS bn
            FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id
            WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401) x
    ), made AS (
      INSERT INTO al.bchs (job_id, channel, seq, size, bchstatus)
      SELECT j.job_id, channel, first_seq + 1 + bn, count(*), 401 FROM numbered GROUP BY channel, bn
      ORDER BY channel, bn  -- batch ids in sort order
      RETURNING bch_id, channel, seq
    ), ids AS (
      SELECT array_agg(bch_id ORDER BY channel, seq) AS bch_ids FROM made
    )
    UPDATE al.rcps r SET bch_id = ids.bch_ids[nr.grp], rcpstatus = 411, status_changed_at = now()
    FROM numbered nr CROSS JOIN ids
    WHERE r.rcp_id = nr.rcp_id;

    -- Filled, then closed: the batch's history shows 401 → 415 → 411.
    UPDATE al.bchs SET bchstatus = 415, status_changed_at = now()
    WHERE job_id = j.job_id AND bchstatus = 401 AND seq > first_seq;

    UPDATE al.bchs SET bchstatus = 411, status_changed_at = now()
    WHERE job_id = j.job_id AND bchstatus = 415 AND seq > first_seq;

    UPDATE al.trns SET trnstatus = 411, status_changed_at = now()
    WHERE job_id = j.job_id AND trnstatus = 401;

    PERFORM al.advance_jobs(ARRAY[j.job_id]);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- 6. The recipients' roll-up moves their records first and the job last. The
-- job's row stays locked until commit, and a batch's end (500 recipients
-- delivered, their records complete) updated the records while holding it;
-- presenters and the notifier wait for that row. 10 000 records, three runs
-- each: 3.53-3.63 s before, 3.47-3.50 s after.
CREATE OR REPLACE FUNCTION al.rcps_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  bad record;
BEGIN
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF NOT EXISTS (SELECT rcp_id, rcpstatus FROM new_rows EXCEPT SELECT rcp_id, rcpstatus FROM old_rows) THEN
    RETURN NULL;
  END IF;
  SELECT o.rcp_id, o.rcpstatus AS old_code, n.rcpstatus AS new_code INTO bad
  FROM old_rows o JOIN new_rows n USING (rcp_id)
  WHERE o.rcpstatus <> n.rcpstatus
    AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = 'RCPS' AND t.from_code = o.rcpstatus AND t.to_code = n.rcpstatus);
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'RCPS %: illegal status change % -> %', bad.rcp_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation',
            HINT = 'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel';
  END IF;

  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'RCPS', n.rcp_id, o.rcpstatus, n.rcpstatus, al.actor(), n.error
    FROM old_rows o JOIN new_rows n USING (rcp_id) WHERE o.rcpstatus <> n.rcpstatus;
  END IF;

  PERFORM al.bump_trns_for_rcps(jsonb_agg(jsonb_build_object('trn_id', trn_id, 'd', d, 'reopened', reopened)))
  FROM (SELECT n.trn_id,
               sum((al.rcps_bucket(n.rcpstatus) = 1)::int - (al.rcps_bucket(o.rcpstatus) = 1)::int) AS d,
               bool_or(n.rcpstatus = 401 AND o.rcpstatus <> 401) AS reopened
        FROM old_rows o JOIN new_rows n USING (rcp_id)
        WHERE o.rcpstatus <> n.rcpstatus
        GROUP BY 1) x
  WHERE d <> 0 OR reopened
  HAVING count(*) > 0;

  -- The job last: its row stays locked until commit.
  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  FROM (SELECT n.job_id, al.rcps_bucket(o.rcpstatus) AS ob, al.rcps_bucket(n.rcpstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (rcp_id)
        WHERE al.rcps_bucket(o.rcpstatus) <> al.rcps_bucket(n.rcpstatus)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  RETURN NULL;
END $$;

-- 7. Room on al.trns pages. A record is written ten times after its insert;
-- most of those updates change an indexed status and cannot be HOT, but with
-- free space on the page the new version stays on it, so fewer pages are
-- dirtied and fewer full-page images written after a checkpoint, and the
-- updates that change no indexed column (counters) become HOT. Measured with
-- bench/throughput interleaved A/B: at 10 000 records HOT updates of al.trns
-- 419-519 -> 4 988-5 132 of 100 000 and WAL 116 -> 99 MB; at 100 000 WAL
-- 1.34-1.36 -> 1.07-1.08 GB and full-page images 30 400 -> 17 600-20 300.
-- Wall time on the shared VM was within its noise at 100 000 (49-59 s vs
-- 51-57 s) and 4 % faster at 10 000. Only pages written from now on are
-- affected.
ALTER TABLE al.trns SET (fillfactor = 60);
