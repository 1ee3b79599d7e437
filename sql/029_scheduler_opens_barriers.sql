-- 029: the scheduler opens the barrier before distribution a chunk at a
-- time. The roll-up of the job's last assembled record moved every record
-- of the job 301 -> 311 in the assembler's transaction: for 10 000 records
-- 0.12 s in which one statement ran and the distributors waited, for
-- 1 000 000 about 12 s. Now, when a job reaches 290 (every record assembled
-- or failed, identification over), al.advance_jobs only announces it
-- (al_ready 'barrier'), and the scheduler calls al.open_barriers, which
-- releases up to p_limit records per call in record order; the distributors
-- start on the first chunk while the scheduler releases the next. The job
-- stays at 290 until its last record is released, then steps on to 311
-- (its code is that of its least advanced records). A barrier of up to
-- 1 000 records (and the last 1 000 of a big one) is still opened by the
-- roll-up itself: for a one-record job the extra commit and round trip to
-- the scheduler took bench/latency -n 200 from p50 48.8 to 57.2 ms.
--
-- al.jobs.barrier_seq is how far (in seq) the release has got, so each call
-- reads only its own range of the index on (job_id, seq) instead of walking
-- past every record released before it. It starts at 0 whenever the job
-- comes to 290, so a record retried after an earlier release is found when
-- the barrier opens again.

ALTER TABLE al.jobs ADD COLUMN barrier_seq int NOT NULL DEFAULT 0;
COMMENT ON COLUMN al.jobs.barrier_seq IS
  'While the job is at 290: its records up to this seq have been released from the barrier (al.open_barriers)';
CREATE INDEX jobs_at_barrier ON al.jobs (priority DESC, job_id) WHERE jobstatus = 290;

CREATE OR REPLACE FUNCTION al.advance_jobs(p_job_ids bigint[]) RETURNS void
LANGUAGE plpgsql SET al.advancing TO 'on' AS $$
DECLARE
  flow constant int[] := ARRAY[211, 290, 311, 390, 411, 490, 999];
  inline_release constant int := 1000;  -- records released by the roll-up itself
  j al.jobs;
  target int;
  next_code int;
BEGIN
  FOR j IN SELECT * FROM al.jobs
           WHERE job_id = ANY (p_job_ids) AND jobstatus = ANY (flow)
           ORDER BY job_id FOR UPDATE
  LOOP
    LOOP
      IF j.n_trns_assembling = 0 AND j.n_trns_at_barrier BETWEEN 1 AND inline_release THEN
        -- A small barrier opens at once; a big one a chunk at a time (al.open_barriers).
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
      UPDATE al.jobs SET jobstatus = next_code, status_changed_at = now(), error = NULL,
                         barrier_seq = CASE WHEN next_code = 290 THEN 0 ELSE barrier_seq END
      WHERE job_id = j.job_id;
      IF next_code = 290 THEN
        -- The barrier opens: the scheduler releases the records (al.open_barriers).
        PERFORM pg_notify('al_ready', 'barrier');
      END IF;
      j.jobstatus := next_code;
    END LOOP;
  END LOOP;
END $$;
COMMENT ON FUNCTION al.advance_jobs(bigint[]) IS
  'Steps identified jobs towards the code their counters call for (called by the roll-up triggers); opens a barrier of up to 1 000 records itself and announces a bigger one for al.open_barriers';

CREATE FUNCTION al.open_barriers(p_limit int) RETURNS int LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  job_ids bigint[];
  j al.jobs;
  upto int;
  k int;
  n int := 0;
BEGIN
  IF p_limit < 1 THEN
    RAISE EXCEPTION 'open_barriers: limit must be at least 1, got %', p_limit;
  END IF;
  SELECT array_agg(job_id) INTO job_ids
  FROM (SELECT job_id FROM al.jobs WHERE jobstatus = 290 ORDER BY priority DESC, job_id LIMIT p_limit) x;
  -- Waits for a job's row rather than skipping the job: a distributor's
  -- roll-up holds it for a moment, and a skipped job would wait for the
  -- scheduler's next poll.
  FOR j IN SELECT * FROM al.jobs WHERE job_id = ANY (job_ids) AND jobstatus = 290
           ORDER BY priority DESC, job_id FOR UPDATE
  LOOP
    upto := j.barrier_seq;
    WHILE n < p_limit AND upto < coalesce(j.n_records, 0) LOOP
      -- `+ 0`: no index may serve the status test instead of the seq range
      -- (a partial index of the job's waiting records would be walked whole,
      -- with its dead entries, on every call).
      UPDATE al.trns SET trnstatus = 311, status_changed_at = now()
      WHERE job_id = j.job_id AND seq > upto AND seq <= upto + (p_limit - n) AND trnstatus + 0 = 301;
      GET DIAGNOSTICS k = ROW_COUNT;
      upto := upto + (p_limit - n);
      n := n + k;
    END LOOP;
    -- A job still at 290 after a whole pass (a record came to 301 behind
    -- the mark) is read again from its first record by the next call. The
    -- last release has moved the job on (its roll-up): the mark is moot then.
    UPDATE al.jobs SET barrier_seq = CASE WHEN upto >= n_records THEN 0 ELSE upto END
    WHERE job_id = j.job_id AND jobstatus = 290;
    EXIT WHEN n >= p_limit;
  END LOOP;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.open_barriers(int) IS
  'Scheduler: releases up to p_limit records of jobs at 290 from the barrier (301 -> 311), in record order; returns records released (call again until 0)';
GRANT EXECUTE ON FUNCTION al.open_barriers(int) TO al_scheduler;
