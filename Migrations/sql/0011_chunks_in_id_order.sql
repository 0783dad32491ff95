-- Buffer work of an iteration (issue 11): generation chunks in prompt-id order, and a reward
-- check planned for the table it runs against. No data moves.
--
-- 1. Generation chunks hold a selection's prompts in id order. A chunk used to be consecutive
--    ranks of the selection, prompts scattered over the whole id range, so each response of a
--    submission went into a different leaf of the natural-key index and each read of a chunk's
--    prompts and responses touched a different page. Sorted, a chunk is a narrow id range: 10–20%
--    less buffer time per iteration at 48k prompts. The ranks are where they were, in the
--    selection row (iteration_selections.prompt_ids, rank = position). Chunks already queued keep
--    their prompts; either order is valid.
--
-- 2. check_reward_references plans its statement at every run (plan_cache_mode =
--    force_custom_plan). PL/pgSQL keeps a statement's plan for the session and switches to a
--    generic plan after five runs: a scorer that started with the first generation chunks planned
--    the check while responses held a few hundred rows, chose to hash the whole table, and kept
--    doing so at every submission as responses grew — 3.9 ms per 500 rewards at 48k prompts
--    instead of 0.5 ms, a fifth of the buffer's work in `optune run`. Same check, same errors.

COMMENT ON TABLE optune.generation_tasks IS 'Generation work queue: one task per chunk of prompts of (run, t) (a run''s chunk_size prompts of its selection or of its eval split, in prompt-id order; the ranks are in iteration_selections), each prompt sampled n times with policy_id. States pending → leased → done; dead after max_attempts (last_error kept); split when the chunk was replaced by smaller chunks (parent_chunk = this chunk) covering its prompts: after a lease expired (4 parts), or when some of its prompts failed and the rest were submitted. A chunk''s prompts never change. Which prompts died and why: unnest(prompt_ids) of the dead chunks.';

ALTER FUNCTION optune.check_reward_references() SET plan_cache_mode = force_custom_plan;
COMMENT ON FUNCTION optune.check_reward_references() IS 'Statement trigger of optune.rewards: every new reward names an existing response and reward model (raises 23503 rewards_response_fk / rewards_reward_model_fk). Planned at every run (plan_cache_mode = force_custom_plan): a plan kept from when responses was small hashes the whole table.';
