-- 035: the workers' functions and the roll-up triggers take generic plans.
--
-- PL/pgSQL plans each statement of a function with the call's values for its
-- first five calls on a connection, then keeps a generic plan if that costs
-- no more than the custom ones did, else plans every call anew. The line has
-- 13 connections, and per 10 000 records bench/throughput --profile counted
-- 4 360 plans and 490 ms of planning in PostgreSQL's 4.9 s of CPU, most of
-- it for these functions' statements. Each of them names its rows by id
-- (`= ANY`, `unnest` of the statement's ids, the transition tables), for which
-- a generic plan is the plan a custom one would be; with this migration the
-- same run planned 3 046 times for 195 ms.
--
-- Not for the scheduler's functions (al.claim, al.form_batches,
-- al.open_barriers, al.requeue*, al.stage_gauges): the claim reads a lane
-- as a range of a parameter, which a generic plan estimates at 0.5 % of the
-- records; it then read every ready record with a bitmap scan and sorted
-- them for each claim of 500 (28 ms instead of 11 at 10 000 ready records,
-- and growing with the job). Nested functions (the bump_* roll-ups,
-- al.check_status_moves, al.advance_jobs) run with the setting of the
-- function or trigger that called them. Nor for the triggers of al.jobs:
-- they still join their transition tables, and a kept plan would keep the
-- row count of the first statement (docs/internals.md). Test:
-- Rollups.WorkerFunctionsAndTriggersTakeGenericPlansAndClaimsDoNot.
ALTER FUNCTION al.ack(text, bigint[], int[], text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.lock_owned(text, bigint[], int[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.finish(text, bigint[], int[], boolean[], text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.trns_after_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.trns_after_update() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.rcps_after_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.rcps_after_update() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.rcps_search_after_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.bchs_after_insert() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.bchs_after_update() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION al.pubs_after_update() SET plan_cache_mode = force_generic_plan;
