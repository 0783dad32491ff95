-- Buffer work of an iteration (issue 11): generation chunks in prompt-id order, and a reward
-- check that probes by key. No data moves.
--
-- 1. Generation chunks hold a selection's prompts in id order. A chunk used to be consecutive
--    ranks of the selection, prompts scattered over the whole id range, so each response of a
--    submission went into a different leaf of the natural-key index and each read of a chunk's
--    prompts and responses touched a different page. Sorted, a chunk is a narrow id range: 10–20%
--    less buffer time per iteration at 48k prompts. The ranks are where they were, in the
--    selection row (iteration_selections.prompt_ids, rank = position). Chunks already queued keep
--    their prompts; either order is valid.
--
-- 2. check_reward_references probes responses (and reward models) by key, one index lookup per
--    new reward, whatever the statistics say. PL/pgSQL keeps a statement's analysed form for the
--    session (the transition table's row count included) and its plan after five runs: a scorer
--    that started with the first generation chunks planned the check while responses held a few
--    hundred rows, chose to hash the whole table, and went on doing so at every submission as
--    responses grew — 3.9 ms per 500 rewards at 48k prompts instead of 0.5 ms, a fifth of the
--    buffer's work in `optune run`. Same check, same errors. check_response_chunks reads the
--    statement's chunks by key for the same reason: a kept plan that scans generation_tasks
--    would grow with every iteration's chunks.

COMMENT ON TABLE optune.generation_tasks IS 'Generation work queue: one task per chunk of prompts of (run, t) (a run''s chunk_size prompts of its selection or of its eval split, in prompt-id order; the ranks are in iteration_selections), each prompt sampled n times with policy_id. States pending → leased → done; dead after max_attempts (last_error kept); split when the chunk was replaced by smaller chunks (parent_chunk = this chunk) covering its prompts: after a lease expired (4 parts), or when some of its prompts failed and the rest were submitted. A chunk''s prompts never change. Which prompts died and why: unnest(prompt_ids) of the dead chunks.';

ALTER FUNCTION optune.check_reward_references() SET enable_seqscan = off;
ALTER FUNCTION optune.check_reward_references() SET enable_hashjoin = off;
ALTER FUNCTION optune.check_reward_references() SET enable_mergejoin = off;
COMMENT ON FUNCTION optune.check_reward_references() IS 'Statement trigger of optune.rewards: every new reward names an existing response and reward model (raises 23503 rewards_response_fk / rewards_reward_model_fk), one index lookup per reward whatever the statistics (sequential scans, hash and merge joins off: a plan kept from when responses was small hashed the whole table).';
ALTER FUNCTION optune.check_response_chunks() SET enable_seqscan = off;
