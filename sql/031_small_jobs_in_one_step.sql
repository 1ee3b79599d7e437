-- 031: a small job passes its barrier and its batching in one transaction
-- again. sql/028 and sql/029 split both so that a big job's distributors and
-- presenters can start while the rest is released or moved; for a job of a
-- few records that split only added a commit (a disk flush) and a round trip
-- to the scheduler each: bench/latency -n 200 (one-record jobs) went from
-- p50 48.8 ms to 57.2 ms. Up to 1 000 records (two distributor messages, two
-- batches) the roll-up releases the barrier itself, and al.form_batches
-- moves the records right after making their batches.

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

CREATE OR REPLACE FUNCTION al.form_batches(p_limit int, p_batch_size int DEFAULT 500) RETURNS int LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  job_ids bigint[];
  j al.jobs;
  sort_key text;
  first_seq int;
  n int := 0;
  batched int;                         -- batches made by step 1, NULL without it
  inline_batches constant int := 2;    -- step 2 follows at once up to this many
  waiting bigint[];                    -- step 2: records with a recipient not in a batch
BEGIN
  IF p_batch_size < 1 THEN
    RAISE EXCEPTION 'form_batches: batch size must be at least 1, got %', p_batch_size;
  END IF;
  SELECT array_agg(job_id) INTO job_ids
  FROM (SELECT job_id FROM al.jobs WHERE jobstatus = 390 ORDER BY priority DESC, job_id LIMIT p_limit) x;
  FOR j IN SELECT * FROM al.jobs WHERE job_id = ANY (job_ids) AND jobstatus = 390
           ORDER BY priority DESC, job_id FOR UPDATE
  LOOP
    batched := NULL;
    IF EXISTS (SELECT 1 FROM al.rcps r WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401) THEN
      -- Step 1: the batches.
      SELECT t.sort_field INTO sort_key FROM al.templates t WHERE t.name = j.template AND t.version = j.template_version;
      SELECT coalesce(max(seq), 0) INTO first_seq FROM al.bchs WHERE job_id = j.job_id;

      -- Numbered once in the template's sort order; the batches are created
      -- (at 401) and their recipients assigned in one statement. A recipient
      -- finds its batch's id by position in an array (grp: the batch's rank
      -- in (channel, bn) order, which is the order the ids are made in).
      WITH numbered AS MATERIALIZED (
        SELECT x.rcp_id, x.channel, x.bn, dense_rank() OVER (ORDER BY x.channel, x.bn) AS grp
        FROM (SELECT r.rcp_id, r.channel,
                     (row_number() OVER (PARTITION BY r.channel ORDER BY t.data->>sort_key, r.rcp_id) - 1)
                       / p_batch_size AS bn
              FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id
              WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401) x
      ), made AS (
        INSERT INTO al.bchs (job_id, channel, seq, size, bchstatus)
        SELECT j.job_id, channel, first_seq + 1 + bn, count(*), 401 FROM numbered GROUP BY channel, bn
        ORDER BY channel, bn  -- batch ids in sort order
        RETURNING bch_id, channel, seq
      ), ids AS (
        SELECT array_agg(bch_id ORDER BY channel, seq) AS bch_ids FROM made
      )
      UPDATE al.rcps r SET bch_id = ids.bch_ids[nr.grp], rcpstatus = 411, status_changed_at = now()
      FROM numbered nr CROSS JOIN ids
      WHERE r.rcp_id = nr.rcp_id;

      -- Filled, then closed: the batch's history shows 401 → 415 → 411.
      UPDATE al.bchs SET bchstatus = 415, status_changed_at = now()
      WHERE job_id = j.job_id AND bchstatus = 401 AND seq > first_seq;

      UPDATE al.bchs SET bchstatus = 411, status_changed_at = now()
      WHERE job_id = j.job_id AND bchstatus = 415 AND seq > first_seq;
      GET DIAGNOSTICS batched = ROW_COUNT;
    END IF;
    -- Step 2, at once for a job of a few batches.
    IF batched IS NULL OR batched <= inline_batches THEN
      -- Step 2: the records, whose open recipients are all in batches now.
      -- Records with a recipient still waiting (one retried since step 1)
      -- stay at 401. Read once: as a NOT EXISTS per record, the plan kept
      -- walked the index of unbatched recipients, whose entries for every
      -- recipient batched since the last vacuum it had to visit, for each
      -- record: 100 000 records took 67 s (pg_stat_statements,
      -- bench/throughput -n 100000), and the job's row stayed locked.
      SELECT coalesce(array_agg(DISTINCT r.trn_id), '{}') INTO waiting
      FROM al.rcps r WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401;
      UPDATE al.trns t SET trnstatus = 411, status_changed_at = now()
      WHERE t.job_id = j.job_id AND t.trnstatus = 401 AND t.trn_id <> ALL (waiting);
      PERFORM al.advance_jobs(ARRAY[j.job_id]);
    END IF;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
