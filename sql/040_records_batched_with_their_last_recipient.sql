-- 040: a fill moves its records with their recipients. Until now the
-- records of a job went 401 -> 411 in one step after its last fill (step 2
-- of al.form_batches), so every batch delivered before that step had its
-- records written three times: the open-recipient count at delivery while
-- they waited at 401, then 411, then 999. At 100 000 records 40 of the 200
-- batches were complete before the job reached 411 (20 500 extra record
-- updates); at 1 000 000 step 2 came at 242 of 350 s, and the records took
-- 9.25-10.2 updates each instead of 9.
--
-- Now the fill moves a record 401 -> 411 in the same transaction as its
-- last recipient waiting for a batch: its completion (411 -> 999) is then
-- written with its delivery, one write. Step 2 stays as a sweep for the
-- records no fill moved (their recipients skipped by an admin before a
-- fill); a job whose fills moved every record reaches 411 with the last of
-- them and needs no step 2.
--
-- A job can now pass 390 with a batch still formed and unfilled: an admin
-- moved the records of its planned recipients out of 401 (skip, cancel of
-- records) before its fill, and the other fills moved the rest. Such a
-- batch still counts as presenting, so al.form_batches also takes the jobs
-- with a batch at 401, whatever their code, and cancels it (888) or fills
-- it as before; otherwise the job would never reach 999.

-- jit = off: a young table's statistics can make the planner's estimate of
-- a fill's statements large enough for JIT compilation (about 100 ms for a
-- statement that runs in 4 ms, measured on the probe below).
CREATE OR REPLACE FUNCTION al.form_batches(p_limit int, p_batch_size int DEFAULT 500) RETURNS int LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET jit = off AS $$
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
  moved_trns bigint[];                   -- the records of the recipients assigned, sorted
  waiting bigint[];                      -- records with a recipient not in a batch (fill, step 2)
BEGIN
  IF p_batch_size < 1 THEN
    RAISE EXCEPTION 'form_batches: batch size must be at least 1, got %', p_batch_size;
  END IF;
  -- Jobs at 390, and jobs past it with a batch still to fill (see above).
  SELECT array_agg(job_id) INTO job_ids
  FROM (SELECT job_id, priority FROM al.jobs WHERE jobstatus = 390
        UNION
        SELECT pj.job_id, pj.priority FROM al.jobs pj
        WHERE pj.job_id IN (SELECT b.job_id FROM al.bchs b WHERE b.bchstatus = 401)
        ORDER BY priority DESC, job_id LIMIT p_limit) x;
  FOR j IN SELECT * FROM al.jobs WHERE job_id = ANY (job_ids) ORDER BY priority DESC, job_id
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
        RETURNING r.bch_id, r.trn_id)
      SELECT array_agg(x.bch_id ORDER BY x.bch_id), array_agg(x.k ORDER BY x.bch_id),
             (SELECT array_agg(DISTINCT m.trn_id) FROM moved m)
      INTO moved_ids, moved_k, moved_trns
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

      -- Their records, once no recipient of theirs waits for a batch: last,
      -- as the records' roll-up locks the job's row until commit. Each
      -- record is probed through rcps_trn (LATERAL ... LIMIT 1 keeps it a
      -- probe per record: as NOT EXISTS the planner made it an anti-join
      -- over every waiting recipient of the job, 49 s instead of 9 for the
      -- fills of 100 000 records; the unbatched index must not serve it
      -- either, as above).
      IF moved_trns IS NOT NULL THEN
        SELECT coalesce(array_agg(m.trn_id), '{}') INTO waiting
        FROM unnest(moved_trns) AS m(trn_id),
             LATERAL (SELECT 1 FROM al.rcps r
                      WHERE r.trn_id = m.trn_id AND coalesce(r.bch_id, 0) = 0 AND r.rcpstatus + 0 = 401
                      LIMIT 1) w;
        UPDATE al.trns t SET trnstatus = 411, status_changed_at = now()
        WHERE t.trn_id = ANY (moved_trns) AND t.trnstatus = 401 AND t.trn_id <> ALL (waiting);
      END IF;
    END IF;

    -- Step 2, a sweep: the records no fill moved whose open recipients are
    -- all in batches now (their other recipients skipped before a fill),
    -- once no batch of the job is left to fill, while the job is at 390;
    -- in the same call for a job of a few batches. Records with a recipient
    -- still waiting (one redistributed since step 1a) stay at 401, and the
    -- next call makes it a batch. Read once: as a NOT EXISTS per record, the
    -- plan kept walked the index of unbatched recipients, whose entries for
    -- every recipient batched since the last vacuum it had to visit, for
    -- each record (sql/028).
    IF (filling IS NULL OR (made IS NOT NULL AND made <= inline_batches))
       AND EXISTS (SELECT 1 FROM al.jobs WHERE job_id = j.job_id AND jobstatus = 390)
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
  'Scheduler: one batching step for each of up to p_limit jobs at 390 (or past it with a batch at 401): number the recipients waiting for a batch into batches (401, members listed) and fill the next of them, up to 2 000 recipients, with the records whose recipients are then all in batches (401 -> 411); once all are filled, move the records no fill moved; returns steps taken (call again until 0)';
