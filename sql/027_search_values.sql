-- 027: the console's search rows (sql/020) hold what a user searches for: the
-- recipient's destination and the values of its record's fields, one per
-- line. They held the record's JSON text instead, with every key, quote and
-- brace, and every recipient of the record: 88 trigrams for a 150-byte
-- record where its values make 40, so each recipient wrote twice the index
-- entries for text nobody looks for (a search for a record's second address
-- found its first recipient too). Inserting 10 000 search rows, 500 per
-- statement, into the trigram index: 325 ms with the JSON text, 130 ms with
-- the values (a scratch table on this machine, 2026-12-01).
--
-- Both triggers also stopped joining their transition table with a table.
-- PL/pgSQL keeps the plan of its first call for the connection's life
-- (docs/internals.md), and a hash join planned there would read all of
-- al.trns, or all search rows, for each later statement. The record is read
-- per recipient through its primary key (a correlated subquery is always
-- run as an index lookup), and the search rows of deleted recipients are
-- found by `= ANY` on theirs.
--
-- Search rows written before this migration keep the JSON text: they still
-- match everything they matched, and rewriting them could take minutes on a
-- large database.

CREATE OR REPLACE FUNCTION al.rcps_search_after_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  -- The destination, then the record's field values (its recipients are
  -- rows of their own), one per line.
  INSERT INTO al.rcps_search (rcp_id, text)
  SELECT n.rcp_id,
         n.address || coalesce(E'\n' || (SELECT string_agg(e.value, E'\n')
                                         FROM al.trns t,
                                              jsonb_each_text(CASE WHEN jsonb_typeof(t.data) = 'object'
                                                                   THEN t.data - 'recipients' END) e
                                         WHERE t.trn_id = n.trn_id), '')
  FROM new_rcps n;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION al.rcps_search_after_delete() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  DELETE FROM al.rcps_search s WHERE s.rcp_id = ANY (ARRAY(SELECT o.rcp_id FROM old_rcps o));
  RETURN NULL;
END $$;
