-- 036: al.advance_jobs announces a barrier (al_ready 'barrier') only when
-- the job stays at 290, that is when records wait there for al.open_barriers.
-- A barrier of up to 1 000 records is opened by the roll-up itself
-- (sql/029), and the job passes 290 on to 311 in the same loop; the
-- announcement then cost the scheduler a call of al.open_barriers that
-- released nothing, on the way between the last assembled record and the
-- distributors' claim (bench/latency, PostgreSQL's statement log).

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
      IF next_code = 290 AND target = 290 THEN
        -- The job stays at the barrier: the scheduler releases its records
        -- (al.open_barriers). A job on its way past 290 has none waiting.
        PERFORM pg_notify('al_ready', 'barrier');
      END IF;
      j.jobstatus := next_code;
    END LOOP;
  END LOOP;
END $$;
COMMENT ON FUNCTION al.advance_jobs(bigint[]) IS
  'Steps identified jobs towards the code their counters call for (called by the roll-up triggers); opens a barrier of up to 1 000 records itself and announces a bigger one for al.open_barriers';
