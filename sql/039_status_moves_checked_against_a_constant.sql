-- 039: the status triggers check moves against a constant, and the batches'
-- roll-up runs only the steps its statement calls for.
--
-- Every statement that moves a status runs its table's trigger, and each
-- trigger checked the statement's moves with al.check_status_moves (or, for
-- records since sql/038, al.status_moves_legal): a nested PL/pgSQL call whose
-- query took the DISTINCT moves and looked each up in al.status_transitions,
-- calling al.trns_via_processed / al.bchs_via_processed for each. About
-- 0.3 ms a statement however few its rows, and its plan took 5-8 ms to make
-- on each connection (bench/throughput --profile). The legal moves are now
-- one constant per object, al.legal_status_moves(object), encoded as
-- from_code * 1000 + to_code: the planner folds the call into the query, and
-- a move is tested by a hashed `<> ALL`. The function is written from
-- al.status_transitions (and the two-hop moves al.finish writes) by
-- al.write_legal_status_moves(), which a trigger on al.status_transitions
-- runs after every change, so the two cannot disagree. al.check_status_moves,
-- which names the offending item, now runs only when a move is illegal.
--
-- Batches move one at a time (a claim, an acknowledgement, an outcome: 240
-- statements of one row for a 10 000-record job), and the batches' trigger
-- ran every one of its queries for each: the carry-along of publications and
-- of recipients and the job's counters each asked the database whether
-- there was anything to do. Each is now run only when one of the statement's
-- new codes calls for it, tested on the arrays without a query.
--
-- Measured on the database of a finished 10 000-record run, in loops of 900
-- one-row batch moves 411 -> 421 -> 431 -> 411 (claim, acknowledgement,
-- requeue), each loop a transaction rolled back, old and new triggers
-- alternated: 0.29 ms a move before, 0.21 ms after (medians of 12 loops).
-- Per 10 000 records the check's own statements took about 75 ms and its
-- plans 46 ms (bench/throughput --profile).

CREATE FUNCTION al.write_legal_status_moves() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_cases text;
BEGIN
  SELECT string_agg(format('WHEN %L THEN %L::int[]', x.object, x.moves), ' ' ORDER BY x.object) INTO v_cases
  FROM (SELECT m.object, array_agg(DISTINCT m.from_code * 1000 + m.to_code) AS moves
        FROM (SELECT t.object, t.from_code, t.to_code FROM al.status_transitions t
              UNION  -- a worker's x90 and the step after it, written at once by al.finish
              SELECT a.object, a.code, b.code
              FROM al.status_codes a JOIN al.status_codes b USING (object)
              WHERE (a.object = 'TRNS' AND al.trns_via_processed(a.code, b.code) IS NOT NULL)
                 OR (a.object = 'BCHS' AND al.bchs_via_processed(a.code, b.code) IS NOT NULL)) m
        GROUP BY m.object) x;
  EXECUTE format($f$
    CREATE OR REPLACE FUNCTION al.legal_status_moves(p_object text) RETURNS int[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L$f$,
    'SELECT CASE p_object ' || coalesce(v_cases, '') || ' ELSE ''{}''::int[] END');
  COMMENT ON FUNCTION al.legal_status_moves(text) IS
    'The legal status moves of an object (JOBS TRNS RCPS BCHS PUBS), each from_code * 1000 + to_code: al.status_transitions and the two-hop moves of al.finish. Written by al.write_legal_status_moves(); do not edit';
  GRANT EXECUTE ON FUNCTION al.legal_status_moves(text) TO al_integrator, al_admin, al_worker, al_scheduler;
END $$;
COMMENT ON FUNCTION al.write_legal_status_moves() IS
  'Internal: (re)writes al.legal_status_moves from al.status_transitions; run by a trigger after every change of that table';

CREATE FUNCTION al.status_transitions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM al.write_legal_status_moves();
  RETURN NULL;
END $$;
CREATE TRIGGER status_transitions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON al.status_transitions
  FOR EACH STATEMENT EXECUTE FUNCTION al.status_transitions_changed();

SELECT al.write_legal_status_moves();

-- The test of sql/038, on the constant (its arrays are a statement's few
-- groups of moves).
CREATE OR REPLACE FUNCTION al.status_moves_legal(p_object text, p_old int[], p_new int[]) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_legal int[] := al.legal_status_moves(p_object);
BEGIN
  RETURN NOT EXISTS (SELECT 1 FROM unnest(p_old, p_new) AS m(o, n)
                     WHERE m.o <> m.n AND m.o * 1000 + m.n <> ALL (v_legal));
END $$;

CREATE OR REPLACE FUNCTION al.rcps_after_update() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
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

  IF EXISTS (SELECT 1 FROM unnest(v_old, v_new) AS m(o, n)
             WHERE m.o <> m.n AND m.o * 1000 + m.n <> ALL (al.legal_status_moves('RCPS'))) THEN
    PERFORM al.check_status_moves('RCPS', v_id, v_old, v_new,
                                  'legal moves are listed in al.status_transitions; use alctl retry/skip/cancel');
  END IF;

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

CREATE OR REPLACE FUNCTION al.pubs_after_update() RETURNS trigger LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan AS $$
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
  IF EXISTS (SELECT 1 FROM unnest(v_old, v_new) AS m(o, n)
             WHERE m.o <> m.n AND m.o * 1000 + m.n <> ALL (al.legal_status_moves('PUBS'))) THEN
    PERFORM al.check_status_moves('PUBS', v_id, v_old, v_new, 'publications follow their batch');
  END IF;
  IF al.setting('history_items') = 'on' THEN
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'PUBS', m.pub_id, m.old_code, m.new_code, al.actor(), NULL
    FROM unnest(v_id, v_old, v_new) AS m(pub_id, old_code, new_code)
    WHERE m.old_code <> m.new_code;
  END IF;
  RETURN NULL;
END $$;

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
