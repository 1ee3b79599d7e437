-- 007: database roles with least privilege (docs/roles.md). Four NOLOGIN
-- group roles; grant them to login roles:
--   al_integrator  submits jobs and reads them (never writes a table directly)
--   al_admin       reads everything, steers jobs through the functions, may
--                  change status columns by hand (the guard still checks)
--   al_worker      what the seven workers read and write
--   al_scheduler   what the scheduler reads and writes
-- The functions that write on the caller's behalf are SECURITY DEFINER (they
-- run as the schema owner, with a fixed search_path), and so are the roll-up
-- triggers, so a role allowed to change a status column needs no rights on
-- the parents the roll-ups move. EXECUTE is taken from PUBLIC: each role gets
-- exactly the functions it calls.

DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['al_integrator', 'al_admin', 'al_worker', 'al_scheduler'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database of this cluster created it meanwhile: roles are cluster-wide
      END;
    END IF;
  END LOOP;
END $$;
COMMENT ON ROLE al_integrator IS 'Assembly Line: submits jobs (al.submit_job, al.submit_job_file) and reads them';
COMMENT ON ROLE al_admin IS 'Assembly Line: reads everything, steers jobs through the al.* functions, may change status columns by hand';
COMMENT ON ROLE al_worker IS 'Assembly Line: the worker processes (al-identifier … al-notifier)';
COMMENT ON ROLE al_scheduler IS 'Assembly Line: the scheduler process (al-scheduler)';

-- Who changed a status: the process name the line's processes set, else the
-- login role (session_user: inside SECURITY DEFINER functions current_user
-- would name the schema owner for everyone).
CREATE OR REPLACE FUNCTION al.actor() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('al.actor', true), ''), session_user::text)
$$;

-- SECURITY DEFINER with a fixed search_path: the function bodies name every
-- object with its schema, so pg_catalog is all they need.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'al'
      AND (p.prorettype = 'trigger'::regtype
           OR p.proname IN ('submit_job', 'submit_job_file', 'put_template', 'release_job', 'hold_job', 'retry_job',
                            'skip_job', 'cancel_job', 'purge_jobs', 'purge_step', 'set_default_delete_after',
                            'claim', 'ack', 'lock_owned', 'finish', 'pass_through', 'requeue_stale',
                            'requeue_worker', 'requeue_unacknowledged', 'receive_jobs', 'form_batches',
                            'job_state'))
  LOOP
    EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
  END LOOP;
END $$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA al FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA al REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT USAGE ON SCHEMA al TO al_integrator, al_admin, al_worker, al_scheduler;

-- Reading: what every role may look at. job_state (used by al.job_overview)
-- and the small helpers are harmless to everyone of the line.
GRANT EXECUTE ON FUNCTION al.job_state(al.jobs), al.setting(text), al.actor(), al.newest_template_version(text),
                          al.default_delete_after(), al.job_summary(al.jobs)
  TO al_integrator, al_admin, al_worker, al_scheduler;
GRANT SELECT ON al.jobs, al.trns, al.rcps, al.bchs, al.templates, al.status_codes, al.status_history,
                al.job_overview, al.status_board
  TO al_integrator, al_admin, al_worker, al_scheduler;

-- al_integrator: submit, and nothing else that writes.
GRANT EXECUTE ON FUNCTION al.submit_job(text, jsonb, text, text, int, text),
                          al.submit_job_file(text, text, text, text, int, text, text)
  TO al_integrator, al_admin;

-- al_admin: every admin function, every table to read, status columns and
-- the small admin tables to write.
GRANT EXECUTE ON FUNCTION al.put_template(text, text, text, text[], text), al.release_job(bigint),
                          al.hold_job(bigint), al.retry_job(bigint, text, boolean), al.skip_job(bigint),
                          al.cancel_job(bigint), al.purge_jobs(interval, int), al.purge_step(interval, int),
                          al.set_default_delete_after(text), al.purge_due(al.jobs, interval), al.stage(text)
  TO al_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA al TO al_admin;
GRANT UPDATE (jobstatus, error, held, priority, delete_after) ON al.jobs TO al_admin;
GRANT UPDATE (trnstatus, error) ON al.trns TO al_admin;
GRANT UPDATE (rcpstatus, error) ON al.rcps TO al_admin;
GRANT UPDATE (bchstatus, error, not_before) ON al.bchs TO al_admin;
GRANT UPDATE (pubstatus, error) ON al.pubs TO al_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON al.contact_preferences TO al_admin;
GRANT UPDATE (value) ON al.settings TO al_admin;

-- al_worker: acknowledge and finish through the fenced functions; the
-- stages' own reads and writes (docs/roles.md lists which stage needs what).
GRANT EXECUTE ON FUNCTION al.ack(text, bigint[], int[], text), al.lock_owned(text, bigint[], int[]),
                          al.finish(text, bigint[], int[], boolean[], text[]), al.stage(text)
  TO al_worker;
GRANT SELECT ON al.pubs, al.documents, al.contact_preferences, al.settings, al.deliveries, al.job_events,
                al.stages
  TO al_worker;
GRANT INSERT, DELETE ON al.trns TO al_worker;                          -- identifier
GRANT UPDATE (n_records) ON al.jobs TO al_worker;                      -- identifier
GRANT INSERT, UPDATE ON al.documents TO al_worker;                     -- assembler
GRANT INSERT, DELETE, UPDATE ON al.rcps TO al_worker;                  -- distributor; panels: presenter, archiver, publisher
GRANT INSERT, DELETE ON al.pubs TO al_worker;                          -- presenter
GRANT UPDATE ON al.bchs TO al_worker;                                  -- presenter (sheets), publisher (throttling)
GRANT INSERT, UPDATE, DELETE ON al.deliveries TO al_worker;            -- publisher
GRANT UPDATE ON al.job_events TO al_worker;                            -- notifier

-- al_scheduler: the line functions, its al.workers table, the archive mark of retention.
GRANT EXECUTE ON FUNCTION al.claim(text, int, text), al.receive_jobs(int), al.form_batches(int, int),
                          al.pass_through(text, int), al.requeue_stale(text, int, int),
                          al.requeue_worker(text, int), al.requeue_unacknowledged(text, text),
                          al.purge_step(interval, int), al.purge_jobs(interval, int), al.stage(text)
  TO al_scheduler;
GRANT SELECT, INSERT, UPDATE, DELETE ON al.workers TO al_scheduler;
GRANT SELECT ON al.workers, al.stages, al.settings TO al_admin, al_worker;
GRANT UPDATE (archive_removed_at) ON al.jobs TO al_scheduler;
