-- 011: closing a job (seed serial-correspondence-de.txt, "Abgeschlossen" /
-- "Abgeschlossen (automatisch)"). A closed job is immutable: nothing may
-- change its status, counters or hold flag any more, so retry, skip, cancel,
-- hold and release are refused with a message. Retention still purges it.
--
-- A serial e-mail sent completely — every recipient an e-mail, none failed,
-- excluded or cancelled — closes automatically when it reaches 999. Letters
-- and files are closed by hand (`alctl close`, al.close_job) once someone has
-- checked and printed or collected them, as the seed describes.

ALTER TABLE al.jobs
  ADD COLUMN closed_at timestamptz,
  ADD COLUMN closed_by text,
  ADD COLUMN closed_automatically bool NOT NULL DEFAULT false;
COMMENT ON COLUMN al.jobs.closed_at IS 'When the job was closed (immutable from then on); NULL while open';
COMMENT ON COLUMN al.jobs.closed_by IS 'Who closed it (al.actor()); "line" when it closed automatically';

-- Closing is written to al.status_history as a move from a resting code to
-- itself, so the history stays a list of legal moves.
INSERT INTO al.status_transitions (object, from_code, to_code, actor)
VALUES ('JOBS', 999, 999, 'close'), ('JOBS', 141, 141, 'close'), ('JOBS', 888, 888, 'close');

-- The guard: row-level, so it also catches roll-ups that a change to a
-- child (a manual UPDATE of al.trns, a retry) would make to the job.
CREATE FUNCTION al.jobs_closed_guard() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF OLD.closed_at IS NOT NULL
     AND (NEW.jobstatus, NEW.held, NEW.priority, NEW.attempt, NEW.error,
          NEW.n_trns_assembling, NEW.n_trns_at_barrier, NEW.n_trns_distributing, NEW.n_trns_unbatched,
          NEW.n_trns_batched, NEW.n_trns_failed, NEW.n_trns_done, NEW.n_trns_cancelled,
          NEW.n_bchs_presenting, NEW.n_bchs_open, NEW.n_bchs_failed,
          NEW.n_rcps_open, NEW.n_rcps_delivered, NEW.n_rcps_failed, NEW.n_rcps_excluded, NEW.n_rcps_cancelled,
          NEW.closed_at)
         IS DISTINCT FROM
         (OLD.jobstatus, OLD.held, OLD.priority, OLD.attempt, OLD.error,
          OLD.n_trns_assembling, OLD.n_trns_at_barrier, OLD.n_trns_distributing, OLD.n_trns_unbatched,
          OLD.n_trns_batched, OLD.n_trns_failed, OLD.n_trns_done, OLD.n_trns_cancelled,
          OLD.n_bchs_presenting, OLD.n_bchs_open, OLD.n_bchs_failed,
          OLD.n_rcps_open, OLD.n_rcps_delivered, OLD.n_rcps_failed, OLD.n_rcps_excluded, OLD.n_rcps_cancelled,
          OLD.closed_at)
  THEN
    RAISE EXCEPTION 'job %: closed % by %; a closed job cannot change', OLD.job_id,
      to_char(OLD.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), OLD.closed_by
      USING ERRCODE = 'check_violation',
            HINT = 'submit the records again as a new job if they must go out once more';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER jobs_closed_guard BEFORE UPDATE ON al.jobs
  FOR EACH ROW WHEN (OLD.closed_at IS NOT NULL) EXECUTE FUNCTION al.jobs_closed_guard();

CREATE FUNCTION al.jobs_close_automatically() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- Statement triggers fire for every UPDATE of al.jobs, zero rows included,
  -- and this one updates al.jobs itself: leave unless a job just reached 999.
  IF NOT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o USING (job_id)
                 WHERE n.jobstatus = 999 AND o.jobstatus <> 999) THEN
    RETURN NULL;
  END IF;
  WITH done AS (
    SELECT n.* FROM new_rows n JOIN old_rows o USING (job_id)
    WHERE n.jobstatus = 999 AND o.jobstatus <> 999 AND n.closed_at IS NULL
      AND n.n_trns_failed + n.n_rcps_failed + n.n_rcps_excluded + n.n_rcps_cancelled + n.n_trns_cancelled = 0
  ), closing AS (
    INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
    SELECT 'JOBS', d.job_id, 999, 999, 'line', 'closed (automatically): every e-mail sent'
    FROM done d
    WHERE EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = d.job_id AND b.channel = 'email')
      AND NOT EXISTS (SELECT 1 FROM al.bchs b WHERE b.job_id = d.job_id AND b.channel <> 'email')
    RETURNING id
  )
  UPDATE al.jobs j SET closed_at = now(), closed_by = 'line', closed_automatically = true
  FROM closing c WHERE j.job_id = c.id;
  RETURN NULL;
END $$;
-- Statement triggers fire in name order: after jobs_after_update, which
-- writes the job event the 999 brings.
CREATE TRIGGER jobs_zz_close_automatically AFTER UPDATE ON al.jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION al.jobs_close_automatically();

-- Every admin action (retry, skip, cancel, hold, release) starts here: a
-- closed job is refused with a message even when the action would change
-- nothing (the guard above catches everything that would).
CREATE OR REPLACE FUNCTION al.job_or_raise(p_job_id bigint) RETURNS al.jobs LANGUAGE plpgsql AS $$
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
  IF j.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'job %: closed % by %; a closed job cannot change', p_job_id,
      to_char(j.closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'), j.closed_by
      USING ERRCODE = 'check_violation',
            HINT = 'submit the records again as a new job if they must go out once more';
  END IF;
  RETURN j;
END $$;

CREATE FUNCTION al.close_job(p_job_id bigint) RETURNS text LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  j al.jobs;
BEGIN
  SELECT * INTO j FROM al.jobs WHERE job_id = p_job_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job %: not found', p_job_id;
  END IF;
  IF j.closed_at IS NOT NULL THEN
    RETURN 'already closed';
  END IF;
  IF j.deleted_at IS NOT NULL THEN
    RAISE EXCEPTION 'job %: deleted; there is nothing left to close', p_job_id;
  END IF;
  IF j.jobstatus NOT IN (999, 141, 888) THEN
    RAISE EXCEPTION 'job %: % (status %); a job is closed once it has come to rest', p_job_id, al.job_state(j), j.jobstatus
      USING HINT = 'wait until it completes, or cancel it first';
  END IF;
  UPDATE al.jobs SET closed_at = now(), closed_by = al.actor() WHERE job_id = p_job_id;
  INSERT INTO al.status_history (object, id, old_status, new_status, changed_by, note)
  VALUES ('JOBS', p_job_id, j.jobstatus, j.jobstatus, al.actor(), 'closed');
  RETURN 'closed';
END $$;
COMMENT ON FUNCTION al.close_job(bigint) IS
  'Closes a job that has come to rest (999, 141 or 888): it becomes immutable; retry, skip, cancel, hold and release are refused from then on. Returns closed or already closed';
REVOKE EXECUTE ON FUNCTION al.close_job(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION al.close_job(bigint) TO al_admin;

CREATE OR REPLACE FUNCTION al.job_state(j al.jobs) RETURNS text LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT CASE
    WHEN j.deleted_at IS NOT NULL THEN 'deleted'
    WHEN j.closed_automatically THEN 'closed (automatically)'
    WHEN j.closed_at IS NOT NULL THEN 'closed'
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
       j.deleted_reason,
       j.closed_at,
       j.closed_by
FROM al.jobs j JOIN al.status_codes s ON s.object = 'JOBS' AND s.code = j.jobstatus;
