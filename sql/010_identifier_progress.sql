-- 010: the identifier commits a big job in chunks (workers/identifier) and,
-- with each chunk, renews its lease on the job: status_changed_at is what the
-- stage timeout measures, and reading a million records takes longer than
-- that. al_worker may already set n_records; it needs status_changed_at too.

GRANT UPDATE (status_changed_at) ON al.jobs TO al_worker;
