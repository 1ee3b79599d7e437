-- 026: a distributed record gets its open-recipient count from the write that
-- finishes it, not from a write of its own. The distributor inserts a
-- record's recipients and finishes the record (331 -> 401) in one
-- transaction; the recipients' insert roll-up bumped the record's
-- n_rcps_open first, so every distributed record was written twice: 10 000
-- extra row versions of al.trns for 10 000 records, and 140 ms of their
-- 3.5-4.4 s of database time (pg_stat_statements, bench/throughput -n 10000).
--
-- Now al.finish counts the recipients of each record it finishes for the
-- distributor (in the UPDATE that moves it, through the index on
-- rcps.trn_id), and the insert roll-up leaves records at 331 alone. The
-- count is exact: the distributor holds the record's row (al.lock_owned) from
-- before it inserts until it commits, and a concurrent roll-up that moves one
-- of the record's older recipients locks that row before it bumps the count,
-- so it waits and applies its change on top of the count. The count also
-- repairs a record redone after a retry, whose old open recipients the
-- distributor deletes before it makes new ones.

CREATE OR REPLACE FUNCTION al.rcps_after_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_trn bigint[];  -- records with new open recipients, sorted
  v_k int[];       -- how many each
BEGIN
  SELECT array_agg(trn_id ORDER BY trn_id), array_agg(k ORDER BY trn_id) INTO v_trn, v_k
  FROM (SELECT trn_id, count(*)::int AS k FROM new_rows WHERE al.rcps_bucket(rcpstatus) = 1 GROUP BY 1) x;
  IF v_trn IS NULL AND NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  -- Records being distributed (331) are counted by al.finish; the line
  -- inserts recipients for no other. `= ANY` reads them by their index
  -- whatever plan this statement keeps (docs/internals.md).
  IF EXISTS (SELECT 1 FROM al.trns t WHERE t.trn_id = ANY (v_trn) AND t.trnstatus <> 331) THEN
    PERFORM al.bump_trns_for_rcps(array_agg(x.trn_id ORDER BY x.trn_id), array_agg(x.k ORDER BY x.trn_id),
                                  array_agg(false))
    FROM unnest(v_trn, v_k) AS x(trn_id, k)
    JOIN al.trns t ON t.trn_id = x.trn_id
    WHERE t.trn_id = ANY (v_trn) AND t.trnstatus <> 331
    HAVING count(*) > 0;
  END IF;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'RCPS', rcp_id, NULL, rcpstatus, al.actor(), error FROM new_rows;
  END IF;
  -- The job last: its row stays locked until commit.
  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', 0, 'nb', b, 'k', k)))
  FROM (SELECT job_id, al.rcps_bucket(rcpstatus) AS b, count(*) AS k FROM new_rows GROUP BY 1, 2) x;
  RETURN NULL;
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
                         -- Distributed: its recipients, made in this transaction (see above).
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
