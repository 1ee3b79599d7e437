-- 030: the records' roll-up names the records it moves on by their primary
-- key alone. Its three follow-up steps (a passed-through 290 -> 301 and
-- 390 -> 401, and 411 -> 999 for a record batched with no recipient open)
-- joined the statement's rows with an unnest() of them and also tested the
-- record's status, which a partial index of al.trns serves. The plan
-- PL/pgSQL kept for the scheduler's connection read the records at 411
-- through that index and compared each with every row of the statement: a
-- job of 20 000 records without recipients did not finish batching within
-- 20 s (new test
-- Rollups.AConnectionThatMovedOneRowFirstCompletesTwentyThousandRecordsWithoutRecipients),
-- and at 500 records a step it cost 0.5 s in bench/throughput (auto_explain,
-- 249 500 rows removed by the join filter). The ids now come as one array
-- (`= ANY` on the primary key, no join), and the status test is written
-- `trnstatus + 0 = …` so that no index can serve it instead. What the
-- trigger does is that of sql/024.

CREATE OR REPLACE FUNCTION al.trns_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id bigint[];     -- the statement's rows, sorted by trn_id
  v_job bigint[];
  v_old int[];
  v_new int[];
  v_open int[];
  g_job bigint[];    -- its status moves, by (job, old code, new code)
  g_old int[];
  g_new int[];
  g_k int[];
  v_done_candidates bigint;
  v_errors text[];
  touched bigint[];
BEGIN
  SELECT array_agg(trnstatus ORDER BY trn_id) INTO v_old FROM old_rows;
  SELECT array_agg(trn_id ORDER BY trn_id), array_agg(job_id ORDER BY trn_id),
         array_agg(trnstatus ORDER BY trn_id), array_agg(n_rcps_open ORDER BY trn_id)
  INTO v_id, v_job, v_new, v_open
  FROM new_rows;
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF v_old IS NOT DISTINCT FROM v_new THEN
    RETURN NULL;
  END IF;

  SELECT array_agg(g.job_id), array_agg(g.old_code), array_agg(g.new_code), array_agg(g.k), sum(g.k_done)
  INTO g_job, g_old, g_new, g_k, v_done_candidates
  FROM (SELECT m.job_id, m.old_code, m.new_code, count(*)::int AS k,
               count(*) FILTER (WHERE m.new_code = 411 AND m.n_open = 0) AS k_done
        FROM unnest(v_job, v_old, v_new, v_open) AS m(job_id, old_code, new_code, n_open)
        WHERE m.old_code <> m.new_code
        GROUP BY 1, 2, 3) g;

  PERFORM al.check_status_moves('TRNS', v_id, v_old, v_new,
                                'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel');

  IF al.setting('history_items') = 'on' THEN
    SELECT array_agg(error ORDER BY trn_id) INTO v_errors FROM new_rows;
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'TRNS', m.trn_id, h.old_status, h.new_status, al.actor(), m.error
    FROM unnest(v_id, v_old, v_new, v_errors) AS m(trn_id, old_code, new_code, error)
    CROSS JOIN LATERAL (
      SELECT m.old_code, m.new_code WHERE al.trns_via_processed(m.old_code, m.new_code) IS NULL
      UNION ALL  -- a worker's x90 and the step after it, written at once: both moves recorded
      SELECT m.old_code, al.trns_via_processed(m.old_code, m.new_code)
      WHERE al.trns_via_processed(m.old_code, m.new_code) IS NOT NULL
      UNION ALL
      SELECT al.trns_via_processed(m.old_code, m.new_code), m.new_code
      WHERE al.trns_via_processed(m.old_code, m.new_code) IS NOT NULL
    ) AS h(old_status, new_status)
    WHERE m.old_code <> m.new_code;
  END IF;

  SELECT al.bump_jobs_for_trns(jsonb_agg(jsonb_build_object('job_id', m.job_id, 'ob', al.trns_bucket(m.old_code),
                                                            'nb', al.trns_bucket(m.new_code), 'k', m.k)))
  INTO touched
  FROM unnest(g_job, g_old, g_new, g_k) AS m(job_id, old_code, new_code, k)
  WHERE al.trns_bucket(m.old_code) <> al.trns_bucket(m.new_code)
  HAVING count(*) > 0;

  -- The step after x90, in the same transaction: assembled records wait at
  -- the barrier, distributed ones wait for their batches, and a batched
  -- record whose recipients are all terminal is complete. (al.finish writes
  -- the first two at once; these catch a stage passed through.)
  -- Each names its rows by `= ANY` on the primary key, with no join and no
  -- other condition an index could serve (`+ 0`), whatever plan is kept.
  IF 290 = ANY (g_new) THEN
    UPDATE al.trns t SET trnstatus = 301, status_changed_at = now()
    WHERE t.trn_id = ANY (ARRAY(SELECT m.trn_id FROM unnest(v_id, v_old, v_new) AS m(trn_id, old_code, new_code)
                                WHERE m.new_code = 290 AND m.old_code <> 290))
      AND t.trnstatus + 0 = 290;
  END IF;
  IF 390 = ANY (g_new) THEN
    UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
    WHERE t.trn_id = ANY (ARRAY(SELECT m.trn_id FROM unnest(v_id, v_old, v_new) AS m(trn_id, old_code, new_code)
                                WHERE m.new_code = 390 AND m.old_code <> 390))
      AND t.trnstatus + 0 = 390;
  END IF;
  IF v_done_candidates > 0 THEN
    UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
    WHERE t.trn_id = ANY (ARRAY(SELECT m.trn_id
                                FROM unnest(v_id, v_old, v_new, v_open) AS m(trn_id, old_code, new_code, n_open)
                                WHERE m.new_code = 411 AND m.n_open = 0 AND m.old_code <> 411))
      AND t.n_rcps_open = 0 AND t.trnstatus + 0 = 411;
  END IF;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;
