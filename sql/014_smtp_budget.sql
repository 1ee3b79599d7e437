-- 014: smtp.rate_per_minute shared by every publisher process (seed
-- serial-correspondence-de.txt, "Warten auf Fortsetzung"). A token bucket per
-- SMTP server in the database: it holds at most a minute's worth of messages
-- and refills continuously; a publisher takes tokens in the same transaction
-- as the intents of the messages it is about to send. When the bucket is
-- empty the batch goes back to 611 with not_before at the next token, the job
-- says "waiting for continuation", and it goes on by itself.

CREATE TABLE al.smtp_budget (
  server      text PRIMARY KEY,
  tokens      double precision NOT NULL,
  refilled_at timestamptz NOT NULL
);
COMMENT ON TABLE al.smtp_budget IS 'Token bucket per SMTP server for smtp.rate_per_minute, shared by all publishers (al.take_smtp_budget)';

CREATE FUNCTION al.take_smtp_budget(p_server text, p_want int, p_per_minute int,
                                    OUT granted int, OUT wait_s double precision)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  now_ts timestamptz := clock_timestamp();
  capacity double precision := p_per_minute;
  available double precision;
BEGIN
  IF p_per_minute <= 0 THEN  -- unlimited
    granted := p_want;
    wait_s := 0;
    RETURN;
  END IF;
  INSERT INTO al.smtp_budget (server, tokens, refilled_at) VALUES (p_server, capacity, now_ts)
  ON CONFLICT (server) DO NOTHING;
  SELECT least(capacity, b.tokens + greatest(0, extract(epoch FROM now_ts - b.refilled_at)) * p_per_minute / 60.0)
  INTO available FROM al.smtp_budget b WHERE b.server = p_server FOR UPDATE;
  granted := least(p_want, floor(available)::int);
  available := available - granted;
  wait_s := CASE WHEN granted < p_want THEN (1 - available) * 60.0 / p_per_minute ELSE 0 END;
  UPDATE al.smtp_budget SET tokens = available, refilled_at = now_ts WHERE server = p_server;
END $$;
COMMENT ON FUNCTION al.take_smtp_budget(text, int, int) IS
  'Publisher: takes up to p_want messages from the server''s per-minute budget; returns how many it may send now and, when fewer than wanted, the seconds until the next one';
REVOKE EXECUTE ON FUNCTION al.take_smtp_budget(text, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION al.take_smtp_budget(text, int, int) TO al_worker;
GRANT SELECT ON al.smtp_budget TO al_admin;
