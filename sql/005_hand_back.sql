-- 005: a stopping scheduler hands back what it sent but nobody acknowledged.
-- Without it, ids still queued in workers (which drop their queue on SIGTERM)
-- would sit at x21 until a later scheduler's timeout: SPEC §6 wants a clean
-- stop to leave nothing at x21/x31.

CREATE FUNCTION al.requeue_unacknowledged(p_stage text, p_why text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  s al.stages := al.stage(p_stage);
  n int;
BEGIN
  -- x21 only: never acknowledged, so it costs no attempt (tries stays); the
  -- attempt + 1 fences out a worker that acknowledges it after all.
  EXECUTE format(
    'UPDATE al.%1$I t SET %3$I = $1, attempt = t.attempt + 1, worker = NULL, status_changed_at = now(),
            error = format(''%4$s: sent to %%s but not acknowledged (%%s); requeued'', t.worker, $3)
     WHERE t.%3$I = $2',
    s.tbl, s.id_col, s.status_col, p_stage)
    USING s.hundreds * 100 + 11, s.hundreds * 100 + 21, p_why;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $$;
COMMENT ON FUNCTION al.requeue_unacknowledged(text, text) IS
  'Scheduler, when it stops: every item of a stage scheduled (x21) but not acknowledged goes back to ready (attempt + 1, no try counted); returns how many';
