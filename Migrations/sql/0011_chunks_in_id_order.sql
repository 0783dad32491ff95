-- Generation chunks hold a selection's prompts in id order (issue 11, buffer share of an
-- iteration). No data moves: chunks already queued keep their prompts, and either order is valid.
--
-- A chunk used to be consecutive ranks of the selection, prompts scattered over the whole id
-- range, so each response of a submission went into a different leaf of the natural-key index
-- and each read of a chunk's prompts and responses touched a different page. Sorted, a chunk is
-- a narrow id range: 10–20% less buffer time per iteration at 48k prompts. The ranks are where
-- they were, in the selection row (iteration_selections.prompt_ids, rank = position).

COMMENT ON TABLE optune.generation_tasks IS 'Generation work queue: one task per chunk of prompts of (run, t) (a run''s chunk_size prompts of its selection or of its eval split, in prompt-id order; the ranks are in iteration_selections), each prompt sampled n times with policy_id. States pending → leased → done; dead after max_attempts (last_error kept); split when the chunk was replaced by smaller chunks (parent_chunk = this chunk) covering its prompts: after a lease expired (4 parts), or when some of its prompts failed and the rest were submitted. A chunk''s prompts never change. Which prompts died and why: unnest(prompt_ids) of the dead chunks.';
