-- 015: smtp.max_connections shared by every publisher process (issue 6,
-- "throttled e-mail"). A connection slot is a session-level advisory lock
-- (key: the server's hash, slot number): a publisher holds one while its
-- SMTP connection is open, and PostgreSQL lets go of it by itself when the
-- publisher's session ends, so a killed publisher never keeps a slot. With
-- every slot taken the batch waits at 611 with a not_before, like a spent
-- smtp.rate_per_minute ("waiting for continuation").

CREATE FUNCTION al.smtp_connection_key(p_server text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.hashtext('al.smtp_connection ' || p_server)
$$;
COMMENT ON FUNCTION al.smtp_connection_key(text) IS
  'First advisory-lock key of the SMTP connection slots of one server (the second is the slot number)';

CREATE FUNCTION al.take_smtp_connection(p_server text, p_max int) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  FOR slot IN 0 .. p_max - 1 LOOP
    IF pg_try_advisory_lock(al.smtp_connection_key(p_server), slot) THEN
      RETURN slot;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION al.take_smtp_connection(text, int) IS
  'Publisher: takes a free one of p_max connection slots of the server for this session; NULL when all are taken';

CREATE FUNCTION al.give_back_smtp_connection(p_server text, p_slot int) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  SELECT pg_advisory_unlock(al.smtp_connection_key(p_server), p_slot)
$$;
COMMENT ON FUNCTION al.give_back_smtp_connection(text, int) IS
  'Publisher: gives back a slot taken by al.take_smtp_connection in this session';

-- Slots in use, for administrators: pg_locks shows the two keys as classid
-- (the server's hash, as an unsigned oid) and objid (the slot).
CREATE FUNCTION al.smtp_connections(p_server text)
RETURNS TABLE (slot int, pid int, application_name text, backend_start timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
  SELECT l.objid::int, l.pid, a.application_name, a.backend_start
  FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
  WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
    AND l.classid::bigint = (al.smtp_connection_key(p_server)::bigint & 4294967295)
  ORDER BY 1
$$;
COMMENT ON FUNCTION al.smtp_connections(text) IS
  'SMTP connection slots of one server held now (smtp.max_connections): slot, holder''s pid and since when';

GRANT EXECUTE ON FUNCTION al.smtp_connection_key(text) TO al_worker, al_admin;
GRANT EXECUTE ON FUNCTION al.take_smtp_connection(text, int) TO al_worker;
GRANT EXECUTE ON FUNCTION al.give_back_smtp_connection(text, int) TO al_worker;
GRANT EXECUTE ON FUNCTION al.smtp_connections(text) TO al_admin;
