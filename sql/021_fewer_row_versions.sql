-- 021: fewer row versions and shorter job-row locks on the hot path.
--
-- Measured with `bench/throughput -n 10000 --profile` and auto_explain
-- (nested statements): every status change of a TRNS or RCPS row is a
-- non-HOT update (its status is in partial-index predicates), about 25-30 µs
-- of index maintenance each, so the line's cost is mostly how many row
-- versions it writes. Five changes, no change in what anyone can observe:
--
-- 1. al.bump_trns_for_rcps moves a record's count of open recipients and
--    completes (411 → 999) or reopens (→ 401) the record in one UPDATE; it
--    was two, so every record was written twice when its batch ended.
-- 2. al.trns_after_update looks for records that just reached 411 with no
--    open recipient among the statement's own new rows first; the join with
--    al.trns took 66 ms per 10 000 records to find none.
-- 3. al.rcps_after_insert bumps the job's counters last: the job's row is
--    locked (FOR UPDATE, held to commit) only after the record counters and
--    the history are written, so the distributors queue less on each other.
-- 4. al.form_batches numbers the recipients once (it sorted them twice) and
--    assigns them in the statement that creates the batches.
-- 5. A record's stage outcome and the step after it are one write: al.finish
--    sets TRNS 301 (waits at the barrier) or 401 (waits for batching) where
--    it set 290 or 390 and the roll-up moved it on in a second UPDATE. The
--    history (with history_items on) still shows 231 → 290 → 301; the guard
--    accepts x31 → next when x31 → x90 → next are both legal moves.
--    TRNS updates per record: 13 → 10 with 1.
-- 6. PUBS lose their foreign keys to BCHS and RCPS, as TRNS, RCPS and BCHS
--    lost theirs to JOBS (sql/016, sql/019). The presenter inserts a
--    batch's publications and carries them to 511 in one transaction, and
--    PostgreSQL checks a key again on every update of a row the same
--    transaction inserted: 2 000 checks per 500-recipient batch, each a
--    FOR KEY SHARE lock (a WAL record) on a recipient or the batch; 35-55
--    ms of the presenter's 110 ms per batch (auto_explain, log_triggers).
--    Nothing is lost: publications are written only by al-presenter, for
--    the batch it holds and that batch's recipients; batches and recipients
--    are deleted only by retention, which deletes their publications first
--    (sql/006), and by the distributor, which redoes a record's unbatched
--    recipients and now deletes their publications itself (the cascade
--    did); al_admin and the workers may not delete them (sql/007).
-- 7. A recipient's status changes after batching are HOT updates (no index
--    touched): no index of al.rcps mentions rcpstatus any more. The two
--    partial indexes that did now say the same with columns that do not
--    change on the way to 999: unbatched recipients are those without a
--    batch (bch_id IS NULL), failed ones carry an error, which a CHECK now
--    guarantees. Each of the notifier's 411 → 999 updates wrote five index
--    entries (primary key, trn, bch, job, address); at 100 000 records the
--    batch cascade spent 19.5 s of the database's time on them.

-- The processed code a TRNS move skips when al.finish writes a worker's
-- outcome and the roll-up's next step at once; NULL for any other move.
CREATE FUNCTION al.trns_via_processed(p_from int, p_to int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_from = 231 AND p_to = 301 THEN 290
              WHEN p_from = 331 AND p_to = 401 THEN 390 END
$$;
COMMENT ON FUNCTION al.trns_via_processed(int, int) IS
  'Internal: 290 for TRNS 231 → 301 and 390 for 331 → 401 (al.finish writes processed and the next step at once); else NULL';

-- Worker: outcomes fenced by (id, x31, attempt), as in sql/008; a record's
-- processed code goes straight on to the step after it.
CREATE OR REPLACE FUNCTION al.finish(p_stage text, p_ids bigint[], p_attempts int[], p_ok boolean[], p_errors text[])
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  ok_code int := CASE s.done_code WHEN 290 THEN 301 WHEN 390 THEN 401 ELSE s.done_code END;
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
    USING p_ids, p_attempts, ok_code, s.hundreds * 100 + 41, s.hundreds * 100 + 31, p_ok, p_errors;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.finish(text, bigint[], int[], boolean[], text[]) IS
  'Worker: writes outcomes fenced by (id, x31, attempt): processed (JOBS 211; TRNS 301 or 401, the step after 290/390; BCHS x90; tries reset) or error (x41 with error); returns rows written';

CREATE OR REPLACE FUNCTION al.bump_trns_for_rcps(p_changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- p_changes: [{trn_id, d: change in open recipients, reopened: a recipient went back to 401}],
  -- one entry per record. Parents are locked in id order (no deadlocks).
  PERFORM 1 FROM al.trns
  WHERE trn_id IN (SELECT (e->>'trn_id')::bigint FROM jsonb_array_elements(p_changes) e)
  ORDER BY trn_id FOR UPDATE;
  -- Retried recipients wait for new batches: their record waits with them.
  -- A batched record whose recipients are all terminal is complete.
  UPDATE al.trns t SET
    n_rcps_open = t.n_rcps_open + x.d,
    trnstatus = CASE WHEN x.reopened AND t.trnstatus IN (411, 999) THEN 401
                     WHEN t.trnstatus = 411 AND t.n_rcps_open + x.d = 0 THEN 999
                     ELSE t.trnstatus END,
    status_changed_at = CASE WHEN (x.reopened AND t.trnstatus IN (411, 999))
                                  OR (t.trnstatus = 411 AND t.n_rcps_open + x.d = 0) THEN now()
                             ELSE t.status_changed_at END
  FROM (SELECT (e->>'trn_id')::bigint AS trn_id, (e->>'d')::int AS d, coalesce((e->>'reopened')::bool, false) AS reopened
        FROM jsonb_array_elements(p_changes) e) x
  WHERE t.trn_id = x.trn_id
    AND (x.d <> 0 OR (x.reopened AND t.trnstatus IN (411, 999)) OR (t.trnstatus = 411 AND t.n_rcps_open = 0));
END $$;

CREATE OR REPLACE FUNCTION al.rcps_after_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  PERFORM al.bump_trns_for_rcps(jsonb_agg(jsonb_build_object('trn_id', trn_id, 'd', k, 'reopened', false)))
  FROM (SELECT trn_id, count(*) AS k FROM new_rows WHERE al.rcps_bucket(rcpstatus) = 1 GROUP BY 1) x
  HAVING count(*) > 0;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'RCPS', rcp_id, NULL, rcpstatus, al.actor(), error FROM new_rows;
  END IF;
  -- The job last: its row stays locked until commit.
  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', 0, 'nb', b, 'k', k)))
  FROM (SELECT job_id, al.rcps_bucket(rcpstatus) AS b, count(*) AS k FROM new_rows GROUP BY 1, 2) x;
  RETURN NULL;
END $$;

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
        GROUP BY 1, 2, 3) x;

  -- The step after x90, in the same transaction: assembled records wait at
  -- the barrier, distributed ones wait for their batches, and a batched
  -- record whose recipients are all terminal is complete. (al.finish writes
  -- the first two at once; these catch a stage passed through.)
  UPDATE al.trns t SET trnstatus = 301, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND n.trnstatus = 290 AND o.trnstatus <> 290;
  UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND n.trnstatus = 390 AND o.trnstatus <> 390;
  -- (new_rows filtered first: usually no record qualifies, and the join
  -- with al.trns cost 66 ms per 10 000 records to find that out.)
  UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
  FROM (SELECT n.trn_id FROM new_rows n WHERE n.trnstatus = 411 AND n.n_rcps_open = 0) n
       JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND o.trnstatus <> 411 AND t.n_rcps_open = 0 AND t.trnstatus = 411;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

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
    -- (at 401) and their recipients assigned in one statement.
    WITH numbered AS MATERIALIZED (
      SELECT r.rcp_id, r.channel,
             (row_number() OVER (PARTITION BY r.channel ORDER BY t.data->>sort_key, r.rcp_id) - 1)
               / p_batch_size AS bn
      FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id
      WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401
    ), made AS (
      INSERT INTO al.bchs (job_id, channel, seq, size, bchstatus)
      SELECT j.job_id, channel, first_seq + 1 + bn, count(*), 401 FROM numbered GROUP BY channel, bn
      ORDER BY channel, bn  -- batch ids in sort order
      RETURNING bch_id, channel, seq
    )
    UPDATE al.rcps r SET bch_id = m.bch_id, rcpstatus = 411, status_changed_at = now()
    FROM numbered nr JOIN made m ON m.channel = nr.channel AND m.seq = first_seq + 1 + nr.bn
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

ALTER TABLE al.pubs DROP CONSTRAINT pubs_bch_id_fkey;
ALTER TABLE al.pubs DROP CONSTRAINT pubs_rcp_id_fkey;
COMMENT ON COLUMN al.pubs.bch_id IS
  'The batch of this publication; not a foreign key (sql/021): written only by al-presenter for the batch it holds';
COMMENT ON COLUMN al.pubs.rcp_id IS
  'The recipient (null for a print stream); not a foreign key (sql/021): one of its batch''s recipients';

-- 7: indexes of al.rcps that leave rcpstatus out, so status moves are HOT.
UPDATE al.rcps SET error = 'failed (no reason was recorded)'
WHERE rcpstatus IN (341, 541, 641) AND error IS NULL;
ALTER TABLE al.rcps ADD CONSTRAINT rcps_failed_has_error CHECK (rcpstatus NOT IN (341, 541, 641) OR error IS NOT NULL);
DROP INDEX al.rcps_job_unbatched;
CREATE INDEX rcps_job_unbatched ON al.rcps (job_id) WHERE bch_id IS NULL;
DROP INDEX al.rcps_job_failed;
CREATE INDEX rcps_job_failed ON al.rcps (job_id, trn_id) WHERE error IS NOT NULL;
COMMENT ON INDEX al.rcps_job_unbatched IS 'A job''s recipients without a batch (401 among them) for al.form_batches; not on rcpstatus, so status moves stay HOT';
COMMENT ON INDEX al.rcps_job_failed IS 'A job''s recipients with an error (every failed one has one: rcps_failed_has_error); not on rcpstatus, so status moves stay HOT';
