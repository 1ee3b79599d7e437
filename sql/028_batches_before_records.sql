-- 028: al.form_batches commits a job's batches before it moves the job's
-- records. Both were one transaction: for 10 000 records about 0.3 s in
-- which one statement ran and the line's other processes had nothing to do,
-- 0.12 s of it moving the records 401 -> 411 (auto_explain,
-- bench/throughput -n 10000). Now each call takes one step per job at 390:
--   1. when the job has recipients waiting for a batch: number them, make
--      the batches and fill them (401 -> 415 -> 411), as sql/022 did;
--   2. otherwise: move the records whose open recipients are all in batches
--      401 -> 411, and step the job on.
-- The scheduler calls it again while it returns steps (src/scheduler), so
-- the presenters start on the batches while step 2 runs. A job of up to two
-- batches takes both steps in one call: for it the split only adds a
-- commit and a round trip.
--
-- Between the steps a record reads 401 while its recipients are already in
-- batches: the roll-up that says so is one transaction late, as the
-- scheduler's roll-ups are. Its recipients cannot finish without it: a
-- batch that ends moves a record to 999 only from 411, and step 2 moves a
-- record whose recipients have all ended on to 999 (sql/021), as it does a
-- record without recipients. A recipient retried between the steps (back to
-- 401 without a batch) keeps its record at 401, and the next call makes it a
-- batch.
--
-- Each step locks the job's row first, and waits for it rather than skipping
-- the job: a presenter's roll-up holds that row for a moment, and a skipped
-- step 2 would have waited for the scheduler's next poll.

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
COMMENT ON FUNCTION al.form_batches(int, int) IS
  'Scheduler: one batching step for each of up to p_limit jobs at 390: make the batches of recipients waiting for one, else move the records 401 -> 411; returns steps taken (call again until 0)';
