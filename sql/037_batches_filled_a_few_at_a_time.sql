-- 037: al.form_batches fills a job's batches a few at a time. Step 1 of
-- sql/028 numbered the recipients, made the batches and assigned every
-- recipient in one statement: 263 ms for 10 000 recipients
-- (pg_stat_statements, bench/throughput -n 10000), 67 s for 1 000 000, in
-- which one core ran it and the other had nothing to do, as no batch was
-- ready for a presenter until the whole statement committed (perf: the
-- machine was 30-50 % idle in that phase).
--
-- Now step 1 is cut in two:
--   1a. number the recipients waiting for a batch, once, in the template's
--       sort order, and make the batches at 401 ("formed, not yet filled"),
--       each listing its recipients in al.bchs.members;
--   1b. fill the next of the job's batches at 401, in order, up to 2 000
--       recipients a call (at least one batch): assign the recipients
--       (401 -> 411), empty members, 401 -> 415 -> 411.
-- The scheduler calls again while steps are taken (src/scheduler), so the
-- presenters start on the first batches while the rest are filled. Step 2
-- (the records, 401 -> 411) follows once no batch of the job is left at
-- 401; for a job of up to two batches all of it is still one call.
--
-- The numbering is done once and kept in the batches, not redone for each
-- call: a job's recipients are read and sorted once, and each fill finds
-- its recipients by primary key. Recipients that come to 401 while a job
-- has batches to fill (a record redistributed) are numbered into new
-- batches after those are filled. A planned recipient that has left 401
-- meanwhile (skipped by an admin) is not assigned; a batch left with none
-- is cancelled (888) with the reason, never sent on empty.

ALTER TABLE al.bchs ADD COLUMN members bigint[];
COMMENT ON COLUMN al.bchs.members IS
  'While the batch is at 401 (formed, not yet filled): its recipients, in sort order; al.form_batches assigns them and empties it';
CREATE INDEX bchs_unfilled ON al.bchs (job_id, seq) WHERE bchstatus = 401;
COMMENT ON INDEX al.bchs_unfilled IS 'A job''s batches formed and not yet filled, in order (al.form_batches)';

CREATE OR REPLACE FUNCTION al.form_batches(p_limit int, p_batch_size int DEFAULT 500) RETURNS int LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  job_ids bigint[];
  j al.jobs;
  sort_key text;
  first_seq int;
  n int := 0;
  fill_recipients constant int := 2000;  -- recipients assigned per call and job (at least one batch)
  inline_batches constant int := 2;      -- step 2 follows at once for a job of up to this many
  made int;                              -- batches made by step 1a in this call, NULL without it
  filling bigint[];                      -- batches filled by step 1b in this call
  moved_ids bigint[];                    -- of those, the ones that got recipients,
  moved_k int[];                         -- and how many
  waiting bigint[];                      -- step 2: records with a recipient not in a batch
BEGIN
  IF p_batch_size < 1 THEN
    RAISE EXCEPTION 'form_batches: batch size must be at least 1, got %', p_batch_size;
  END IF;
  SELECT array_agg(job_id) INTO job_ids
  FROM (SELECT job_id FROM al.jobs WHERE jobstatus = 390 ORDER BY priority DESC, job_id LIMIT p_limit) x;
  FOR j IN SELECT * FROM al.jobs WHERE job_id = ANY (job_ids) AND jobstatus = 390 ORDER BY priority DESC, job_id
  LOOP
    made := NULL;
    filling := NULL;
    -- Steps 1a and 2 lock the job's row first, and wait for it rather than
    -- skip the job: a worker's roll-up holds it for a moment, and a skipped
    -- job would wait for the scheduler's next poll. A fill does not: it
    -- would hold the row, which every roll-up of the job's presenters needs,
    -- for the whole fill (the rcps roll-up bumps the job only at its end).
    IF NOT EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = j.job_id AND b.bchstatus = 401) THEN
      PERFORM 1 FROM al.jobs WHERE job_id = j.job_id AND jobstatus = 390 FOR UPDATE;
      CONTINUE WHEN NOT FOUND;
      IF EXISTS (SELECT 1 FROM al.rcps r WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401) THEN
        -- Step 1a: the batches, numbered once in the template's sort order,
        -- made in that order (so their ids are too), each with its recipients.
        SELECT t.sort_field INTO sort_key FROM al.templates t
        WHERE t.name = j.template AND t.version = j.template_version;
        SELECT coalesce(max(seq), 0) INTO first_seq FROM al.bchs WHERE job_id = j.job_id;
        INSERT INTO al.bchs (job_id, channel, seq, size, bchstatus, members)
        SELECT j.job_id, x.channel, first_seq + 1 + x.rn / p_batch_size, count(*), 401,
               array_agg(x.rcp_id ORDER BY x.rn)
        FROM (SELECT r.rcp_id, r.channel,
                     row_number() OVER (PARTITION BY r.channel ORDER BY t.data->>sort_key, r.rcp_id) - 1 AS rn
              FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id
              WHERE r.job_id = j.job_id AND r.bch_id IS NULL AND r.rcpstatus = 401) x
        GROUP BY x.channel, x.rn / p_batch_size
        ORDER BY x.channel, x.rn / p_batch_size;
        GET DIAGNOSTICS made = ROW_COUNT;
      END IF;
    END IF;

    -- Step 1b: the next batches at 401, in order, up to fill_recipients
    -- recipients (the first batch whatever its size).
    SELECT array_agg(x.bch_id ORDER BY x.seq) INTO filling
    FROM (SELECT b.bch_id, b.seq, sum(b.size) OVER (ORDER BY b.seq) - b.size AS before
          FROM al.bchs b WHERE b.job_id = j.job_id AND b.bchstatus = 401
          ORDER BY b.seq LIMIT fill_recipients) x
    WHERE x.before < fill_recipients;
    IF filling IS NOT NULL THEN
      -- Found by primary key: written so that no index of unbatched or
      -- waiting recipients can serve the tests (the planner walked the
      -- job's whole rcps_job_unbatched for each call, and nested a loop
      -- over it: 20 000 one-recipient batches timed out).
      WITH moved AS (
        UPDATE al.rcps r SET bch_id = m.bch_id, rcpstatus = 411, status_changed_at = now()
        FROM (SELECT b.bch_id, unnest(b.members) AS rcp_id FROM al.bchs b WHERE b.bch_id = ANY (filling)) m
        WHERE r.rcp_id = m.rcp_id AND coalesce(r.bch_id, 0) = 0 AND r.rcpstatus + 0 = 401
        RETURNING r.bch_id)
      SELECT array_agg(x.bch_id), array_agg(x.k) INTO moved_ids, moved_k
      FROM (SELECT bch_id, count(*)::int AS k FROM moved GROUP BY bch_id) x;

      -- Filled, then closed: the batch's history shows 401 → 415 → 411.
      UPDATE al.bchs b SET bchstatus = 415, members = NULL, size = m.k, status_changed_at = now()
      FROM unnest(moved_ids, moved_k) AS m(bch_id, k)
      WHERE b.bch_id = m.bch_id AND b.bchstatus = 401;
      UPDATE al.bchs SET bchstatus = 411, status_changed_at = now()
      WHERE bch_id = ANY (moved_ids) AND bchstatus = 415;
      -- Every recipient of a batch left 401 before it could be assigned.
      UPDATE al.bchs b SET bchstatus = 888, members = NULL, size = 0, status_changed_at = now(),
                           error = 'cancelled: its recipients were skipped or cancelled before the batch was filled'
      WHERE b.bch_id = ANY (filling) AND b.bch_id <> ALL (coalesce(moved_ids, '{}')) AND b.bchstatus = 401;
    END IF;

    -- Step 2: the records, whose open recipients are all in batches now,
    -- once no batch of the job is left to fill; in the same call for a job
    -- of a few batches. Records with a recipient still waiting (one
    -- redistributed since step 1a) stay at 401, and the next call makes it
    -- a batch. Read once: as a NOT EXISTS per record, the plan kept walked
    -- the index of unbatched recipients, whose entries for every recipient
    -- batched since the last vacuum it had to visit, for each record
    -- (sql/028).
    IF (filling IS NULL OR (made IS NOT NULL AND made <= inline_batches))
       AND NOT EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = j.job_id AND b.bchstatus = 401) THEN
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
  'Scheduler: one batching step for each of up to p_limit jobs at 390: number the recipients waiting for a batch into batches (401, members listed) and fill the next of them, up to 2 000 recipients; once all are filled, move the records 401 -> 411; returns steps taken (call again until 0)';
