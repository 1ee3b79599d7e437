-- 002: roll-ups. Statement-level triggers with transition tables move every
-- parent in the same transaction as its children, at O(changed rows): per-job
-- counters are moved by the deltas of one statement (UPDATE … SET n = n + d),
-- never by counting siblings. The same triggers check every status change
-- against al.status_transitions (the guard) and write al.status_history.

CREATE FUNCTION al.actor() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('al.actor', true), ''), current_user::text)
$$;
COMMENT ON FUNCTION al.actor() IS 'Who is changing statuses: the process name set with set_config(''al.actor'', …), else the database user';

CREATE FUNCTION al.setting(p_key text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT value FROM al.settings WHERE key = p_key
$$;
COMMENT ON FUNCTION al.setting(text) IS 'The value of one al.settings key';

CREATE FUNCTION al.advancing() RETURNS bool LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('al.advancing', true), '') = 'on'
$$;
COMMENT ON FUNCTION al.advancing() IS 'True inside al.advance_jobs: nested triggers leave the job step to it';

-- Buckets: which job counter a child's code belongs to.
CREATE FUNCTION al.trns_bucket(p_code int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_code IN (190, 201, 211, 221, 231) THEN 1  -- assembling
    WHEN p_code IN (290, 301) THEN 2                 -- at the barrier
    WHEN p_code IN (311, 321, 331) THEN 3            -- distributing
    WHEN p_code IN (390, 401) THEN 4                 -- waiting for batches
    WHEN p_code IN (411, 415, 421, 431, 490) THEN 5  -- batched
    WHEN p_code IN (241, 341, 441, 541) THEN 6       -- failed
    WHEN p_code = 999 THEN 7
    WHEN p_code = 888 THEN 8
    ELSE 0 END
$$;

CREATE FUNCTION al.bchs_bucket(p_code int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_code IN (401, 411, 415, 421, 431) THEN 1  -- presenting
    WHEN p_code IN (441, 541, 641, 741) THEN 3       -- failed
    WHEN p_code IN (888, 999) THEN 0                 -- done
    ELSE 2 END                                       -- open, presented
$$;

CREATE FUNCTION al.rcps_bucket(p_code int) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN p_code IN (401, 411) THEN 1       -- open
    WHEN p_code = 999 THEN 2               -- delivered
    WHEN p_code IN (341, 541, 641) THEN 3  -- failed
    WHEN p_code = 388 THEN 4               -- excluded
    WHEN p_code = 888 THEN 5               -- cancelled
    ELSE 0 END
$$;

-- The job's code: the least advanced stage of its live children.
CREATE FUNCTION al.job_target(j al.jobs) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN j.n_trns_assembling > 0 THEN 211
    WHEN j.n_trns_at_barrier > 0 THEN 290
    WHEN j.n_trns_distributing > 0 THEN 311
    WHEN j.n_trns_unbatched > 0 THEN 390
    WHEN j.n_bchs_presenting > 0 THEN 411
    WHEN j.n_bchs_open > 0 THEN 490
    ELSE 999 END
$$;
COMMENT ON FUNCTION al.job_target(al.jobs) IS 'The code an identified job should have, from its counters: the least advanced stage of its live children';

-- Moves identified jobs one canonical code at a time (211 → 290 → 311 → 390
-- → 411 → 490 → 999) towards al.job_target, opening the TRNS barrier on the
-- way; straight back when retried items reopen an earlier stage. The SET
-- clause marks nested triggers so they leave the stepping to this loop.
CREATE FUNCTION al.advance_jobs(p_job_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET al.advancing TO 'on' AS $$
DECLARE
  flow constant int[] := ARRAY[211, 290, 311, 390, 411, 490, 999];
  j al.jobs;
  target int;
  next_code int;
BEGIN
  FOR j IN SELECT * FROM al.jobs
           WHERE job_id = ANY (p_job_ids) AND jobstatus = ANY (flow)
           ORDER BY job_id FOR UPDATE
  LOOP
    LOOP
      IF j.n_trns_assembling = 0 AND j.n_trns_at_barrier > 0 THEN
        -- The barrier opens: every record is assembled (or failed).
        UPDATE al.trns SET trnstatus = 311, status_changed_at = now()
        WHERE job_id = j.job_id AND trnstatus = 301;
        SELECT * INTO j FROM al.jobs WHERE job_id = j.job_id;
      END IF;
      target := al.job_target(j);
      EXIT WHEN target = j.jobstatus;
      IF array_position(flow, target) > array_position(flow, j.jobstatus) THEN
        next_code := flow[array_position(flow, j.jobstatus) + 1];
      ELSE
        next_code := target;
      END IF;
      UPDATE al.jobs SET jobstatus = next_code, status_changed_at = now(), error = NULL
      WHERE job_id = j.job_id;
      j.jobstatus := next_code;
    END LOOP;
  END LOOP;
END $$;
COMMENT ON FUNCTION al.advance_jobs(bigint[]) IS
  'Steps identified jobs towards the code their counters call for (called by the roll-up triggers)';

-- A human-readable summary of a job, as sent with al_job_done and webhooks.
CREATE FUNCTION al.job_summary(j al.jobs) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'job_id', j.job_id, 'status', j.jobstatus, 'project', j.project, 'template', j.template,
    'n_records', j.n_records,
    'records_failed', j.n_trns_failed, 'records_cancelled', j.n_trns_cancelled,
    'recipients_delivered', j.n_rcps_delivered, 'recipients_failed', j.n_rcps_failed,
    'recipients_excluded', j.n_rcps_excluded, 'recipients_cancelled', j.n_rcps_cancelled,
    'errors', j.n_trns_failed + j.n_rcps_failed,
    'completed_at', now())
$$;
COMMENT ON FUNCTION al.job_summary(al.jobs) IS 'JSON summary of a job: counts per outcome (payload of al_job_done and of the webhook)';

-- JOBS ----------------------------------------------------------------------

CREATE FUNCTION al.jobs_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'JOBS', n.job_id, NULL, n.jobstatus, al.actor(), 'created' FROM new_rows n;
  IF EXISTS (SELECT 1 FROM new_rows WHERE jobstatus = 101) THEN
    PERFORM pg_notify('al_ready', 'receive');
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION al.jobs_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
  done al.jobs;
  identified bigint[];
BEGIN
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF NOT EXISTS (SELECT job_id, jobstatus FROM new_rows EXCEPT SELECT job_id, jobstatus FROM old_rows) THEN
    RETURN NULL;
  END IF;
  SELECT o.job_id, o.jobstatus AS old_code, n.jobstatus AS new_code INTO bad
  FROM old_rows o JOIN new_rows n USING (job_id)
  WHERE o.jobstatus <> n.jobstatus
    AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = 'JOBS' AND t.from_code = o.jobstatus AND t.to_code = n.jobstatus);
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'JOBS %: illegal status change % -> %', bad.job_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation',
            HINT = 'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel/hold/release';
  END IF;

  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'JOBS', n.job_id, o.jobstatus, n.jobstatus, al.actor(), n.error
  FROM old_rows o JOIN new_rows n USING (job_id)
  WHERE o.jobstatus <> n.jobstatus;

  IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (job_id)
             WHERE n.jobstatus = 101 AND o.jobstatus <> 101) THEN
    PERFORM pg_notify('al_ready', 'receive');
  END IF;
  IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n USING (job_id)
             WHERE n.jobstatus = 390 AND o.jobstatus <> 390) THEN
    PERFORM pg_notify('al_ready', 'batch');
  END IF;

  FOR done IN SELECT n.* FROM old_rows o JOIN new_rows n USING (job_id)
              WHERE n.jobstatus = 999 AND o.jobstatus <> 999
  LOOP
    INSERT INTO al.job_events (job_id, kind, payload)
    VALUES (done.job_id, 'job_done', al.job_summary(done));
    PERFORM pg_notify('al_job_done', al.job_summary(done)::text);
  END LOOP;

  IF NOT al.advancing() THEN
    SELECT array_agg(n.job_id) INTO identified
    FROM old_rows o JOIN new_rows n USING (job_id)
    WHERE n.jobstatus = 211 AND o.jobstatus IN (111, 131);
    IF identified IS NOT NULL THEN
      PERFORM al.advance_jobs(identified);
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_after_insert AFTER INSERT ON al.jobs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.jobs_after_insert();
CREATE TRIGGER jobs_after_update AFTER UPDATE ON al.jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.jobs_after_update();

-- TRNS ----------------------------------------------------------------------

-- Moves the job counters by the bucket changes of one TRNS statement.
CREATE FUNCTION al.bump_jobs_for_trns(p_changes jsonb) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  touched bigint[];
BEGIN
  WITH c AS (
    SELECT (e->>'job_id')::bigint AS job_id, (e->>'ob')::int AS ob, (e->>'nb')::int AS nb, (e->>'k')::int AS k
    FROM jsonb_array_elements(p_changes) e
  ), d AS (
    SELECT job_id,
      sum(k * ((nb = 1)::int - (ob = 1)::int)) AS d1, sum(k * ((nb = 2)::int - (ob = 2)::int)) AS d2,
      sum(k * ((nb = 3)::int - (ob = 3)::int)) AS d3, sum(k * ((nb = 4)::int - (ob = 4)::int)) AS d4,
      sum(k * ((nb = 5)::int - (ob = 5)::int)) AS d5, sum(k * ((nb = 6)::int - (ob = 6)::int)) AS d6,
      sum(k * ((nb = 7)::int - (ob = 7)::int)) AS d7, sum(k * ((nb = 8)::int - (ob = 8)::int)) AS d8
    FROM c GROUP BY job_id
  ), locked AS (
    SELECT j.job_id FROM al.jobs j WHERE j.job_id IN (SELECT job_id FROM d) ORDER BY j.job_id FOR UPDATE
  ), u AS (
    UPDATE al.jobs j SET
      n_trns_assembling = n_trns_assembling + d.d1, n_trns_at_barrier = n_trns_at_barrier + d.d2,
      n_trns_distributing = n_trns_distributing + d.d3, n_trns_unbatched = n_trns_unbatched + d.d4,
      n_trns_batched = n_trns_batched + d.d5, n_trns_failed = n_trns_failed + d.d6,
      n_trns_done = n_trns_done + d.d7, n_trns_cancelled = n_trns_cancelled + d.d8
    FROM d WHERE j.job_id = d.job_id AND j.job_id IN (SELECT job_id FROM locked)
    RETURNING j.job_id
  )
  SELECT array_agg(job_id) INTO touched FROM u;
  RETURN touched;
END $$;

CREATE FUNCTION al.trns_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  touched bigint[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  SELECT al.bump_jobs_for_trns(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', 0, 'nb', b, 'k', k)))
  INTO touched
  FROM (SELECT job_id, al.trns_bucket(trnstatus) AS b, count(*) AS k FROM new_rows GROUP BY 1, 2) x;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'TRNS', trn_id, NULL, trnstatus, al.actor(), error FROM new_rows;
  END IF;
  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION al.trns_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
                    WHERE t.object = 'TRNS' AND t.from_code = o.trnstatus AND t.to_code = n.trnstatus);
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'TRNS %: illegal status change % -> %', bad.trn_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation',
            HINT = 'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel';
  END IF;

  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'TRNS', n.trn_id, o.trnstatus, n.trnstatus, al.actor(), n.error
    FROM old_rows o JOIN new_rows n USING (trn_id) WHERE o.trnstatus <> n.trnstatus;
  END IF;

  SELECT al.bump_jobs_for_trns(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  INTO touched
  FROM (SELECT n.job_id, al.trns_bucket(o.trnstatus) AS ob, al.trns_bucket(n.trnstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (trn_id)
        WHERE al.trns_bucket(o.trnstatus) <> al.trns_bucket(n.trnstatus)
        GROUP BY 1, 2, 3) x;

  -- The step after x90, in the same transaction: assembled records wait at
  -- the barrier, distributed ones wait for their batches, and a batched
  -- record whose recipients are all terminal is complete.
  UPDATE al.trns t SET trnstatus = 301, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND n.trnstatus = 290 AND o.trnstatus <> 290;
  UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND n.trnstatus = 390 AND o.trnstatus <> 390;
  UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
  FROM new_rows n JOIN old_rows o USING (trn_id)
  WHERE t.trn_id = n.trn_id AND n.trnstatus = 411 AND o.trnstatus <> 411 AND t.n_rcps_open = 0
    AND t.trnstatus = 411;

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER trns_after_insert AFTER INSERT ON al.trns
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.trns_after_insert();
CREATE TRIGGER trns_after_update AFTER UPDATE ON al.trns
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.trns_after_update();

-- RCPS ----------------------------------------------------------------------

-- Moves job outcome counters and each record's count of open recipients by
-- the bucket changes of one RCPS statement; then completes records with no
-- open recipient left and reopens records whose recipients were retried.
CREATE FUNCTION al.bump_for_rcps(p_changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  WITH c AS (
    SELECT (e->>'job_id')::bigint AS job_id, (e->>'ob')::int AS ob, (e->>'nb')::int AS nb, (e->>'k')::int AS k
    FROM jsonb_array_elements(p_changes) e
  ), d AS (
    SELECT job_id,
      sum(k * ((nb = 1)::int - (ob = 1)::int)) AS d1, sum(k * ((nb = 2)::int - (ob = 2)::int)) AS d2,
      sum(k * ((nb = 3)::int - (ob = 3)::int)) AS d3, sum(k * ((nb = 4)::int - (ob = 4)::int)) AS d4,
      sum(k * ((nb = 5)::int - (ob = 5)::int)) AS d5
    FROM c GROUP BY job_id
  ), locked AS (
    SELECT j.job_id FROM al.jobs j WHERE j.job_id IN (SELECT job_id FROM d) ORDER BY j.job_id FOR UPDATE
  )
  UPDATE al.jobs j SET
    n_rcps_open = n_rcps_open + d.d1, n_rcps_delivered = n_rcps_delivered + d.d2,
    n_rcps_failed = n_rcps_failed + d.d3, n_rcps_excluded = n_rcps_excluded + d.d4,
    n_rcps_cancelled = n_rcps_cancelled + d.d5
  FROM d WHERE j.job_id = d.job_id AND j.job_id IN (SELECT job_id FROM locked);
END $$;

CREATE FUNCTION al.bump_trns_for_rcps(p_changes jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- p_changes: [{trn_id, d: change in open recipients, reopened: a recipient went back to 401}]
  PERFORM 1 FROM al.trns
  WHERE trn_id IN (SELECT (e->>'trn_id')::bigint FROM jsonb_array_elements(p_changes) e)
  ORDER BY trn_id FOR UPDATE;
  UPDATE al.trns t SET n_rcps_open = t.n_rcps_open + x.d
  FROM (SELECT (e->>'trn_id')::bigint AS trn_id, (e->>'d')::int AS d FROM jsonb_array_elements(p_changes) e) x
  WHERE t.trn_id = x.trn_id AND x.d <> 0;
  -- Retried recipients wait for new batches: their record waits with them.
  UPDATE al.trns t SET trnstatus = 401, status_changed_at = now()
  FROM (SELECT (e->>'trn_id')::bigint AS trn_id FROM jsonb_array_elements(p_changes) e
        WHERE (e->>'reopened')::bool) x
  WHERE t.trn_id = x.trn_id AND t.trnstatus IN (411, 999);
  -- A batched record whose recipients are all terminal is complete.
  UPDATE al.trns t SET trnstatus = 999, status_changed_at = now()
  FROM (SELECT (e->>'trn_id')::bigint AS trn_id FROM jsonb_array_elements(p_changes) e) x
  WHERE t.trn_id = x.trn_id AND t.trnstatus = 411 AND t.n_rcps_open = 0;
END $$;

CREATE FUNCTION al.rcps_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', 0, 'nb', b, 'k', k)))
  FROM (SELECT job_id, al.rcps_bucket(rcpstatus) AS b, count(*) AS k FROM new_rows GROUP BY 1, 2) x;
  PERFORM al.bump_trns_for_rcps(jsonb_agg(jsonb_build_object('trn_id', trn_id, 'd', k, 'reopened', false)))
  FROM (SELECT trn_id, count(*) AS k FROM new_rows WHERE al.rcps_bucket(rcpstatus) = 1 GROUP BY 1) x
  HAVING count(*) > 0;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'RCPS', rcp_id, NULL, rcpstatus, al.actor(), error FROM new_rows;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION al.rcps_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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

  PERFORM al.bump_for_rcps(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  FROM (SELECT n.job_id, al.rcps_bucket(o.rcpstatus) AS ob, al.rcps_bucket(n.rcpstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (rcp_id)
        WHERE al.rcps_bucket(o.rcpstatus) <> al.rcps_bucket(n.rcpstatus)
        GROUP BY 1, 2, 3) x
  HAVING count(*) > 0;

  PERFORM al.bump_trns_for_rcps(jsonb_agg(jsonb_build_object('trn_id', trn_id, 'd', d, 'reopened', reopened)))
  FROM (SELECT n.trn_id,
               sum((al.rcps_bucket(n.rcpstatus) = 1)::int - (al.rcps_bucket(o.rcpstatus) = 1)::int) AS d,
               bool_or(n.rcpstatus = 401 AND o.rcpstatus <> 401) AS reopened
        FROM old_rows o JOIN new_rows n USING (rcp_id)
        WHERE o.rcpstatus <> n.rcpstatus
        GROUP BY 1) x
  WHERE d <> 0 OR reopened
  HAVING count(*) > 0;
  RETURN NULL;
END $$;

CREATE TRIGGER rcps_after_insert AFTER INSERT ON al.rcps
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.rcps_after_insert();
CREATE TRIGGER rcps_after_update AFTER UPDATE ON al.rcps
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.rcps_after_update();

-- BCHS ----------------------------------------------------------------------

CREATE FUNCTION al.bump_jobs_for_bchs(p_changes jsonb) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
  touched bigint[];
BEGIN
  WITH c AS (
    SELECT (e->>'job_id')::bigint AS job_id, (e->>'ob')::int AS ob, (e->>'nb')::int AS nb, (e->>'k')::int AS k
    FROM jsonb_array_elements(p_changes) e
  ), d AS (
    SELECT job_id,
      sum(k * ((nb = 1)::int - (ob = 1)::int)) AS d1, sum(k * ((nb = 2)::int - (ob = 2)::int)) AS d2,
      sum(k * ((nb = 3)::int - (ob = 3)::int)) AS d3
    FROM c GROUP BY job_id
  ), locked AS (
    SELECT j.job_id FROM al.jobs j WHERE j.job_id IN (SELECT job_id FROM d) ORDER BY j.job_id FOR UPDATE
  ), u AS (
    UPDATE al.jobs j SET
      n_bchs_presenting = n_bchs_presenting + d.d1, n_bchs_open = n_bchs_open + d.d2,
      n_bchs_failed = n_bchs_failed + d.d3
    FROM d WHERE j.job_id = d.job_id AND j.job_id IN (SELECT job_id FROM locked)
    RETURNING j.job_id
  )
  SELECT array_agg(job_id) INTO touched FROM u;
  RETURN touched;
END $$;

CREATE FUNCTION al.bchs_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
    RETURN NULL;
  END IF;
  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  SELECT 'BCHS', bch_id, NULL, bchstatus, al.actor(), 'created' FROM new_rows;
  PERFORM al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', 0, 'nb', b, 'k', k)))
  FROM (SELECT job_id, al.bchs_bucket(bchstatus) AS b, count(*) AS k FROM new_rows GROUP BY 1, 2) x
  HAVING count(*) > 0;
  RETURN NULL;
END $$;

CREATE FUNCTION al.bchs_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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

  SELECT al.bump_jobs_for_bchs(jsonb_agg(jsonb_build_object('job_id', job_id, 'ob', ob, 'nb', nb, 'k', k)))
  INTO touched
  FROM (SELECT n.job_id, al.bchs_bucket(o.bchstatus) AS ob, al.bchs_bucket(n.bchstatus) AS nb, count(*) AS k
        FROM old_rows o JOIN new_rows n USING (bch_id)
        WHERE al.bchs_bucket(o.bchstatus) <> al.bchs_bucket(n.bchstatus)
        GROUP BY 1, 2, 3) x;

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

  IF touched IS NOT NULL AND NOT al.advancing() THEN
    PERFORM al.advance_jobs(touched);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER bchs_after_insert AFTER INSERT ON al.bchs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.bchs_after_insert();
CREATE TRIGGER bchs_after_update AFTER UPDATE ON al.bchs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.bchs_after_update();

-- PUBS: the guard only (they follow their batch).
CREATE FUNCTION al.pubs_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  -- Statement triggers fire for zero rows too, and counter or panel updates
  -- change no status: leave at once (this also ends nested roll-ups).
  IF NOT EXISTS (SELECT pub_id, pubstatus FROM new_rows EXCEPT SELECT pub_id, pubstatus FROM old_rows) THEN
    RETURN NULL;
  END IF;
  SELECT o.pub_id, o.pubstatus AS old_code, n.pubstatus AS new_code INTO bad
  FROM old_rows o JOIN new_rows n USING (pub_id)
  WHERE o.pubstatus <> n.pubstatus
    AND NOT EXISTS (SELECT 1 FROM al.status_transitions t
                    WHERE t.object = 'PUBS' AND t.from_code = o.pubstatus AND t.to_code = n.pubstatus);
  -- No LIMIT 1: with one, the planner bets on an early hit and nests loops over
  -- both transition tables, O(n²) when every move is legal.
  IF FOUND THEN
    RAISE EXCEPTION 'PUBS %: illegal status change % -> %', bad.pub_id, bad.old_code, bad.new_code
      USING ERRCODE = 'check_violation', HINT = 'publications follow their batch';
  END IF;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'PUBS', n.pub_id, o.pubstatus, n.pubstatus, al.actor(), NULL
    FROM old_rows o JOIN new_rows n USING (pub_id) WHERE o.pubstatus <> n.pubstatus;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER pubs_after_update AFTER UPDATE ON al.pubs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION al.pubs_after_update();
