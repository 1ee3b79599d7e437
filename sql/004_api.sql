-- 004: the integrator and admin API (SPEC §3, §4) and the scheduler's
-- set-based steps (receive, form batches).

-- Templates -----------------------------------------------------------------

CREATE FUNCTION al.put_template(name text, body text, subject text DEFAULT NULL,
                                required_fields text[] DEFAULT '{}', sort_field text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  v int;
BEGIN
  IF name IS NULL OR btrim(name) = '' THEN
    RAISE EXCEPTION 'put_template: the template name must not be empty';
  END IF;
  IF body IS NULL OR body = '' THEN
    RAISE EXCEPTION 'put_template: template % has an empty body', name;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('al.templates:' || name));
  SELECT coalesce(max(t.version), 0) + 1 INTO v FROM al.templates t WHERE t.name = put_template.name;
  INSERT INTO al.templates (name, version, body, subject, required_fields, sort_field)
  VALUES (put_template.name, v, put_template.body, put_template.subject,
          coalesce(put_template.required_fields, '{}'), put_template.sort_field);
  RETURN v;
END $$;
COMMENT ON FUNCTION al.put_template(text, text, text, text[], text) IS
  'Stores a new version of a Mustache template (subject is a Mustache template too); returns the version. Jobs pin the newest version at submission';

-- Submission ----------------------------------------------------------------

CREATE FUNCTION al.newest_template_version(p_name text) RETURNS int LANGUAGE sql STABLE AS $$
  SELECT max(version) FROM al.templates WHERE name = p_name
$$;
COMMENT ON FUNCTION al.newest_template_version(text) IS 'The newest version of a template, NULL if there is none';

CREATE FUNCTION al.submit_job(template text, records jsonb, project text DEFAULT 'default',
                              callback_url text DEFAULT NULL, priority int DEFAULT 0,
                              created_by text DEFAULT current_user)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  max_records int := al.setting('max_records')::int;
  id bigint;
BEGIN
  IF jsonb_typeof(records) = 'array' AND jsonb_array_length(records) > max_records THEN
    RAISE EXCEPTION 'submit_job: % records exceed the limit of % per job (al.settings max_records)',
      jsonb_array_length(records), max_records
      USING HINT = 'split the job, or submit a CSV/JSONL file with al.submit_job_file';
  END IF;
  INSERT INTO al.jobs (jobstatus, template, template_version, records, project, callback_url, priority, created_by)
  VALUES (101, submit_job.template, al.newest_template_version(submit_job.template), submit_job.records,
          coalesce(submit_job.project, 'default'), submit_job.callback_url, coalesce(submit_job.priority, 0),
          coalesce(submit_job.created_by, current_user))
  RETURNING job_id INTO id;
  RETURN id;
END $$;
COMMENT ON FUNCTION al.submit_job(text, jsonb, text, text, int, text) IS
  'Submits a serial job: one template × a JSON array of records (each an object with the template''s fields and optional recipients [{channel, address, role}]); returns the job id at status 101';

CREATE FUNCTION al.submit_job_file(template text, path text, project text DEFAULT 'default',
                                   callback_url text DEFAULT NULL, priority int DEFAULT 0,
                                   created_by text DEFAULT current_user, format text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  fmt text := lower(coalesce(submit_job_file.format,
                             CASE WHEN submit_job_file.path ~* '\.csv$' THEN 'csv'
                                  WHEN submit_job_file.path ~* '\.(jsonl|ndjson)$' THEN 'jsonl' END));
  id bigint;
BEGIN
  IF path IS NULL OR path !~ '^/' THEN
    RAISE EXCEPTION 'submit_job_file: path % must be absolute (the identifier reads it)', path;
  END IF;
  IF fmt IS NULL OR fmt NOT IN ('csv', 'jsonl') THEN
    RAISE EXCEPTION 'submit_job_file: cannot tell the format of %: name it .csv or .jsonl, or pass format => ''csv''|''jsonl''', path;
  END IF;
  INSERT INTO al.jobs (jobstatus, template, template_version, input_path, input_format, project, callback_url,
                       priority, created_by)
  VALUES (101, submit_job_file.template, al.newest_template_version(submit_job_file.template),
          submit_job_file.path, fmt, coalesce(submit_job_file.project, 'default'), submit_job_file.callback_url,
          coalesce(submit_job_file.priority, 0), coalesce(submit_job_file.created_by, current_user))
  RETURNING job_id INTO id;
  RETURN id;
END $$;
COMMENT ON FUNCTION al.submit_job_file(text, text, text, text, int, text, text) IS
  'Submits a serial job whose records are in a CSV (header row = field names) or JSONL file that the identifier streams; returns the job id at status 101';

-- Receive: the scheduler validates pending jobs (101 → 111, or 141).
CREATE FUNCTION al.receive_jobs(p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs;
  problem text;
  pinned int;
  n int := 0;
BEGIN
  FOR j IN SELECT * FROM al.jobs WHERE jobstatus = 101
           ORDER BY priority DESC, job_id LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    problem := NULL;
    pinned := coalesce(j.template_version, al.newest_template_version(j.template));
    IF pinned IS NULL OR NOT EXISTS (SELECT 1 FROM al.templates t WHERE t.name = j.template AND t.version = pinned) THEN
      problem := format('unknown template %L: add it with al.put_template or alctl template add', j.template);
    ELSIF j.records IS NOT NULL AND jsonb_typeof(j.records) <> 'array' THEN
      problem := format('records must be a JSON array of objects, not %s', jsonb_typeof(j.records));
    ELSIF j.records IS NOT NULL AND jsonb_array_length(j.records) = 0 THEN
      problem := 'records is an empty array: a job needs at least one record';
    ELSIF j.records IS NOT NULL AND jsonb_array_length(j.records) > al.setting('max_records')::int THEN
      problem := format('%s records exceed the limit of %s per job', jsonb_array_length(j.records), al.setting('max_records'));
    ELSIF j.records IS NULL AND j.input_path IS NULL THEN
      problem := 'the job has neither records nor an input file';
    END IF;
    UPDATE al.jobs SET jobstatus = CASE WHEN problem IS NULL THEN 111 ELSE 141 END,
                       error = CASE WHEN problem IS NULL THEN NULL ELSE 'job ' || j.job_id || ': receive: ' || problem END,
                       template_version = pinned, status_changed_at = now()
    WHERE job_id = j.job_id;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.receive_jobs(int) IS 'Scheduler: validates up to p_limit pending jobs (101 → 111, or 141 with an error naming the problem)';

-- Batches: one set-based step per job at 390. The job's unbatched recipients
-- are numbered per channel in the template's sort order and cut into batches
-- of at most p_batch_size; batches are created at 401, filled at 415 and
-- closed at 411, and the job's records move on with them.
CREATE FUNCTION al.form_batches(p_limit int, p_batch_size int DEFAULT 500) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs;
  sort_key text;
  first_seq int;
  n int := 0;
BEGIN
  IF p_batch_size < 1 THEN
    RAISE EXCEPTION 'form_batches: batch size must be at least 1, got %', p_batch_size;
  END IF;
  FOR j IN SELECT * FROM al.jobs WHERE jobstatus = 390
           ORDER BY priority DESC, job_id LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    SELECT t.sort_field INTO sort_key FROM al.templates t WHERE t.name = j.template AND t.version = j.template_version;
    SELECT coalesce(max(seq), 0) INTO first_seq FROM al.bchs WHERE job_id = j.job_id;

    INSERT INTO al.bchs (job_id, channel, seq, size, bchstatus)
    SELECT j.job_id, channel, first_seq + 1 + bn, count(*), 401
    FROM (SELECT r.channel,
                 (row_number() OVER (PARTITION BY r.channel ORDER BY t.data->>sort_key, r.rcp_id) - 1)
                   / p_batch_size AS bn
          FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id
          WHERE r.job_id = j.job_id AND r.rcpstatus = 401) numbered
    GROUP BY channel, bn;

    UPDATE al.bchs SET bchstatus = 415, status_changed_at = now()
    WHERE job_id = j.job_id AND bchstatus = 401 AND seq > first_seq;

    UPDATE al.rcps r SET bch_id = b.bch_id, rcpstatus = 411, status_changed_at = now()
    FROM (SELECT r2.rcp_id, r2.channel,
                 (row_number() OVER (PARTITION BY r2.channel ORDER BY t.data->>sort_key, r2.rcp_id) - 1)
                   / p_batch_size AS bn
          FROM al.rcps r2 JOIN al.trns t ON t.trn_id = r2.trn_id
          WHERE r2.job_id = j.job_id AND r2.rcpstatus = 401) numbered
    JOIN al.bchs b ON b.job_id = j.job_id AND b.channel = numbered.channel AND b.seq = first_seq + 1 + numbered.bn
    WHERE r.rcp_id = numbered.rcp_id;

    UPDATE al.bchs SET bchstatus = 411, status_changed_at = now()
    WHERE job_id = j.job_id AND bchstatus = 415 AND seq > first_seq;

    UPDATE al.trns SET trnstatus = 411, status_changed_at = now()
    WHERE job_id = j.job_id AND trnstatus = 401;

    PERFORM al.advance_jobs(ARRAY[j.job_id]);
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.form_batches(int, int) IS
  'Scheduler: forms the batches (per job and channel, template sort order, at most p_batch_size recipients) of up to p_limit jobs at 390';

-- Admin actions ---------------------------------------------------------------

CREATE FUNCTION al.job_or_raise(p_job_id bigint) RETURNS al.jobs LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs;
BEGIN
  SELECT * INTO j FROM al.jobs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job %: not found', p_job_id USING ERRCODE = 'no_data_found';
  END IF;
  IF j.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'job %: deleted at %', p_job_id, j.deleted_at;
  END IF;
  RETURN j;
END $$;
COMMENT ON FUNCTION al.job_or_raise(bigint) IS 'Internal: locks a job for an admin action; raises if it does not exist or was deleted';

CREATE FUNCTION al.release_job(p_job_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs := al.job_or_raise(p_job_id);
BEGIN
  UPDATE al.jobs SET held = false WHERE job_id = p_job_id AND held;
  IF j.jobstatus = 0 THEN
    UPDATE al.jobs SET jobstatus = 101, status_changed_at = now() WHERE job_id = p_job_id;
  END IF;
  PERFORM pg_notify('al_ready', '');
  RETURN p_job_id;
END $$;
COMMENT ON FUNCTION al.release_job(bigint) IS 'Releases a job: one inserted on hold (0) becomes pending (101); a held job''s items are claimed again';

CREATE FUNCTION al.hold_job(p_job_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM al.job_or_raise(p_job_id);
  UPDATE al.jobs SET held = true WHERE job_id = p_job_id;
  RETURN p_job_id;
END $$;
COMMENT ON FUNCTION al.hold_job(bigint) IS 'Holds a job: the scheduler claims none of its items until al.release_job (items in flight finish)';

CREATE FUNCTION al.retry_job(p_job_id bigint, p_stage text DEFAULT NULL, p_unknown boolean DEFAULT false)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs := al.job_or_raise(p_job_id);
  h int := CASE WHEN p_stage IS NULL THEN NULL ELSE (al.stage(p_stage)).hundreds END;
  n int := 0;
  k int;
BEGIN
  IF j.jobstatus = 888 THEN
    RAISE EXCEPTION 'job %: cancelled; submit it again instead', p_job_id;
  END IF;
  IF j.jobstatus = 141 AND (h IS NULL OR h = 1) THEN
    UPDATE al.jobs SET jobstatus = 101, attempt = attempt + 1, tries = 0, status_changed_at = now()
    WHERE job_id = p_job_id;
    RETURN 1;
  END IF;
  UPDATE al.trns SET trnstatus = trnstatus - 30, attempt = attempt + 1, tries = 0, status_changed_at = now()
  WHERE job_id = p_job_id AND trnstatus IN (241, 341) AND (h IS NULL OR trnstatus / 100 = h);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  -- A failed notification is redone on its batch; other failed batches have
  -- already failed their recipients, which go into new batches.
  UPDATE al.bchs SET bchstatus = 711, attempt = attempt + 1, tries = 0, status_changed_at = now()
  WHERE job_id = p_job_id AND bchstatus = 741 AND (h IS NULL OR h = 7);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  -- Recipients not yet delivered; "outcome unknown" ones only on an operator's word.
  UPDATE al.rcps r SET rcpstatus = 401, attempt = attempt + 1, bch_id = NULL, status_changed_at = now(),
                       error = NULL
  WHERE r.job_id = p_job_id AND r.rcpstatus IN (341, 541, 641)
    AND (h IS NULL OR (r.rcpstatus = 341 AND h = 3) OR (r.rcpstatus <> 341 AND h >= 4))
    AND NOT EXISTS (SELECT 1 FROM al.deliveries d WHERE d.rcp_id = r.rcp_id AND d.state = 'sent')
    AND (p_unknown OR NOT EXISTS (SELECT 1 FROM al.deliveries d WHERE d.rcp_id = r.rcp_id AND d.state = 'intent'));
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  IF p_unknown THEN
    DELETE FROM al.deliveries d USING al.rcps r
    WHERE d.rcp_id = r.rcp_id AND r.job_id = p_job_id AND r.rcpstatus = 401 AND d.state = 'intent';
  END IF;
  PERFORM pg_notify('al_ready', '');
  RETURN n;
END $$;
COMMENT ON FUNCTION al.retry_job(bigint, text, boolean) IS
  'Reattempt: puts a job''s failed items (optionally of one stage) back to their ready state; recipients already sent are never re-sent, "outcome unknown" ones only with p_unknown. Returns items retried';

CREATE FUNCTION al.skip_job(p_job_id bigint) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  n int := 0;
  k int;
BEGIN
  PERFORM al.job_or_raise(p_job_id);
  UPDATE al.trns SET trnstatus = 888, attempt = attempt + 1, error = 'skipped manually: ' || coalesce(error, ''),
                     status_changed_at = now()
  WHERE job_id = p_job_id AND trnstatus IN (241, 341);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  UPDATE al.rcps SET rcpstatus = 888, attempt = attempt + 1, error = 'skipped manually: ' || coalesce(error, ''),
                     status_changed_at = now()
  WHERE job_id = p_job_id AND rcpstatus IN (341, 541, 641);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  UPDATE al.bchs SET bchstatus = 888, attempt = attempt + 1, error = 'skipped manually: ' || coalesce(error, ''),
                     status_changed_at = now()
  WHERE job_id = p_job_id AND bchstatus IN (441, 541, 641, 741);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.skip_job(bigint) IS 'Skip erroneous: cancels a job''s failed items (888, reason "skipped manually"); returns items skipped';

CREATE FUNCTION al.cancel_job(p_job_id bigint) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  j al.jobs := al.job_or_raise(p_job_id);
  n int := 0;
  k int;
BEGIN
  IF j.jobstatus IN (888, 999) THEN
    RAISE EXCEPTION 'job %: already %; nothing to cancel', p_job_id,
      CASE j.jobstatus WHEN 888 THEN 'cancelled' ELSE 'complete' END;
  END IF;
  -- The job first, so the roll-ups leave it alone; then everything not yet
  -- delivered. attempt + 1 fences out workers still holding items.
  UPDATE al.jobs SET jobstatus = 888, attempt = attempt + 1, error = 'cancelled', status_changed_at = now()
  WHERE job_id = p_job_id;
  -- Records before batches: a batch that ends completes the records whose
  -- recipients are all terminal, and these must read cancelled, not complete.
  UPDATE al.trns SET trnstatus = 888, attempt = attempt + 1, error = 'cancelled', status_changed_at = now()
  WHERE job_id = p_job_id AND trnstatus NOT IN (888, 999);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  UPDATE al.bchs SET bchstatus = 888, attempt = attempt + 1, error = 'cancelled', status_changed_at = now()
  WHERE job_id = p_job_id AND bchstatus NOT IN (888, 999);
  GET DIAGNOSTICS k = ROW_COUNT; n := n + k;
  -- Recipients still open; those in the batches above went with them.
  UPDATE al.rcps SET rcpstatus = 888, attempt = attempt + 1, error = 'cancelled', status_changed_at = now()
  WHERE job_id = p_job_id AND rcpstatus IN (341, 401, 411, 541, 641);
  SELECT n + count(*) INTO n FROM al.rcps WHERE job_id = p_job_id AND rcpstatus = 888 AND error LIKE '%cancelled';
  RETURN n;
END $$;
COMMENT ON FUNCTION al.cancel_job(bigint) IS 'Cancels a job and everything of it not yet delivered (888, reason "cancelled"); returns items cancelled';

-- Views -----------------------------------------------------------------------

CREATE VIEW al.status_board AS
WITH counts AS (
  SELECT 'JOBS' AS object, jobstatus AS code, count(*) AS n FROM al.jobs GROUP BY 2
  UNION ALL SELECT 'TRNS', trnstatus, count(*) FROM al.trns GROUP BY 2
  UNION ALL SELECT 'RCPS', rcpstatus, count(*) FROM al.rcps GROUP BY 2
  UNION ALL SELECT 'BCHS', bchstatus, count(*) FROM al.bchs GROUP BY 2
  UNION ALL SELECT 'PUBS', pubstatus, count(*) FROM al.pubs GROUP BY 2
)
SELECT c.object, c.code, s.name, c.n AS count
FROM counts c JOIN al.status_codes s USING (object, code)
ORDER BY array_position(ARRAY['JOBS', 'TRNS', 'RCPS', 'BCHS', 'PUBS'], c.object), c.code;
COMMENT ON VIEW al.status_board IS 'How many objects sit at each status code, with the code''s name';

CREATE FUNCTION al.job_state(j al.jobs) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN j.deleted_at IS NOT NULL THEN 'deleted'
    WHEN j.jobstatus = 888 THEN 'cancelled'
    WHEN j.jobstatus = 0 OR (j.held AND j.jobstatus <> 999) THEN 'on hold'
    WHEN j.jobstatus = 101 THEN 'pending'
    WHEN j.jobstatus IN (111, 121) THEN 'waiting for processing'
    WHEN j.jobstatus = 131 THEN 'reading recipients'
    WHEN j.jobstatus = 141 THEN 'failed'
    WHEN j.jobstatus <> 999 AND EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = j.job_id
                                          AND b.bchstatus = 611 AND b.not_before > now())
      THEN 'waiting for continuation'
    WHEN j.jobstatus <> 999 THEN 'in progress'
    WHEN j.n_trns_failed + j.n_rcps_failed > 0 THEN 'created with ' || (j.n_trns_failed + j.n_rcps_failed) || ' errors'
    WHEN j.n_rcps_excluded > 0 THEN 'incompletely sent (' || j.n_rcps_excluded || ' excluded)'
    WHEN EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = j.job_id AND b.channel = 'email') THEN 'sent'
    ELSE 'created' END
$$;
COMMENT ON FUNCTION al.job_state(al.jobs) IS 'The lifecycle word of a job (SPEC §4): pending, in progress, created with N errors, …';

CREATE VIEW al.job_overview AS
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
       j.status_changed_at
FROM al.jobs j JOIN al.status_codes s ON s.object = 'JOBS' AND s.code = j.jobstatus;
COMMENT ON VIEW al.job_overview IS 'One row per job: when, what, its state in words and its counts per outcome';
