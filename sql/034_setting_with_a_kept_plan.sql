-- 034: al.setting keeps its plan.
--
-- As a SQL function whose body reads a table, al.setting could not be inlined
-- and its SELECT was planned again at every call: the record trigger asks for
-- `history_items` on every statement, 280 calls and 35 ms of planning per
-- 10 000-record run (bench/throughput --profile, 2026-12-01). In PL/pgSQL the
-- plan is kept for the session.
CREATE OR REPLACE FUNCTION al.setting(p_key text) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT s.value FROM al.settings s WHERE s.key = p_key);
END $$;
