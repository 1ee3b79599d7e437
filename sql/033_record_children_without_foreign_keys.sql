-- 033: a record's document and recipients point at it without a foreign key.
--
-- Each foreign key check is a query per inserted row that also takes FOR KEY
-- SHARE on the referenced record: a row lock written to the record's page
-- and to the WAL, just before the same transaction updates that record
-- (al.finish). The assembler checked al.documents.trn_id and the distributor
-- al.rcps.trn_id, 20 000 checks per 10 000 records; auto_explain showed the
-- recipients' check at 8.5 ms for 500 rows (17 us a row) next to an 8.6 ms
-- INSERT.
--
-- Nothing is lost, as for the other keys dropped in sql/016 and sql/021:
--   * a document is written only by the assembler and recipients only by the
--     distributor, each for records it holds locked (al.lock_owned) in the
--     same transaction, and the recipients are selected from al.trns;
--   * records are deleted only by retention (al.purge_step), which deletes
--     their documents and recipients first. The DELETE on al.trns that
--     al_worker had for the identifier was never used and is revoked, so no
--     role can remove a record from under its children.

ALTER TABLE al.documents DROP CONSTRAINT documents_trn_id_fkey;
ALTER TABLE al.rcps DROP CONSTRAINT rcps_trn_id_fkey;
REVOKE DELETE ON al.trns FROM al_worker;

COMMENT ON COLUMN al.documents.trn_id IS
  'The record rendered; not a foreign key (sql/033): written by the assembler for a record it holds, deleted with it by retention';
COMMENT ON COLUMN al.rcps.trn_id IS
  'The record of this recipient; not a foreign key (sql/033): written by the distributor from al.trns, deleted with it by retention';
