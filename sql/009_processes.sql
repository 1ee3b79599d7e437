-- 009: the processes list of seed process-details.txt — one row per recipient
-- delivery, with the columns of its table and of its details panels (ids,
-- token, workflow, recipient number, archive and mail panels). `alctl
-- processes` reads it (and exports it as CSV); filter by the job's created_at
-- to use jobs_created, and page by rcp_id.

CREATE VIEW al.processes AS
SELECT r.rcp_id AS process,
       j.created_at,
       j.project,
       r.address AS destination,
       r.channel,
       j.created_by AS agent,
       j.created_at + j.delete_after AS expires_at,
       j.deleted_at,
       j.template,
       r.rcpstatus,
       s.name AS status_name,
       CASE
         WHEN r.rcpstatus = 999 THEN 'ok'
         WHEN r.rcpstatus IN (341, 541, 641) THEN 'error'
         WHEN r.rcpstatus = 388 THEN 'excluded'
         WHEN r.rcpstatus = 888 THEN 'cancelled'
         ELSE 'open'
       END AS indicator,
       coalesce(r.post_error, r.archive_error, r.error) AS error,
       r.token,
       r.job_id AS workflow,
       t.seq AS record_no,
       r.role,
       r.posted_at, r.post_status, r.post_error,
       r.archived_at, r.doc_number, r.archive_status, r.archive_error,
       t.data AS record
FROM al.rcps r
JOIN al.jobs j ON j.job_id = r.job_id
JOIN al.trns t ON t.trn_id = r.trn_id
LEFT JOIN al.status_codes s ON s.object = 'RCPS' AND s.code = r.rcpstatus;
COMMENT ON VIEW al.processes IS
  'One row per recipient delivery (seed process-details.txt): destination, agent, expiry, state indicator (ok / error / excluded / cancelled / open) and the archive and mail panels';

GRANT SELECT ON al.processes TO al_integrator, al_admin, al_worker, al_scheduler;
