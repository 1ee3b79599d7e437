-- 006: retention (SPEC §1 delete_after, seed "deletion period"). A job past
-- created_at + delete_after loses its children — records, documents,
-- recipients, deliveries, batches, publications, events and their history —
-- in bounded steps; the job row stays as a tombstone saying when and why
-- (deleted_at, deleted_reason) with its counters, so job_overview still
-- shows what it was, as "deleted". Jobs submitted without delete_after get
-- al.settings.default_delete_after, which `alctl db migrate` copies from
-- jobs.delete_after. The archive files are the scheduler's (storage.purge_archive).

ALTER TABLE al.jobs
  ADD COLUMN deleted_reason text,
  ADD COLUMN archive_removed_at timestamptz;
COMMENT ON COLUMN al.jobs.deleted_at IS 'When retention deleted the job''s children; the row is a tombstone from then on';
COMMENT ON COLUMN al.jobs.deleted_reason IS 'Why the job was deleted: its delete_after ran out, or an admin purged it (alctl purge --older-than)';
COMMENT ON COLUMN al.jobs.archive_removed_at IS 'When the scheduler removed storage.archive_dir/<job_id> of a deleted job (storage.purge_archive)';

-- A tombstone keeps neither records nor input; every live job has one of them.
DO $$
DECLARE
  c text;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'al.jobs'::regclass AND contype = 'c'
             AND pg_get_constraintdef(oid) LIKE '%records IS NOT NULL%input_path IS NOT NULL%'
  LOOP
    EXECUTE format('ALTER TABLE al.jobs DROP CONSTRAINT %I', c);
  END LOOP;
END $$;
ALTER TABLE al.jobs ADD CONSTRAINT jobs_input_unless_deleted
  CHECK (deleted_at IS NOT NULL OR records IS NOT NULL OR input_path IS NOT NULL);

CREATE INDEX jobs_live_created ON al.jobs (created_at, job_id) WHERE deleted_at IS NULL;
CREATE INDEX jobs_archive_to_remove ON al.jobs (job_id) WHERE deleted_at IS NOT NULL AND archive_removed_at IS NULL;

INSERT INTO al.settings (key, value, doc) VALUES
  ('default_delete_after', '30 days',
   'retention of a job submitted without delete_after (a PostgreSQL interval; empty = keep forever); alctl db migrate copies jobs.delete_after here')
ON CONFLICT (key) DO NOTHING;

CREATE FUNCTION al.default_delete_after() RETURNS interval LANGUAGE sql STABLE AS $$
  SELECT nullif(btrim(al.setting('default_delete_after')), '')::interval
$$;
COMMENT ON FUNCTION al.default_delete_after() IS
  'The delete_after a new job gets when none is given: al.settings default_delete_after as an interval, NULL for keep forever';

-- Every way in (submit_job, submit_job_file, a plain INSERT) gets the default;
-- an explicit NULL keeps the job forever.
ALTER TABLE al.jobs ALTER COLUMN delete_after SET DEFAULT al.default_delete_after();

CREATE FUNCTION al.set_default_delete_after(p_value text) RETURNS interval LANGUAGE plpgsql AS $$
DECLARE
  v interval;
BEGIN
  IF p_value IS NULL OR btrim(p_value) = '' THEN
    UPDATE al.settings SET value = '' WHERE key = 'default_delete_after';
    RETURN NULL;
  END IF;
  BEGIN
    v := p_value::interval;
  EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
    RAISE EXCEPTION 'jobs.delete_after: % is not an interval', quote_literal(p_value)
      USING HINT = 'write it as PostgreSQL does, e.g. ''30 days'', ''6 months'', ''1 year''; empty keeps jobs forever';
  END;
  IF v <= interval '0' THEN
    RAISE EXCEPTION 'jobs.delete_after: % must be positive', quote_literal(p_value);
  END IF;
  UPDATE al.settings SET value = p_value WHERE key = 'default_delete_after';
  RETURN v;
END $$;
COMMENT ON FUNCTION al.set_default_delete_after(text) IS
  'Sets al.settings default_delete_after after checking it is a positive interval (empty: keep forever); alctl db migrate calls it with jobs.delete_after';

-- Which jobs are due: past their own delete_after, or (p_older_than given)
-- created longer ago than that. Only jobs at rest: on hold (0), failed (141),
-- cancelled (888) or complete (999); a job still in the line is purged once
-- it ends.
CREATE FUNCTION al.purge_due(j al.jobs, p_older_than interval) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT j.deleted_at IS NULL AND j.jobstatus IN (0, 141, 888, 999)
     AND ((j.delete_after IS NOT NULL AND j.created_at + j.delete_after < now())
          OR (p_older_than IS NOT NULL AND j.created_at < now() - p_older_than))
$$;
COMMENT ON FUNCTION al.purge_due(al.jobs, interval) IS
  'True when retention may delete the job: at rest (0, 141, 888, 999), not yet deleted, and past its delete_after or older than p_older_than';

-- One bounded step on the oldest due job: deletes up to p_max_rows of its
-- records with everything hanging off them; when none are left, its batches,
-- publications and events, and makes the row a tombstone (finished = true).
-- job is NULL when nothing is due.
CREATE FUNCTION al.purge_step(p_older_than interval, p_max_rows int, OUT job bigint, OUT finished boolean)
LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs;
  trn_ids bigint[];
  rcp_ids bigint[];
  bch_ids bigint[];
BEGIN
  finished := false;
  IF p_max_rows IS NULL OR p_max_rows < 1 THEN
    RAISE EXCEPTION 'purge_step: p_max_rows must be at least 1, got %', p_max_rows;
  END IF;
  SELECT * INTO j FROM al.jobs x
  WHERE x.deleted_at IS NULL AND al.purge_due(x, p_older_than)
  ORDER BY x.created_at, x.job_id LIMIT 1 FOR UPDATE SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  job := j.job_id;

  SELECT array_agg(t.trn_id) INTO trn_ids
  FROM (SELECT t0.trn_id FROM al.trns t0 WHERE t0.job_id = j.job_id LIMIT p_max_rows) t;
  IF trn_ids IS NOT NULL THEN
    SELECT array_agg(r.rcp_id) INTO rcp_ids FROM al.rcps r WHERE r.trn_id = ANY (trn_ids);
    IF rcp_ids IS NOT NULL THEN
      DELETE FROM al.status_history h
      WHERE h.object = 'PUBS' AND h.id IN (SELECT p.pub_id FROM al.pubs p WHERE p.rcp_id = ANY (rcp_ids));
      DELETE FROM al.status_history h WHERE h.object = 'RCPS' AND h.id = ANY (rcp_ids);
      DELETE FROM al.pubs p WHERE p.rcp_id = ANY (rcp_ids);
      DELETE FROM al.deliveries d WHERE d.rcp_id = ANY (rcp_ids);
      DELETE FROM al.rcps r WHERE r.rcp_id = ANY (rcp_ids);
    END IF;
    DELETE FROM al.status_history h WHERE h.object = 'TRNS' AND h.id = ANY (trn_ids);
    DELETE FROM al.documents d WHERE d.trn_id = ANY (trn_ids);
    DELETE FROM al.trns t WHERE t.trn_id = ANY (trn_ids);
    RETURN;  -- the next step goes on (and finishes the job once no record is left)
  END IF;

  SELECT array_agg(b.bch_id) INTO bch_ids FROM al.bchs b WHERE b.job_id = j.job_id;
  IF bch_ids IS NOT NULL THEN
    DELETE FROM al.status_history h
    WHERE h.object = 'PUBS' AND h.id IN (SELECT p.pub_id FROM al.pubs p WHERE p.bch_id = ANY (bch_ids));
    DELETE FROM al.status_history h WHERE h.object = 'BCHS' AND h.id = ANY (bch_ids);
    DELETE FROM al.pubs p WHERE p.bch_id = ANY (bch_ids);
    DELETE FROM al.bchs b WHERE b.bch_id = ANY (bch_ids);
  END IF;
  DELETE FROM al.job_events e WHERE e.job_id = j.job_id;
  UPDATE al.jobs x
  SET deleted_at = now(), records = NULL,
      deleted_reason = CASE
        WHEN j.delete_after IS NOT NULL AND j.created_at + j.delete_after < now()
          THEN format('retention: delete_after %s from %s ran out (deleted by %s)',
                      j.delete_after, to_char(j.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), al.actor())
        ELSE format('purged by %s: older than %s', al.actor(), p_older_than) END
  WHERE x.job_id = j.job_id;
  finished := true;
END $$;
COMMENT ON FUNCTION al.purge_step(interval, int) IS
  'Retention, one bounded step: deletes up to p_max_rows records (with their documents, recipients, deliveries, publications and history) of the oldest due job, or, when it has none left, its batches and events and marks it deleted. Returns (job, finished); job NULL when nothing is due';

CREATE FUNCTION al.purge_jobs(p_older_than interval DEFAULT NULL, p_limit int DEFAULT 100) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  s record;
  n int := 0;
BEGIN
  IF p_older_than IS NOT NULL AND p_older_than <= interval '0' THEN
    RAISE EXCEPTION 'purge: --older-than % must be a positive interval', p_older_than;
  END IF;
  WHILE n < coalesce(p_limit, 100) LOOP
    SELECT * INTO s FROM al.purge_step(p_older_than, 10000);
    EXIT WHEN s.job IS NULL;
    IF s.finished THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.purge_jobs(interval, int) IS
  'Retention: deletes the children of up to p_limit jobs past their delete_after (or created longer ago than p_older_than) and keeps each job row as a tombstone (deleted_at, deleted_reason); returns the jobs deleted. The scheduler runs the same in small steps every minute';

-- The overview names why a job was deleted (columns appended: CREATE OR
-- REPLACE VIEW keeps the existing ones in place).
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
       (SELECT t.error FROM al.trns t WHERE t.job_id = j.job_id AND t.trnstatus IN (241, 341)
        ORDER BY t.status_changed_at DESC LIMIT 1) AS last_error,
       j.status_changed_at,
       j.deleted_reason
FROM al.jobs j JOIN al.status_codes s ON s.object = 'JOBS' AND s.code = j.jobstatus;
COMMENT ON VIEW al.job_overview IS 'One row per job: when, what, its state in words ("deleted" for a tombstone, with deleted_reason) and its counts per outcome';
