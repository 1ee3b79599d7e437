-- 041: room on each page for a version of every row on it.
--
-- A worker writes its 500 records, or a batch's recipients and publications,
-- in one statement, and rows written together lie together: a status update
-- that changes no indexed column puts a new version of every row of a page
-- on that same page. The versions of the statement before cannot be pruned
-- while the statement runs (its own), so the page needs as much free space
-- as its rows take, or the last rows' new versions go to another page: a
-- non-HOT update, with a new entry in every index of the table.
--
-- With al.trns at fill factor 60 (sql/022), al.rcps at 70 and al.pubs at 50
-- (sql/017), a 10 000-record bench/throughput run wrote 35 400-36 700 of its
-- 90 000 record updates in place, 24 900-27 100 of 40 000 recipient updates
-- and 35 100-38 500 of 40 000 publication updates. With the factors below:
-- 38 800-38 900 (of at most 40 000: the other five of a record's nine moves
-- change its lane), 29 900-30 000 (the fill sets the indexed bch_id) and
-- 39 400-40 000. WAL 78-80 MB -> 74-75 MB; PostgreSQL CPU 4.49 -> 4.39 s in
-- the medians of 3 alternated pairs (2026-12-02 20:33, bench/results/
-- ab-20261202-session20/ff-*.json). The tables did not grow: the versions that
-- used to move to new pages now stay (trns 1 405 -> 1 418 pages, rcps
-- 423 -> 346, pubs 970 -> 861). Only pages written from now on are affected.

ALTER TABLE al.trns SET (fillfactor = 40);
ALTER TABLE al.rcps SET (fillfactor = 45);
ALTER TABLE al.pubs SET (fillfactor = 35);
