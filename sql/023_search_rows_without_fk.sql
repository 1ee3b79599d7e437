-- 023: the console's search rows (sql/020) lose their foreign key to the
-- recipients. Each of the line's recipients gets its search row in the
-- distributor's insert, and the key made every such row pay for a per-row
-- constraint trigger: a lookup in al.rcps's primary key and a KEY SHARE lock
-- written into the recipient row just inserted. A statement trigger now
-- removes a deleted recipient's search row instead, as ON DELETE CASCADE did
-- (the distributor redoing a record, retention purging a job).

ALTER TABLE al.rcps_search DROP CONSTRAINT rcps_search_rcp_id_fkey;

CREATE FUNCTION al.rcps_search_after_delete() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM al.rcps_search s USING old_rcps o WHERE s.rcp_id = o.rcp_id;
  RETURN NULL;
END $$;
COMMENT ON FUNCTION al.rcps_search_after_delete() IS
  'Removes the search rows of deleted recipients (what the foreign key''s ON DELETE CASCADE did before sql/023)';
CREATE TRIGGER rcps_search_after_delete AFTER DELETE ON al.rcps
  REFERENCING OLD TABLE AS old_rcps FOR EACH STATEMENT EXECUTE FUNCTION al.rcps_search_after_delete();
