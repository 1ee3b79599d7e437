-- 013: a print batch may be split into several streams (print.max_pages), so
-- a print stream names the recipients whose letters it holds, in order; the
-- archiver gives each of them its own stream's document number.

ALTER TABLE al.pubs ADD COLUMN stream_rcps bigint[];
COMMENT ON COLUMN al.pubs.stream_rcps IS 'Print streams: the recipients whose letters the stream holds, in print order (NULL for per-recipient publications)';
