-- ccr_post_messages plans each of its statements for the batch in hand (custom plans), not
-- once for the life of a pooled connection (plpgsql's cached generic plan). A generic plan
-- made while `messages` was small (a new install, a fresh benchmark database) keeps scanning
-- the whole table on every batch long after it has grown: `python -m bench.pg_post
-- --warmup 0` measured 0.53 ms of PostgreSQL CPU per message with the cached plan against
-- 0.27 ms once ANALYZE had replaced it, and 1.10 ms (custom plans: 0.46 ms) over 30,000
-- messages, growing with the table. Planning afresh costs a little on every batch and
-- never goes stale.
ALTER FUNCTION ccr_post_messages SET plan_cache_mode = force_custom_plan;
