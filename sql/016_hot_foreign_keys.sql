-- 016: TRNS and RCPS keep job_id without a foreign key to al.jobs.
--
-- A foreign key check takes FOR KEY SHARE on the referenced row, and
-- PostgreSQL checks again on every update of a row that the same transaction
-- already changed (the roll-ups move an item on in the transaction that
-- finished it). With every record of a job pointing at one al.jobs row that
-- the counters update all the time, a 10 000-record job cost 61 000 such
-- checks, each a multixact on that one row: 3.1 s of the database's time
-- (pg_stat_statements, bench/throughput -n 10000).
--
-- Nothing is lost: jobs are never deleted (retention marks them deleted_at
-- and deletes their children itself, sql/006), al_admin and the workers may
-- not delete them (sql/007), TRNS are written only by the identifier for the
-- job it holds, and an RCPS's job is its TRNS's job (rcps.trn_id still
-- references al.trns). BCHS and job events, a few rows per job, keep theirs.

ALTER TABLE al.trns DROP CONSTRAINT trns_job_id_fkey;
ALTER TABLE al.rcps DROP CONSTRAINT rcps_job_id_fkey;

COMMENT ON COLUMN al.trns.job_id IS
  'The job of this record; not a foreign key (sql/016): written only by the identifier for the job it holds';
COMMENT ON COLUMN al.rcps.job_id IS
  'The job of this recipient, always its record''s job (trn_id references al.trns); not a foreign key (sql/016)';
