-- 017: room on each page for the updates that follow an insert.
--
-- A PUB is updated four times after the presenter writes it (it travels with
-- its batch: 511, 611, 711, 999) and nothing indexed changes, so each update
-- could be a heap-only tuple (HOT) on the same page, with no new index
-- entries, if the page had room; at the default fill factor of 100 the
-- presenter's inserts fill every page and each update wrote three index
-- entries. A recipient's archive and delivery panels are two more updates of
-- that kind. Old versions are pruned when the page is next visited, so one
-- spare slot per row is enough. Only pages written from now on are affected.

ALTER TABLE al.pubs SET (fillfactor = 50);
ALTER TABLE al.rcps SET (fillfactor = 70);
