-- 031: a record's status changes are written in place (heap-only updates).
--
-- PostgreSQL can write a new row version on the same page without touching
-- any index (a HOT update) only when no indexed column changes. Every index
-- of al.trns but the keys named the status (trns_ready, trns_inflight,
-- trns_job_waiting, trns_suspect), so each of a record's nine status changes
-- wrote a new entry into three or four indexes: 90 000 non-HOT updates per
-- 10 000 records, 11-13 us each. Nine passes of 500-row status updates over
-- 10 000 such rows took 0.85-1.06 s with those indexes, 0.57-0.73 s with the
-- layout below, and 0.30-0.33 s with no status index at all.
--
-- The claims still need the ready and in-flight records of a stage, so one
-- column, `lane`, generated from the status, names the queue a record is in
-- and changes only when it enters or leaves one:
--   21 / 31  ready for the assembler / distributor (211 / 311), never tried;
--   22 / 32  ready again after a worker acknowledged it and never finished
--            (tries > 0): a suspect, claimed alone;
--   23 / 33  sent or acknowledged (x21 / x31), watched for timeouts;
--   NULL     everything else (at the barrier, waiting for batches, done).
-- Acknowledging (x21 -> x31), batching (401 -> 411) and completing (411 ->
-- 999) stay in the same lane and are HOT; so are the counter updates.
--
-- What the dropped indexes served is found otherwise:
--   * the claims, pass-through and requeues of records read trns_lane;
--   * a job's failed records (console, alctl watch, last_error in
--     al.job_overview) are read through trns_job_failed, the records with an
--     error (a failed record always has one: finish, the identifier and the
--     requeues write it), as al.rcps does since 021;
--   * barrier release and batching read the job's records by (job_id, seq),
--     as al.open_barriers already did: they move every record anyway;
--   * retry, skip and cancel of a job read its records by (job_id, seq):
--     an operator's action on one job, not a hot path.

ALTER TABLE al.trns ADD COLUMN lane smallint GENERATED ALWAYS AS (
  CASE WHEN trnstatus IN (211, 311) THEN trnstatus / 10 + CASE WHEN tries > 0 THEN 1 ELSE 0 END
       WHEN trnstatus IN (221, 231, 321, 331) THEN trnstatus / 100 * 10 + 3 END) STORED;
COMMENT ON COLUMN al.trns.lane IS
  'Queue the record is in, from its status (written by PostgreSQL): 21/31 ready, 22/32 ready suspect, 23/33 in flight for the assembler/distributor; NULL otherwise';

-- al.trns keeps 40 % of each page free since 022: room for those versions.
DROP INDEX al.trns_ready, al.trns_inflight, al.trns_job_waiting, al.trns_suspect;
CREATE INDEX trns_lane ON al.trns (lane, trn_id) WHERE lane IS NOT NULL;
CREATE INDEX trns_job_failed ON al.trns (job_id, trn_id) WHERE error IS NOT NULL;

-- The record claims of al.claim, by lane. The lane is tested as a range and
-- the rows ordered by (lane, trn_id): only trns_lane yields that order, so
-- the plan reads the first rows of the lane whatever the planner estimates.
-- Tested as `lane = …` and ordered by trn_id, the planner (which assumes a
-- lane's rows are spread evenly over the ids) read the primary key instead
-- and skipped every record before the first ready one (a job of 1 000 000
-- records, 500 000 at the barrier: 62 ms a claim, or 150-220 ms to sort the
-- whole lane in a generic plan, against 0.3-0.5 ms).
CREATE FUNCTION al.claim_trns(p_hundreds int, p_limit int, p_worker text, p_held bigint[])
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql AS $$
DECLARE
  v_ready smallint := p_hundreds * 10 + 1;
  v_suspect smallint := p_hundreds * 10 + 2;
  v_scheduled int := p_hundreds * 100 + 21;
BEGIN
  RETURN QUERY
    WITH c AS (SELECT r.trn_id FROM al.trns r
               WHERE r.lane >= v_suspect AND r.lane <= v_suspect AND r.job_id <> ALL (p_held)
               ORDER BY r.lane, r.trn_id LIMIT 1 FOR UPDATE OF r SKIP LOCKED)
    UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    FROM c WHERE t.trn_id = c.trn_id RETURNING t.trn_id, t.attempt;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY
    WITH c AS (SELECT r.trn_id FROM al.trns r
               WHERE r.lane >= v_ready AND r.lane <= v_ready AND r.job_id <> ALL (p_held)
               ORDER BY r.lane, r.trn_id LIMIT p_limit FOR UPDATE OF r SKIP LOCKED)
    UPDATE al.trns t SET trnstatus = v_scheduled, worker = p_worker, status_changed_at = now()
    FROM c WHERE t.trn_id = c.trn_id RETURNING t.trn_id, t.attempt;
END $$;
COMMENT ON FUNCTION al.claim_trns(int, int, text, bigint[]) IS
  'Internal: al.claim for the record stages; a suspect alone, else up to p_limit ready records in id order';

CREATE OR REPLACE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
    RETURN QUERY SELECT * FROM al.claim_trns(s.hundreds, p_limit, p_worker, v_held);
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

-- The condition that finds a stage's items in state p_code (x11 or x21/x31)
-- through an index: for records, their lane (as a range, see al.claim_trns).
CREATE FUNCTION al.stage_items_at(p_stage text, p_state int) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT format('t.%I = %s', s.status_col, s.hundreds * 100 + p_state)
         || CASE WHEN s.tbl <> 'trns' THEN ''
                 WHEN p_state = 11 THEN format(' AND t.lane >= %s AND t.lane <= %s', s.hundreds * 10 + 1, s.hundreds * 10 + 2)
                 ELSE format(' AND t.lane >= %s AND t.lane <= %s', s.hundreds * 10 + 3, s.hundreds * 10 + 3) END
  FROM al.stages s WHERE s.name = p_stage
$$;
COMMENT ON FUNCTION al.stage_items_at(text, int) IS
  'Internal: SQL condition on alias t for the items of a stage at x<p_state>, written so an index serves it';

CREATE OR REPLACE FUNCTION al.pass_through(p_stage text, p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I x SET %3$I = $1, status_changed_at = now()
     WHERE x.%2$I IN (SELECT t.%2$I FROM al.%1$I t WHERE %4$s ORDER BY %5$s LIMIT $2 FOR UPDATE SKIP LOCKED)',
    s.tbl, s.id_col, s.status_col, al.stage_items_at(p_stage, 11),
    CASE WHEN s.tbl = 'trns' THEN 't.lane, t.trn_id' ELSE format('t.%I', s.id_col) END)
    USING s.done_code, p_limit;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION al.requeue(p_stage text, p_where text, p_arg text, p_max_attempts int, p_why text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n1 int;
  n2 int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $1, attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = format(''%4$s: sent to %%s but not acknowledged (%%s); requeued'', t.worker, $3)
     WHERE %6$s AND %5$s',
    s.tbl, s.id_col, s.status_col, p_stage, p_where, al.stage_items_at(p_stage, 21))
    USING s.hundreds * 100 + 11, NULL::int, p_why, p_arg;
  GET DIAGNOSTICS n1 = ROW_COUNT;
  EXECUTE format(
    'UPDATE al.%1$I t SET
            %3$I = CASE WHEN t.tries >= $5 THEN $6 ELSE $1 END,
            attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = CASE WHEN t.tries >= $5
              THEN format(''%4$s: quarantined after %%s attempts: each time the worker died or timed out (last: %%s, %%s); fix the cause, then alctl retry'', t.tries, t.worker, $3)
              ELSE format(''%4$s: worker %%s did not finish (%%s); requeued, attempt %%s of %%s'', t.worker, $3, t.tries, $5) END
     WHERE %6$s AND %5$s',
    s.tbl, s.id_col, s.status_col, p_stage, p_where, al.stage_items_at(p_stage, 31))
    USING s.hundreds * 100 + 11, NULL::int, p_why, p_arg, p_max_attempts, s.hundreds * 100 + 41;
  GET DIAGNOSTICS n2 = ROW_COUNT;
  RETURN n1 + n2;
END $$;

-- The sweeps walk the in-flight lane with a plain index scan: it marks the
-- entries of records that have left the lane dead in the index as it meets
-- them, and later sweeps skip them. A bitmap scan (the planner's choice)
-- never marks them and visits every such record again on each sweep: at
-- 100 000 records, 121 000 entries and 35-60 ms a sweep, twice a second
-- (auto_explain of bench/throughput).
ALTER FUNCTION al.requeue(text, text, text, int, text) SET enable_bitmapscan = off;

CREATE OR REPLACE FUNCTION al.requeue_unacknowledged(p_stage text, p_why text) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  -- x21 only: never acknowledged, so it costs no attempt (tries stays); the
  -- attempt + 1 fences out a worker that acknowledges it after all.
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $1, attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = format(''%4$s: sent to %%s but not acknowledged (%%s); requeued'', t.worker, $2)
     WHERE %5$s',
    s.tbl, s.id_col, s.status_col, p_stage, al.stage_items_at(p_stage, 21))
    USING s.hundreds * 100 + 11, p_why;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
ALTER FUNCTION al.requeue_unacknowledged(text, text) SET enable_bitmapscan = off;

-- A job's last error, through the index of records with an error.
CREATE OR REPLACE VIEW al.job_overview AS
SELECT j.job_id, j.created_at, j.project, j.template, j.template_version, j.created_by,
       j.jobstatus, s.name AS status_name, al.job_state(j) AS state,
       j.n_records,
       j.n_trns_failed + j.n_rcps_failed AS errors,
       j.n_trns_failed AS records_failed,
       j.n_trns_cancelled AS records_cancelled,
       j.n_rcps_delivered AS recipients_delivered,
       j.n_rcps_failed AS recipients_failed,
       j.n_rcps_excluded AS recipients_excluded,
       j.n_rcps_cancelled AS recipients_cancelled,
       j.n_rcps_open AS recipients_open,
       j.held, j.priority, j.callback_url, j.delete_after, j.deleted_at,
       j.error AS job_error,
       (SELECT t.error FROM al.trns t
        WHERE t.job_id = j.job_id AND t.error IS NOT NULL AND t.trnstatus IN (241, 341)
        ORDER BY t.status_changed_at DESC LIMIT 1) AS last_error,
       j.status_changed_at,
       j.deleted_reason,
       j.closed_at,
       j.closed_by
FROM al.jobs j JOIN al.status_codes s ON s.object = 'JOBS' AND s.code = j.jobstatus;

-- The scheduler's gauges (al_stage_items, al_stage_oldest_ready_seconds):
-- per state x11/x21/x31/x41 of a stage, its item count, and as state 0 the
-- age of the ready item the next claim takes; no count reads more than the
-- items in flight or failed.
CREATE FUNCTION al.stage_gauges(p_stage text) RETURNS TABLE (state int, value float8)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  h int := s.hundreds * 100;
  ready smallint := s.hundreds * 10 + 1;
  suspect smallint := s.hundreds * 10 + 2;
  in_flight smallint := s.hundreds * 10 + 3;
BEGIN
  IF s.tbl = 'trns' THEN
    RETURN QUERY
      -- Ready: the jobs' records in the stage (their roll-up counters, kept
      -- exact by the roll-ups) less those in flight. Counting the ready lane
      -- itself reads every ready record, each time: 150-250 ms every 5 s
      -- with 300 000 records waiting (auto_explain of bench/throughput).
      WITH flight AS (
        SELECT t.trnstatus % 100 AS state, count(*)::float8 AS n
        FROM al.trns t WHERE t.lane >= in_flight AND t.lane <= in_flight GROUP BY 1)
      SELECT 11, greatest(0, (SELECT coalesce(sum(CASE WHEN s.hundreds = 2 THEN j.n_trns_assembling
                                                       ELSE j.n_trns_distributing END), 0)::float8
                              FROM al.jobs j)
                             - (SELECT coalesce(sum(f.n), 0) FROM flight f))
      UNION ALL
      SELECT f.state, f.n FROM flight f
      UNION ALL
      SELECT 41, count(*)::float8 FROM al.trns t WHERE t.error IS NOT NULL AND t.trnstatus = h + 41
      UNION ALL
      SELECT 0, coalesce(extract(epoch FROM now() - coalesce(
        (SELECT t.status_changed_at FROM al.trns t WHERE t.lane >= suspect AND t.lane <= suspect
         ORDER BY t.lane, t.trn_id LIMIT 1),
        (SELECT t.status_changed_at FROM al.trns t WHERE t.lane >= ready AND t.lane <= ready
         ORDER BY t.lane, t.trn_id LIMIT 1)))::float8, 0);
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    'SELECT %3$I %% 100, count(*)::float8 FROM al.%1$I WHERE %3$I IN ($1 + 11, $1 + 21, $1 + 31, $1 + 41) GROUP BY 1
     UNION ALL
     SELECT 0, coalesce((SELECT extract(epoch FROM now() - status_changed_at)::float8 FROM al.%1$I
                         WHERE %3$I = $1 + 11 ORDER BY %2$s LIMIT 1), 0)',
    s.tbl, CASE WHEN s.tbl = 'jobs' THEN 'priority DESC, job_id' ELSE quote_ident(s.id_col) END, s.status_col)
    USING h;
END $$;
COMMENT ON FUNCTION al.stage_gauges(text) IS
  'Scheduler metrics: items of a stage per state (11, 21, 31, 41) and, as state 0, the age in seconds of the ready item claimed next';

GRANT EXECUTE ON FUNCTION al.stage_gauges(text), al.stage_items_at(text, int) TO al_scheduler;
