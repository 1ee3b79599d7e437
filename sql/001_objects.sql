-- 001: the five objects of the line, the status code table and its legal moves.
-- Names follow SPEC §1 (public contract); counters on al.jobs are what the
-- statement-level roll-ups (002) keep, so no roll-up ever counts siblings.

CREATE SCHEMA IF NOT EXISTS al;
COMMENT ON SCHEMA al IS 'Assembly Line: serial jobs, their records, recipients, batches and publications';

-- Status codes -------------------------------------------------------------

CREATE TABLE al.status_codes (
  object      text NOT NULL CHECK (object IN ('JOBS', 'TRNS', 'RCPS', 'BCHS', 'PUBS')),
  code        int  NOT NULL,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  set_by      text NOT NULL DEFAULT '',
  PRIMARY KEY (object, code)
);
COMMENT ON TABLE al.status_codes IS
  'Every status code per object, loaded from seeds/status-codes.txt under the readings of SPEC §2; rows marked "(ours)" are additions';

INSERT INTO al.status_codes (object, code, name, description, set_by) VALUES
  ('JOBS',   0, 'Job Not Ready', 'Initial status for the job, set when the job is first initiated (on hold)', 'Database default'),
  ('JOBS', 101, 'Job Pending', 'Temporary status of the job just after creation prior to the identification of the transactions', 'submit_job / release'),
  ('JOBS', 111, 'Job Ready (Identifier-Ready)', 'Scheduler looks for this value to notify the Identifier that a job is ready to be split into individual TRNS', 'Receiver'),
  ('JOBS', 121, 'Job Scheduled (Identifier-In Progress)', 'The Scheduler has sent the JOB_ID to the Identifier over the bus', 'Scheduler'),
  ('JOBS', 131, 'Job Processing (Identifier- ACK)', 'The Identifier is creating the TRNS of the job; monitored by the Scheduler for its timeout', 'Identifier'),
  ('JOBS', 141, 'Job Error (Identifier-Error)', 'A job-level processing error occurred (unknown template, unreadable input)', 'Receiver / Identifier'),
  ('JOBS', 211, 'Assembly Ready (Assembler-Ready)', 'Every TRNS of the job exists; the Assembler renders their documents', 'Identifier'),
  ('JOBS', 290, 'Assembly Processed', 'The Assembler has completed processing all TRNS associated with the job', 'Database trigger'),
  ('JOBS', 311, 'Distribution Ready (Distributor Ready)', 'The TRNS of the job are ready for the Distributor', 'Database trigger'),
  ('JOBS', 341, 'Distribution Error (Distributor-Error)', 'The Distributor process has experienced an error', 'Database trigger'),
  ('JOBS', 390, 'Distribution Processed (Distributor-Complete)', 'The Distributor is complete and all RCPS have been created; batches are formed next', 'Database trigger'),
  ('JOBS', 411, 'Batching Ready (Presenter-Ready)', 'Batches are formed; the Presenter builds their publications', 'Scheduler (form_batches)'),
  ('JOBS', 441, 'Presentation Error (Presenter-Error)', 'The Presenter process has experienced an error', 'Database trigger'),
  ('JOBS', 490, 'Presentation Completed (Presenter-Complete)', 'Every batch of the job is presented and all PUBS have been created', 'Database trigger'),
  ('JOBS', 541, 'Archive Error (Archiver-Error)', 'The Archiver process has experienced an error for a RCP within a BCH', 'Database trigger'),
  ('JOBS', 999, 'All Completed (Processing-Complete)', 'All processing for the job is complete', 'Database trigger'),
  ('JOBS', 888, 'Cancelled', 'Processing of the object has been manually cancelled', 'Manual'),

  ('TRNS', 190, 'Job Processed (Identifier-Complete)', 'Default value assigned to the TRNS when added to the database, soon updated to 201', 'Database default'),
  ('TRNS', 201, 'Assembly-Pending', 'Initial status assigned to a TRNS identified from a job', 'Identifier'),
  ('TRNS', 211, 'Assembly Ready (Assembler-Ready)', 'The TRNS is ready for form triggering and mapping', 'Identifier'),
  ('TRNS', 221, 'Assembly Scheduled (Assembler-In Progress)', 'The TRNS_ID has been sent to the Assembler by the Scheduler', 'Scheduler'),
  ('TRNS', 231, 'Assembly Processing (Assembler-ACK)', 'The Assembler is rendering the document of the TRNS; monitored by the Scheduler for its timeout', 'Assembler'),
  ('TRNS', 241, 'Assembly Error (Assembler – Error)', 'A processing error occurred (also: the record failed validation at identification)', 'Identifier / Assembler'),
  ('TRNS', 290, 'Assembly Processed', 'The Assembler has completed the document', 'Assembler'),
  ('TRNS', 301, 'Distribution-Pending', 'Waits at the barrier until every TRNS of the job is assembled', 'Database trigger'),
  ('TRNS', 311, 'Distributor-Ready', 'The TRNS is ready for distribution to its recipients (create the RCPS records)', 'Database trigger'),
  ('TRNS', 321, 'Distribution Scheduled (Distributor – In Progress)', 'The TRNS_ID has been sent to the Distributor by the Scheduler', 'Scheduler'),
  ('TRNS', 331, 'Distribution Processing (Distributor – ACK)', 'The Distributor is creating the RCPS of the TRNS; monitored by the Scheduler for its timeout', 'Distributor'),
  ('TRNS', 341, 'Distribution Error (Distributor-Error)', 'A processing error occurred', 'Distributor'),
  ('TRNS', 390, 'Distribution Processed', 'The distribution process successfully completed', 'Distributor'),
  ('TRNS', 401, 'Batching Pending (Batch Created)', 'Waits until its recipients are put into batches', 'Database trigger'),
  ('TRNS', 411, 'Batching Ready (Presenter-Ready)', 'All its recipients are in batches that go through presentation, archive, publication and notification', 'Scheduler (form_batches)'),
  ('TRNS', 415, 'Batching Processing (Batcher-In Progress)', 'The first step of the Present, Archive, Publish, Notification process is underway', 'Scheduler'),
  ('TRNS', 421, 'Presentation Scheduled (Presenter – In Progress)', 'Sent to the Presenter process by the Scheduler', 'Scheduler'),
  ('TRNS', 431, 'Presentation Processing (Presenter – ACK)', 'The Presenter activity is in process', 'Presenter'),
  ('TRNS', 441, 'Presentation Error (Presenter-Error)', 'A processing error occurred', 'Presenter'),
  ('TRNS', 490, 'Presentation-Completed', 'Presenter has finished creating recipients and linking recipients', 'Presenter'),
  ('TRNS', 541, 'Archive Error (Archiver-Error)', 'A processing error occurred', 'Database trigger'),
  ('TRNS', 888, 'Cancelled', 'Processing of the object has been manually cancelled or skipped (reason in error)', 'Manual'),
  ('TRNS', 999, 'Processing Complete', 'All its recipients are terminal', 'Database trigger'),

  ('RCPS', 341, 'Distribution error', '(ours) The recipient could not be created for delivery; reason in error', 'Distributor'),
  ('RCPS', 388, 'Excluded by communication status', '(ours) The address is opted out in al.contact_preferences; reason in error', 'Distributor'),
  ('RCPS', 401, 'Waiting for batch', '(ours) Created by the Distributor, waits to be put into a batch', 'Distributor'),
  ('RCPS', 411, 'Batching Ready (Presenter-Ready)', 'The recipient is in a batch on its way through the line', 'Scheduler (form_batches)'),
  ('RCPS', 541, 'Archive error', '(ours) Its publication could not be archived; archive_error says why', 'Archiver'),
  ('RCPS', 641, 'Delivery failed', '(ours) Not delivered, or outcome unknown after a crash; post_error says why', 'Publisher'),
  ('RCPS', 888, 'Cancelled', '(ours) Cancelled or skipped manually (reason in error)', 'Manual'),
  ('RCPS', 999, 'All Completed', 'Delivered, and its batch notified', 'Database trigger'),

  ('BCHS', 401, 'Batching Pending', 'Default value assigned when the BCH is created', 'Database default'),
  ('BCHS', 411, 'Batch closed, ready for presenter', '(ours) The batch holds all its recipients and waits for the Presenter', 'Scheduler (form_batches)'),
  ('BCHS', 415, 'Batching Processing (Batcher-In Progress)', 'The batch is collecting recipients', 'Scheduler (form_batches)'),
  ('BCHS', 421, 'Presentation Scheduled (Presenter – In Progress)', 'The BCH_ID has been sent to the Presenter by the Scheduler', 'Scheduler'),
  ('BCHS', 431, 'Presentation Processing (Presenter – ACK)', 'The Presenter is building the publications of the batch', 'Presenter'),
  ('BCHS', 441, 'Presentation Error (Presenter – Error)', 'Error when creating the print stream associated with the BCH', 'Presenter'),
  ('BCHS', 490, 'Presentation Completed (Presenter Complete)', 'Presenter completed BCH processing', 'Presenter'),
  ('BCHS', 501, 'Archive Pending', '', ''),
  ('BCHS', 511, 'Archive Ready (Archiver-Ready)', 'The BCHS is ready for the Archiver', 'Presenter (roll-up)'),
  ('BCHS', 521, 'Archive Scheduled (Archiver – In Progress)', 'The BCHS_ID has been sent to the Archiver by the Scheduler', 'Scheduler'),
  ('BCHS', 531, 'Archive Processing (Archiver – ACK)', 'The Archiver is storing the publications of the batch', 'Archiver'),
  ('BCHS', 541, 'Archive Error (Archiver-Error)', 'A processing error occurred', 'Archiver'),
  ('BCHS', 590, 'Archive Complete', 'Archiving is complete for the BCH', 'Archiver'),
  ('BCHS', 601, 'Publication Pending', '', ''),
  ('BCHS', 611, 'Publication Ready (Publisher-Ready)', 'The BCHS is ready for the Publisher', 'Archiver (or Scheduler if the Archive process is disabled)'),
  ('BCHS', 621, 'Publication Scheduled (Publisher-In Progress)', 'The BCHS_ID has been sent to the Publisher by the Scheduler', 'Scheduler'),
  ('BCHS', 631, 'Publication Processing (Publisher-ACK)', 'The Publisher is delivering the batch', 'Publisher'),
  ('BCHS', 641, 'Publication Error (Publisher-Error)', 'A processing error occurred', 'Publisher'),
  ('BCHS', 690, 'Publication Complete (Publisher-Complete)', 'The Publisher has successfully completed processing the BCH', 'Publisher'),
  ('BCHS', 701, 'Notification - Pending', '', ''),
  ('BCHS', 711, 'Notification Ready (PubNotifier-Ready)', 'The BCHS is ready for publication notification', 'Publisher (or Scheduler if the Publisher process is disabled)'),
  ('BCHS', 721, 'Notification Scheduled (PubNotifier-In Progress)', 'The BCHS_ID has been sent to the PubNotifier by the Scheduler', 'Scheduler'),
  ('BCHS', 731, 'Notification Processing (PubNotifier-ACK)', 'The Publication Notification activity is in process on the BCHS', 'PubNotifier'),
  ('BCHS', 741, 'Notification Error (PubNotifier-Error)', 'A processing error occurred', 'PubNotifier'),
  ('BCHS', 790, 'Notification Complete (PubNotifier-Complete)', 'The Notification process has successfully completed for the BCH', 'PubNotifier'),
  ('BCHS', 888, 'Cancelled', 'Processing of the object has been manually cancelled', 'Manual'),
  ('BCHS', 999, 'Processing Complete', 'Processing of the batch is complete', 'PubNotifier (or Scheduler if the PubNotifier process is disabled)'),

  ('PUBS', 490, 'Presentation Completed (Presenter Complete)', 'Made by the Presenter', 'Presenter'),
  ('PUBS', 511, 'Archive Ready (Archiver-Ready)', 'Carried along by its batch', 'Database trigger'),
  ('PUBS', 611, 'Publication Ready (Publisher-Ready)', 'Carried along by its batch', 'Database trigger'),
  ('PUBS', 711, 'Notification Ready (PubNotifier-Ready)', 'Carried along by its batch', 'Database trigger'),
  ('PUBS', 888, 'Cancelled', '(ours) Its batch was cancelled', 'Manual'),
  ('PUBS', 999, 'Processing Complete', 'Processing of the object is complete', 'PubNotifier (or Scheduler if the PubNotifier process is disabled)');

-- Legal moves: every transition the system or an admin may make. The guard
-- (002) checks every status change against this table.
CREATE TABLE al.status_transitions (
  object    text NOT NULL,
  from_code int  NOT NULL,
  to_code   int  NOT NULL,
  actor     text NOT NULL,
  PRIMARY KEY (object, from_code, to_code),
  FOREIGN KEY (object, from_code) REFERENCES al.status_codes (object, code),
  FOREIGN KEY (object, to_code) REFERENCES al.status_codes (object, code)
);
COMMENT ON TABLE al.status_transitions IS
  'Every legal status move (object, from, to, who normally makes it); the manual-change guard and the history test use it';

-- The generic stage step for item stages, per object and hundreds.
INSERT INTO al.status_transitions (object, from_code, to_code, actor)
SELECT s.object, s.h * 100 + m.f, s.h * 100 + m.t, m.actor
FROM (VALUES ('JOBS', 1), ('TRNS', 2), ('TRNS', 3), ('BCHS', 4), ('BCHS', 5), ('BCHS', 6), ('BCHS', 7)) AS s(object, h)
CROSS JOIN (VALUES
    (11, 21, 'scheduler: claim'),
    (21, 31, 'worker: acknowledge'),
    (31, 41, 'worker: error'),
    (21, 11, 'scheduler: timeout, requeue'),
    (31, 11, 'scheduler: timeout, requeue'),
    (21, 41, 'scheduler: quarantine'),
    (41, 11, 'admin: retry')
  ) AS m(f, t, actor)
ON CONFLICT DO NOTHING;

-- x31 → x90 (worker done) and x11 → x90 (disabled stage passed through),
-- except the identifier, whose "processed" is JOBS 211.
INSERT INTO al.status_transitions (object, from_code, to_code, actor)
SELECT s.object, s.h * 100 + m.f, s.h * 100 + 90, m.actor
FROM (VALUES ('TRNS', 2), ('TRNS', 3), ('BCHS', 4), ('BCHS', 5), ('BCHS', 6), ('BCHS', 7)) AS s(object, h)
CROSS JOIN (VALUES (31, 'worker: processed'), (11, 'scheduler: stage disabled, passed through')) AS m(f, actor);

INSERT INTO al.status_transitions (object, from_code, to_code, actor) VALUES
  -- JOBS
  ('JOBS',   0, 101, 'integrator/admin: release'),
  ('JOBS', 101, 111, 'scheduler: received'),
  ('JOBS', 101, 141, 'scheduler: rejected'),
  ('JOBS', 141, 101, 'admin: retry'),
  ('JOBS', 131, 211, 'identifier: identified'),
  ('JOBS', 111, 211, 'scheduler: identifier disabled, passed through'),
  ('JOBS', 211, 290, 'roll-up: assembled'),
  ('JOBS', 290, 311, 'roll-up: barrier open'),
  ('JOBS', 311, 390, 'roll-up: distributed'),
  ('JOBS', 390, 411, 'scheduler: batches formed'),
  ('JOBS', 411, 490, 'roll-up: presented'),
  ('JOBS', 490, 999, 'roll-up: complete'),
  -- TRNS
  ('TRNS', 290, 301, 'roll-up: waits at the barrier'),
  ('TRNS', 301, 311, 'roll-up: barrier open'),
  ('TRNS', 390, 401, 'roll-up: waits for batching'),
  ('TRNS', 401, 411, 'scheduler: batched'),
  ('TRNS', 411, 999, 'roll-up: recipients terminal'),
  ('TRNS', 411, 401, 'roll-up: a recipient was retried'),
  ('TRNS', 999, 401, 'roll-up: a recipient was retried'),
  -- RCPS
  ('RCPS', 401, 411, 'scheduler: batched'),
  ('RCPS', 411, 999, 'roll-up: batch complete'),
  ('RCPS', 411, 541, 'archiver / roll-up: archive failed'),
  ('RCPS', 411, 641, 'publisher / roll-up: delivery failed'),
  ('RCPS', 541, 401, 'admin: retry'),
  ('RCPS', 641, 401, 'admin: retry'),
  ('RCPS', 341, 401, 'admin: retry'),
  -- BCHS
  ('BCHS', 401, 415, 'scheduler: batch filling'),
  ('BCHS', 415, 411, 'scheduler: batch closed'),
  ('BCHS', 490, 511, 'roll-up: next stage'),
  ('BCHS', 590, 611, 'roll-up: next stage'),
  ('BCHS', 690, 711, 'roll-up: next stage'),
  ('BCHS', 790, 999, 'roll-up: complete'),
  -- PUBS, carried along by their batch
  ('PUBS', 490, 511, 'roll-up: carried by batch'),
  ('PUBS', 511, 611, 'roll-up: carried by batch'),
  ('PUBS', 611, 711, 'roll-up: carried by batch'),
  ('PUBS', 711, 999, 'roll-up: carried by batch'),
  ('PUBS', 490, 611, 'roll-up: carried by batch (archive disabled)'),
  ('PUBS', 490, 711, 'roll-up: carried by batch (stages disabled)'),
  ('PUBS', 490, 999, 'roll-up: carried by batch (stages disabled)'),
  ('PUBS', 511, 711, 'roll-up: carried by batch (publish disabled)'),
  ('PUBS', 511, 999, 'roll-up: carried by batch (stages disabled)'),
  ('PUBS', 611, 999, 'roll-up: carried by batch (notify disabled)')
ON CONFLICT DO NOTHING;

-- JOBS move between the stage codes of their least advanced live children in
-- both directions: forward as children advance, back when items are retried.
INSERT INTO al.status_transitions (object, from_code, to_code, actor)
SELECT 'JOBS', f, t, CASE WHEN t > f THEN 'roll-up: children advanced' ELSE 'roll-up: items retried' END
FROM unnest(ARRAY[211, 290, 311, 390, 411, 490, 999]) AS f
CROSS JOIN unnest(ARRAY[211, 290, 311, 390, 411, 490, 999]) AS t
WHERE f <> t
ON CONFLICT DO NOTHING;

-- Cancel (888) from every non-terminal code, and skip (888) from the errors.
INSERT INTO al.status_transitions (object, from_code, to_code, actor)
SELECT c.object, c.code, 888, 'admin: cancel / skip'
FROM al.status_codes c
WHERE c.code NOT IN (888, 999) AND NOT (c.object = 'RCPS' AND c.code = 388)
ON CONFLICT DO NOTHING;

-- Objects -------------------------------------------------------------------

CREATE TABLE al.templates (
  name            text NOT NULL,
  version         int  NOT NULL,
  body            text NOT NULL,
  subject         text,
  required_fields text[] NOT NULL DEFAULT '{}',
  sort_field      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text NOT NULL DEFAULT current_user,
  PRIMARY KEY (name, version)
);
COMMENT ON TABLE al.templates IS 'Mustache templates by name and version; a job pins the newest version at submission';

CREATE TABLE al.jobs (
  job_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  jobstatus         int NOT NULL DEFAULT 0,
  attempt           int NOT NULL DEFAULT 0,
  tries             int NOT NULL DEFAULT 0,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  error             text,
  worker            text,
  project           text NOT NULL DEFAULT 'default',
  template          text NOT NULL,
  template_version  int,
  records           jsonb,
  input_path        text,
  input_format      text CHECK (input_format IN ('csv', 'jsonl')),
  n_records         int,
  created_at        timestamptz NOT NULL DEFAULT now(),
  created_by        text NOT NULL DEFAULT current_user,
  callback_url      text,
  priority          int NOT NULL DEFAULT 0,
  held              bool NOT NULL DEFAULT false,
  delete_after      interval,
  deleted_at        timestamptz,
  -- Roll-up counters, moved in the same statement as the children (002).
  n_trns_assembling   int NOT NULL DEFAULT 0,  -- TRNS at 201..231
  n_trns_at_barrier   int NOT NULL DEFAULT 0,  -- TRNS at 290, 301
  n_trns_distributing int NOT NULL DEFAULT 0,  -- TRNS at 311..331
  n_trns_unbatched    int NOT NULL DEFAULT 0,  -- TRNS at 390, 401
  n_trns_batched      int NOT NULL DEFAULT 0,  -- TRNS at 411
  n_trns_failed       int NOT NULL DEFAULT 0,  -- TRNS at 241, 341
  n_trns_done         int NOT NULL DEFAULT 0,  -- TRNS at 999
  n_trns_cancelled    int NOT NULL DEFAULT 0,  -- TRNS at 888
  n_bchs_presenting   int NOT NULL DEFAULT 0,  -- BCHS before 490
  n_bchs_open         int NOT NULL DEFAULT 0,  -- BCHS from 490 to 790
  n_bchs_failed       int NOT NULL DEFAULT 0,  -- BCHS at x41
  n_rcps_open         int NOT NULL DEFAULT 0,  -- RCPS at 401, 411
  n_rcps_delivered    int NOT NULL DEFAULT 0,  -- RCPS at 999
  n_rcps_failed       int NOT NULL DEFAULT 0,  -- RCPS at 341, 541, 641
  n_rcps_excluded     int NOT NULL DEFAULT 0,  -- RCPS at 388
  n_rcps_cancelled    int NOT NULL DEFAULT 0,  -- RCPS at 888
  CHECK (records IS NOT NULL OR input_path IS NOT NULL)
);
COMMENT ON TABLE al.jobs IS 'JOBS: one row per submitted serial job; jobstatus follows the least advanced stage of its live children';

CREATE TABLE al.trns (
  trn_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id            bigint NOT NULL REFERENCES al.jobs ON DELETE CASCADE,
  seq               int NOT NULL,
  trnstatus         int NOT NULL DEFAULT 211,
  attempt           int NOT NULL DEFAULT 0,
  tries             int NOT NULL DEFAULT 0,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  error             text,
  worker            text,
  data              jsonb NOT NULL,
  n_rcps_open       int NOT NULL DEFAULT 0,  -- its RCPS at 401/411 (TRNS 411 → 999 at zero)
  UNIQUE (job_id, seq)
);
COMMENT ON TABLE al.trns IS 'TRNS: one row per record (transaction) of a job';

CREATE TABLE al.bchs (
  bch_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id            bigint NOT NULL REFERENCES al.jobs ON DELETE CASCADE,
  channel           text NOT NULL CHECK (channel IN ('email', 'print', 'file')),
  seq               int NOT NULL,
  size              int NOT NULL DEFAULT 0,
  bchstatus         int NOT NULL DEFAULT 401,
  attempt           int NOT NULL DEFAULT 0,
  tries             int NOT NULL DEFAULT 0,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  error             text,
  worker            text,
  not_before        timestamptz,
  sheets            int,
  pages             int
);
COMMENT ON TABLE al.bchs IS 'BCHS: a batch of recipients of one job and one channel';

CREATE TABLE al.rcps (
  rcp_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id            bigint NOT NULL REFERENCES al.jobs ON DELETE CASCADE,
  trn_id            bigint NOT NULL REFERENCES al.trns ON DELETE CASCADE,
  bch_id            bigint REFERENCES al.bchs ON DELETE SET NULL,
  rcpstatus         int NOT NULL DEFAULT 401,
  attempt           int NOT NULL DEFAULT 0,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  error             text,
  worker            text,
  channel           text NOT NULL CHECK (channel IN ('email', 'print', 'file')),
  address           text NOT NULL,
  role              text NOT NULL DEFAULT 'client',
  token             uuid NOT NULL DEFAULT gen_random_uuid(),
  posted_at         timestamptz,
  post_status       bool,
  post_error        text,
  archived_at       timestamptz,
  doc_number        text,
  archive_status    bool,
  archive_error     text
);
COMMENT ON TABLE al.rcps IS 'RCPS: one recipient (channel, address, role) of a record, with its delivery and archive panels';

CREATE TABLE al.pubs (
  pub_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  bch_id     bigint NOT NULL REFERENCES al.bchs ON DELETE CASCADE,
  rcp_id     bigint REFERENCES al.rcps ON DELETE CASCADE,
  pubstatus  int NOT NULL DEFAULT 490,
  attempt    int NOT NULL DEFAULT 0,
  status_changed_at timestamptz NOT NULL DEFAULT now(),
  error      text,
  worker     text,
  kind       text NOT NULL CHECK (kind IN ('print_stream', 'email', 'file')),
  path       text,
  content    bytea NOT NULL,
  sha256     text NOT NULL,
  bytes      int NOT NULL,
  pages      int,
  sheets     int,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE al.pubs IS 'PUBS: a publication made by the presenter (print stream, e-mail message or file); rcp_id is null for a print stream';

-- Status columns are kept to known codes with CHECKs (a test keeps them in step
-- with al.status_codes): far cheaper than a foreign key on hot rows.
ALTER TABLE al.jobs ADD CONSTRAINT jobs_status_known CHECK (jobstatus IN
  (0, 101, 111, 121, 131, 141, 211, 290, 311, 341, 390, 411, 441, 490, 541, 888, 999));
ALTER TABLE al.trns ADD CONSTRAINT trns_status_known CHECK (trnstatus IN
  (190, 201, 211, 221, 231, 241, 290, 301, 311, 321, 331, 341, 390, 401, 411, 415, 421, 431, 441, 490, 541, 888, 999));
ALTER TABLE al.rcps ADD CONSTRAINT rcps_status_known CHECK (rcpstatus IN
  (341, 388, 401, 411, 541, 641, 888, 999));
ALTER TABLE al.bchs ADD CONSTRAINT bchs_status_known CHECK (bchstatus IN
  (401, 411, 415, 421, 431, 441, 490, 501, 511, 521, 531, 541, 590, 601, 611, 621, 631, 641, 690,
   701, 711, 721, 731, 741, 790, 888, 999));
ALTER TABLE al.pubs ADD CONSTRAINT pubs_status_known CHECK (pubstatus IN (490, 511, 611, 711, 888, 999));

-- Indexes: claims and timeouts scan only ready / in-flight rows (partial
-- indexes), children are found by parent.
CREATE INDEX jobs_ready ON al.jobs (priority DESC, job_id) WHERE jobstatus IN (101, 111);
CREATE INDEX jobs_inflight ON al.jobs (status_changed_at) WHERE jobstatus IN (121, 131);
CREATE INDEX jobs_batching ON al.jobs (job_id) WHERE jobstatus = 390;
CREATE INDEX jobs_created ON al.jobs (created_at);
CREATE INDEX trns_ready ON al.trns (trnstatus, trn_id) WHERE trnstatus IN (211, 311);
CREATE INDEX trns_inflight ON al.trns (status_changed_at) WHERE trnstatus IN (221, 231, 321, 331);
CREATE INDEX trns_job_waiting ON al.trns (job_id, trnstatus) WHERE trnstatus IN (301, 401, 411, 241, 341);
CREATE INDEX bchs_ready ON al.bchs (bchstatus, bch_id) WHERE bchstatus IN (411, 511, 611, 711);
CREATE INDEX bchs_inflight ON al.bchs (status_changed_at)
  WHERE bchstatus IN (421, 431, 521, 531, 621, 631, 721, 731);
CREATE INDEX bchs_job ON al.bchs (job_id);
CREATE INDEX rcps_trn ON al.rcps (trn_id);
CREATE INDEX rcps_bch ON al.rcps (bch_id);
CREATE INDEX rcps_job_unbatched ON al.rcps (job_id) WHERE rcpstatus = 401;
CREATE INDEX rcps_job ON al.rcps (job_id, rcp_id);
CREATE INDEX pubs_bch ON al.pubs (bch_id);
CREATE INDEX pubs_rcp ON al.pubs (rcp_id);

-- Around the objects --------------------------------------------------------

CREATE TABLE al.status_history (
  history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- orders changes within one transaction
  object     text NOT NULL,
  id         bigint NOT NULL,
  old_status int,
  new_status int NOT NULL,
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL,
  note       text
);
CREATE INDEX status_history_object ON al.status_history (object, id, changed_at);
COMMENT ON TABLE al.status_history IS
  'Every status change of JOBS and BCHS (TRNS, RCPS and PUBS too when al.settings.history_items is on)';

CREATE TABLE al.settings (
  key   text PRIMARY KEY,
  value text NOT NULL,
  doc   text NOT NULL
);
INSERT INTO al.settings VALUES
  ('history_items', 'off', 'on: record TRNS/RCPS/PUBS status changes in al.status_history too (costs one history row per item per move)'),
  ('max_records', '1000000', 'al.submit_job refuses jobs with more records than this'),
  ('max_record_bytes', '1048576', 'a record larger than this (as JSON text) fails validation');
COMMENT ON TABLE al.settings IS 'Database-side settings the functions and triggers read';

CREATE TABLE al.contact_preferences (
  address    text NOT NULL,
  channel    text NOT NULL CHECK (channel IN ('email', 'print', 'file')),
  opted_out  bool NOT NULL DEFAULT true,
  reason     text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (address, channel)
);
COMMENT ON TABLE al.contact_preferences IS
  'Communication status: an address opted out of a channel is excluded by the distributor (RCPS 388, reason in error). E-mail addresses are matched case-insensitively (store them lower-case).';

CREATE TABLE al.documents (
  trn_id     bigint PRIMARY KEY REFERENCES al.trns ON DELETE CASCADE,
  html       text NOT NULL,
  sha256     text NOT NULL,
  bytes      int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE al.documents IS 'The assembler''s output: the rendered HTML document of each TRNS with its SHA-256';

CREATE TABLE al.workers (
  name         text PRIMARY KEY,
  stage        text NOT NULL,
  host         text,
  pid          int,
  credits      int,
  connected_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE al.workers IS 'Workers connected to the active scheduler, as the scheduler last saw them';

CREATE TABLE al.deliveries (
  rcp_id      bigint PRIMARY KEY REFERENCES al.rcps ON DELETE CASCADE,
  attempt     int NOT NULL,
  state       text NOT NULL CHECK (state IN ('intent', 'sent', 'failed')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  reply       text
);
COMMENT ON TABLE al.deliveries IS
  'Publisher intent/outcome per recipient: written as intent before talking to SMTP, then sent or failed; an intent without outcome after a crash is never re-sent automatically';

CREATE TABLE al.job_events (
  event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id          bigint NOT NULL REFERENCES al.jobs ON DELETE CASCADE,
  kind            text NOT NULL,
  payload         jsonb NOT NULL,
  delivery_id     uuid NOT NULL DEFAULT gen_random_uuid(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  last_error      text
);
CREATE INDEX job_events_pending ON al.job_events (next_attempt_at) WHERE delivered_at IS NULL;
COMMENT ON TABLE al.job_events IS 'Job-event outbox (job reached 999): the notifier POSTs each to the job''s callback_url with retries';
