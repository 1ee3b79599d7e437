-- 024: the status roll-ups pair a statement's old and new rows without a
-- join, and read them once.
--
-- 1. No join of the transition tables. The AFTER UPDATE statement triggers
--    of al.trns, al.rcps and al.pubs joined old_rows with new_rows by id.
--    PL/pgSQL plans such a query once per connection and keeps the plan, and
--    the planner sizes a transition table by the rows it holds on that first
--    call: after a one-row status change (a one-record job, an operator's
--    retry), the connection kept a nested loop over both tables, quadratic
--    in the rows of every later statement. Measured: a 5 000-row update of
--    al.trns took 2.8 s on such a connection, 96 ms on a fresh one; the
--    scheduler's release of a 1 000 000-record job's barrier is one
--    statement. The triggers now read each table once into arrays sorted by
--    id (every updated row is in both, once) and pair them by position.
--    Statements that update rows by those arrays also name them by
--    `= ANY (array)` on the primary key, so that a generic plan uses it.
-- 2. One pass. The triggers passed over their rows three to five times: an
--    EXCEPT to see whether any status moved, the guard's lookup in
--    al.status_transitions row by row, one aggregate per counter. They now
--    count the moves by (parent, old code, new code) once and work from
--    those groups: the guard (al.check_status_moves, shared by the four
--    tables) checks each distinct move once (usually one or two per
--    statement); counters and follow-up steps read the groups. Same checks,
--    same counters, same errors.
-- Measured on 500-row status updates of al.trns (211 -> 221 -> 231 -> 211,
-- 20 rounds, 30 000 row updates, each round committed): 381-392 ms without
-- triggers, 487-505 ms with the triggers of 022, 415-441 ms with one pass.

-- The guard of the status triggers, shared: every distinct (old, new) move
-- of a statement must be listed in al.status_transitions; the first that is
-- not is reported with one item that made it. al.finish writes a record's
-- processed code and the step after it at once (sql/021): for TRNS those
-- two-hop moves are legal too.
CREATE FUNCTION al.check_status_moves(p_object text, p_ids bigint[], p_old int[], p_new int[], p_hint text)
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
    AND (p_object <> 'TRNS' OR al.trns_via_processed(m.old_code, m.new_code) IS NULL);
  IF NOT FOUND THEN
    RETURN;
  END IF;
  SELECT u.id INTO v_id FROM unnest(p_ids, p_old, p_new) AS u(id, o, n) WHERE u.o = v_old AND u.n = v_new;
  RAISE EXCEPTION '% %: illegal status change % -> %', p_object, v_id, v_old, v_new
    USING ERRCODE = 'check_violation', HINT = p_hint;
END $$;
COMMENT ON FUNCTION al.check_status_moves(text, bigint[], int[], int[], text) IS
  'Internal: raises check_violation naming an item whose status move (p_old[i] -> p_new[i]) is not in al.status_transitions';
GRANT EXECUTE ON FUNCTION al.check_status_moves(text, bigint[], int[], int[], text)
  TO al_integrator, al_admin, al_worker, al_scheduler;

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
  IF 290 = ANY (g_new) THEN
    UPDATE al.trns t SET trnstatus = 301, status_changed_at = now()
    FROM unnest(v_id, v_old, v_new) AS m(trn_id, old_code, new_code)
    WHERE t.trn_id = ANY (v_id) AND t.trn_id = m.trn_id AND m.new_code = 290 AND m.old_code <> 290;
  END IF;
  IF 390 = ANY (g_new) THEN
    UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
    FROM unnest(v_id, v_old, v_new) AS m(trn_id, old_code, new_code)
    WHERE t.trn_id = ANY (v_id) AND t.trn_id = m.trn_id AND m.new_code = 390 AND m.old_code <> 390;
  END IF;
  IF v_done_candidates > 0 THEN
    UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
    FROM unnest(v_id, v_old, v_new, v_open) AS m(trn_id, old_code, new_code, n_open)
    WHERE t.trn_id = ANY (v_id) AND t.trn_id = m.trn_id AND m.new_code = 411 AND m.n_open = 0 AND m.old_code <> 411
      AND t.n_rcps_open = 0 AND t.trnstatus = 411;
  END IF;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

-- A record's open recipients and its completion, from arrays.
CREATE FUNCTION al.bump_trns_for_rcps(p_trn_ids bigint[], p_deltas int[], p_reopened boolean[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- One entry per record. Parents are locked in id order (no deadlocks).
  PERFORM 1 FROM al.trns WHERE trn_id = ANY (p_trn_ids) ORDER BY trn_id FOR UPDATE;
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
  FROM unnest(p_trn_ids, p_deltas, p_reopened) AS x(trn_id, d, reopened)
  WHERE t.trn_id = ANY (p_trn_ids) AND t.trn_id = x.trn_id
    AND (x.d <> 0 OR (x.reopened AND t.trnstatus IN (411, 999)) OR (t.trnstatus = 411 AND t.n_rcps_open = 0));
END $$;
COMMENT ON FUNCTION al.bump_trns_for_rcps(bigint[], int[], boolean[]) IS
  'Internal: moves records'' open-recipient counts by p_deltas; a reopened record goes back to 401, a batched one with none open to 999';

-- The jsonb form (sql/021, still called by the recipients' insert roll-up)
-- unpacks its entries and hands them to the array form: one place moves a
-- record's open recipients.
CREATE OR REPLACE FUNCTION al.bump_trns_for_rcps(p_changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM al.bump_trns_for_rcps(array_agg((e->>'trn_id')::bigint), array_agg((e->>'d')::int),
                                array_agg(coalesce((e->>'reopened')::bool, false)))
  FROM jsonb_array_elements(p_changes) e;
END $$;

CREATE OR REPLACE FUNCTION al.rcps_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_id bigint[];     -- the statement's rows, sorted by rcp_id
  v_trn bigint[];
  v_job bigint[];
  v_old int[];
  v_new int[];
  v_errors text[];
BEGIN
  SELECT array_agg(rcpstatus ORDER BY rcp_id) INTO v_old FROM old_rows;
  SELECT array_agg(rcp_id ORDER BY rcp_id), array_agg(trn_id ORDER BY rcp_id),
         array_agg(job_id ORDER BY rcp_id), array_agg(rcpstatus ORDER BY rcp_id)
  INTO v_id, v_trn, v_job, v_new
  FROM new_rows;
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF v_old IS NOT DISTINCT FROM v_new THEN
    RETURN NULL;
  END IF;

  PERFORM al.check_status_moves('RCPS', v_id, v_old, v_new,
                                'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel');

  IF al.setting('history_items') = 'on' THEN
    SELECT array_agg(error ORDER BY rcp_id) INTO v_errors FROM new_rows;
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'RCPS', m.rcp_id, m.old_code, m.new_code, al.actor(), m.error
    FROM unnest(v_id, v_old, v_new, v_errors) AS m(rcp_id, old_code, new_code, error)
    WHERE m.old_code <> m.new_code;
  END IF;

  PERFORM al.bump_trns_for_rcps(array_agg(x.trn_id), array_agg(x.d), array_agg(x.reopened))
  FROM (SELECT m.trn_id,
               sum((al.rcps_bucket(m.new_code) = 1)::int - (al.rcps_bucket(m.old_code) = 1)::int)::int AS d,
               bool_or(m.new_code = 401) AS reopened
        FROM unnest(v_trn, v_old, v_new) AS m(trn_id, old_code, new_code)
        WHERE m.old_code <> m.new_code
        GROUP BY 1) x
  WHERE x.d <> 0 OR x.reopened
  HAVING count(*) > 0;

  -- The job last: its row stays locked until commit.
  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', x.job_id, 'ob', x.ob, 'nb', x.nb, 'k', x.k)))
  FROM (SELECT m.job_id, al.rcps_bucket(m.old_code) AS ob, al.rcps_bucket(m.new_code) AS nb, count(*) AS k
        FROM unnest(v_job, v_old, v_new) AS m(job_id, old_code, new_code)
        WHERE al.rcps_bucket(m.old_code) <> al.rcps_bucket(m.new_code)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION al.pubs_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_id bigint[];     -- the statement's rows, sorted by pub_id
  v_old int[];
  v_new int[];
BEGIN
  SELECT array_agg(pubstatus ORDER BY pub_id) INTO v_old FROM old_rows;
  SELECT array_agg(pub_id ORDER BY pub_id), array_agg(pubstatus ORDER BY pub_id) INTO v_id, v_new FROM new_rows;
  IF v_old IS NOT DISTINCT FROM v_new THEN
    RETURN NULL;
  END IF;
  PERFORM al.check_status_moves('PUBS', v_id, v_old, v_new, 'publications follow their batch');
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'PUBS', m.pub_id, m.old_code, m.new_code, al.actor(), NULL
    FROM unnest(v_id, v_old, v_new) AS m(pub_id, old_code, new_code)
    WHERE m.old_code <> m.new_code;
  END IF;
  RETURN NULL;
END $$;
