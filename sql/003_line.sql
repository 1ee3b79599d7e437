-- 003: the functions the scheduler and the workers call (docs/internals.md).
-- Every status write of a process goes through these, fenced by attempt.

CREATE TABLE al.stages (
  name       text PRIMARY KEY,
  position   int  NOT NULL UNIQUE,
  tbl        text NOT NULL,
  id_col     text NOT NULL,
  status_col text NOT NULL,
  hundreds   int  NOT NULL,
  done_code  int  NOT NULL  -- what "processed" means for this stage
);
INSERT INTO al.stages VALUES
  ('identifier',  1, 'jobs', 'job_id', 'jobstatus', 1, 211),
  ('assembler',   2, 'trns', 'trn_id', 'trnstatus', 2, 290),
  ('distributor', 3, 'trns', 'trn_id', 'trnstatus', 3, 390),
  ('presenter',   4, 'bchs', 'bch_id', 'bchstatus', 4, 490),
  ('archiver',    5, 'bchs', 'bch_id', 'bchstatus', 5, 590),
  ('publisher',   6, 'bchs', 'bch_id', 'bchstatus', 6, 690),
  ('notifier',    7, 'bchs', 'bch_id', 'bchstatus', 7, 790);
COMMENT ON TABLE al.stages IS 'The seven worker stages: which table and status hundreds each works';

CREATE FUNCTION al.stage(p_stage text) RETURNS al.stages LANGUAGE plpgsql STABLE AS $$
DECLARE
  s al.stages;
BEGIN
  SELECT * INTO s FROM al.stages WHERE name = p_stage;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown stage %', p_stage
      USING HINT = 'stages are identifier, assembler, distributor, presenter, archiver, publisher, notifier';
  END IF;
  RETURN s;
END $$;
COMMENT ON FUNCTION al.stage(text) IS 'The al.stages row of a stage name; raises for unknown names';

-- Scheduler: claim ready items of a stage (x11 → x21), FIFO, skipping held
-- jobs and throttled batches; the caller commits before sending the ids.
CREATE FUNCTION al.claim(p_stage text, p_limit int, p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  extra text := CASE WHEN s.tbl = 'bchs' THEN 'AND (t.not_before IS NULL OR t.not_before <= now())' ELSE '' END;
BEGIN
  IF s.tbl = 'jobs' THEN
    RETURN QUERY EXECUTE
      'WITH c AS (SELECT job_id FROM al.jobs WHERE jobstatus = 111 AND NOT held
                  ORDER BY priority DESC, job_id LIMIT $1 FOR UPDATE SKIP LOCKED)
       UPDATE al.jobs t SET jobstatus = 121, worker = $2, status_changed_at = now()
       FROM c WHERE t.job_id = c.job_id RETURNING t.job_id, t.attempt'
      USING p_limit, p_worker;
  ELSE
    RETURN QUERY EXECUTE format(
      'WITH c AS (SELECT t.%2$I AS id FROM al.%1$I t
                  WHERE t.%3$I = $1 %4$s
                    AND NOT EXISTS (SELECT 1 FROM al.jobs j WHERE j.job_id = t.job_id AND j.held)
                  ORDER BY t.%2$I LIMIT $2 FOR UPDATE OF t SKIP LOCKED)
       UPDATE al.%1$I t SET %3$I = $3, worker = $4, status_changed_at = now()
       FROM c WHERE t.%2$I = c.id RETURNING t.%2$I, t.attempt',
      s.tbl, s.id_col, s.status_col, extra)
      USING s.hundreds * 100 + 11, p_limit, s.hundreds * 100 + 21, p_worker;
  END IF;
END $$;
COMMENT ON FUNCTION al.claim(text, int, text) IS
  'Scheduler: moves up to p_limit ready items of a stage to scheduled (x11 → x21) for p_worker; returns (id, attempt)';

-- Worker: acknowledge (x21 → x31), fenced by attempt; counts the try.
CREATE FUNCTION al.ack(p_stage text, p_ids bigint[], p_attempts int[], p_worker text)
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
BEGIN
  RETURN QUERY EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $3, worker = $4, tries = t.tries + 1, status_changed_at = now()
     FROM unnest($1::bigint[], $2::int[]) AS a(id, att)
     WHERE t.%2$I = a.id AND t.attempt = a.att AND t.%3$I = $5
     RETURNING t.%2$I, t.attempt',
    s.tbl, s.id_col, s.status_col)
    USING p_ids, p_attempts, s.hundreds * 100 + 31, p_worker, s.hundreds * 100 + 21;
END $$;
COMMENT ON FUNCTION al.ack(text, bigint[], int[], text) IS
  'Worker: acknowledges items (x21 → x31) whose attempt still matches; returns those acknowledged';

-- Worker: lock the items still ours (x31 at our attempt) for the work transaction.
CREATE FUNCTION al.lock_owned(p_stage text, p_ids bigint[], p_attempts int[])
RETURNS TABLE (id bigint, attempt int) LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT t.%2$I, t.attempt FROM al.%1$I t
     JOIN unnest($1::bigint[], $2::int[]) AS a(id, att) ON t.%2$I = a.id AND t.attempt = a.att
     WHERE t.%3$I = $3 ORDER BY t.%2$I FOR UPDATE OF t',
    s.tbl, s.id_col, s.status_col)
    USING p_ids, p_attempts, s.hundreds * 100 + 31;
END $$;
COMMENT ON FUNCTION al.lock_owned(text, bigint[], int[]) IS
  'Worker: locks (FOR UPDATE) the items still processing at the given attempts — the fence of a work transaction';

-- Worker: write outcomes (x31 → x90 or x41 with error), fenced by attempt.
CREATE FUNCTION al.finish(p_stage text, p_ids bigint[], p_attempts int[], p_ok boolean[], p_errors text[])
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = CASE WHEN a.ok THEN $3 ELSE $4 END,
                          error = CASE WHEN a.ok THEN NULL ELSE a.err END,
                          status_changed_at = now()
     FROM unnest($1::bigint[], $2::int[], $6::boolean[], $7::text[]) AS a(id, att, ok, err)
     WHERE t.%2$I = a.id AND t.attempt = a.att AND t.%3$I = $5',
    s.tbl, s.id_col, s.status_col)
    USING p_ids, p_attempts, s.done_code, s.hundreds * 100 + 41, s.hundreds * 100 + 31, p_ok, p_errors;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.finish(text, bigint[], int[], boolean[], text[]) IS
  'Worker: writes outcomes fenced by (id, x31, attempt): processed (x90; JOBS 211) or error (x41 with error); returns rows written';

-- Scheduler: a disabled stage is passed through (x11 → x90).
CREATE FUNCTION al.pass_through(p_stage text, p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $1, status_changed_at = now()
     WHERE t.%2$I IN (SELECT %2$I FROM al.%1$I WHERE %3$I = $2 ORDER BY %2$I LIMIT $3 FOR UPDATE SKIP LOCKED)',
    s.tbl, s.id_col, s.status_col)
    USING s.done_code, s.hundreds * 100 + 11, p_limit;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.pass_through(text, int) IS 'Scheduler: moves ready items of a disabled stage straight to processed';

-- Scheduler: stale items go back to ready with attempt + 1. An id never
-- acknowledged (x21) is not counted; an acknowledged one (x31) that has used
-- up max_attempts tries is quarantined at x41.
CREATE FUNCTION al.requeue(p_stage text, p_where text, p_arg text, p_max_attempts int, p_why text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n1 int;
  n2 int;
BEGIN
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $1, attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = format(''%4$s: sent to %%s but not acknowledged (%%s); requeued'', t.worker, $3)
     WHERE t.%3$I = $2 AND %5$s',
    s.tbl, s.id_col, s.status_col, p_stage, p_where)
    USING s.hundreds * 100 + 11, s.hundreds * 100 + 21, p_why, p_arg;
  GET DIAGNOSTICS n1 = ROW_COUNT;
  EXECUTE format(
    'UPDATE al.%1$I t SET
            %3$I = CASE WHEN t.tries >= $5 THEN $6 ELSE $1 END,
            attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = CASE WHEN t.tries >= $5
              THEN format(''%4$s: quarantined after %%s attempts: each time the worker died or timed out (last: %%s, %%s); fix the cause, then alctl retry'', t.tries, t.worker, $3)
              ELSE format(''%4$s: worker %%s did not finish (%%s); requeued, attempt %%s of %%s'', t.worker, $3, t.tries, $5) END
     WHERE t.%3$I = $2 AND %5$s',
    s.tbl, s.id_col, s.status_col, p_stage, p_where)
    USING s.hundreds * 100 + 11, s.hundreds * 100 + 31, p_why, p_arg, p_max_attempts, s.hundreds * 100 + 41;
  GET DIAGNOSTICS n2 = ROW_COUNT;
  RETURN n1 + n2;
END $$;
COMMENT ON FUNCTION al.requeue(text, text, text, int, text) IS 'Internal: shared body of al.requeue_stale and al.requeue_worker';

CREATE FUNCTION al.requeue_stale(p_stage text, p_timeout_s int, p_max_attempts int) RETURNS int
LANGUAGE sql AS $$
  SELECT al.requeue(p_stage, 't.status_changed_at < now() - make_interval(secs => $4::int)', p_timeout_s::text,
                    p_max_attempts, 'timeout ' || p_timeout_s || ' s')
$$;
COMMENT ON FUNCTION al.requeue_stale(text, int, int) IS
  'Scheduler: items of a stage scheduled or processing for longer than the timeout go back to ready (attempt + 1), or to x41 after max_attempts';

CREATE FUNCTION al.requeue_worker(p_worker text, p_max_attempts int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  s record;
  n int := 0;
BEGIN
  FOR s IN SELECT name FROM al.stages ORDER BY position LOOP
    n := n + al.requeue(s.name, 't.worker = $4', p_worker, p_max_attempts, 'worker presumed dead');
  END LOOP;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.requeue_worker(text, int) IS
  'Scheduler: every item held by a worker presumed dead goes back to ready (attempt + 1), or to x41 after max_attempts';
