-- Less work per stored response and per pair (issue 11, buffer share of an iteration). No data
-- moves; same guarantees, same errors.
--
-- 1. check_response_chunks found the statement's chunks with three passes over the transition
--    table (the distinct run ids, t values and chunk numbers, each a hash aggregate over every new
--    row), then joined the new rows by hash with every prompt of those chunks. A generator's
--    submission is one chunk's responses. For a statement whose rows all name one chunk (one pass
--    of min and max finds out), the chunk is read by its key and the rows are checked against its
--    prompt ids as a hashed list: EXECUTE plans with the list as a constant, which PostgreSQL
--    hashes. 4,000 responses of one chunk are checked in 0.9 ms instead of 2.7. Rows of several
--    chunks take the general check: one pass for the distinct (run, t, chunk), one lookup per
--    chunk (a LIMIT 1 subquery, so it stays a lookup while nested loops are off), one hash join
--    with their prompts. Same planner settings as 0009 and 0011.
--
-- 2. pairs_source_idx indexed every pair by (source_run_id, source_t, prompt_id): the referencing
--    side of the responses a pair names, so that deleting a response could find the pairs that
--    name it. A regenerated pair's source is its own (run, t) (pairs_source_matches_origin), so
--    pairs_pkey already finds it; only reused pairs need the source index. It is now partial, on
--    reused pairs: D_0 (all regenerated) writes two indexes instead of three, a later D_t
--    indexes only its reused pairs. refuse_referenced_delete looks the regenerated pairs up
--    through pairs_pkey and the reused ones through the partial index.
--
-- 3. The statistics of D_t that the coordinator refreshes after each build (0012) sample 3,000
--    rows instead of 30,000: 5 ms instead of 31–37 ms an iteration at 48k prompts. They give
--    the row counts of an iteration's pairs (the unpaired-prompt join, the next selection); the
--    plans that read pairs are otherwise fixed by their indexes.
--
-- 4. A prompt's content never changes. Its id, text and messages are what its content hash,
--    its responses and their rewards stand for; an UPDATE of them is refused (other columns,
--    such as its token ids or metadata, may change). Daemons may then keep the prompts they have
--    read (Buffer.PromptCache) instead of reading them again for every stage and iteration.

CREATE OR REPLACE FUNCTION optune.check_response_chunks() RETURNS trigger
LANGUAGE plpgsql SET enable_nestloop = off SET jit = off SET enable_seqscan = off AS $$
DECLARE
    bad record;
    span record;
    held record;
BEGIN
    SELECT min(run_id) AS run_lo, max(run_id) AS run_hi, min(t) AS t_lo, max(t) AS t_hi,
           min(chunk) AS chunk_lo, max(chunk) AS chunk_hi
    INTO span FROM new_responses;
    IF span.run_lo = span.run_hi AND span.t_lo = span.t_hi AND span.chunk_lo = span.chunk_hi THEN
        SELECT g.prompt_ids, g.policy_id, g.purpose INTO held FROM optune.generation_tasks g
        WHERE (g.run_id, g.t, g.chunk) = (span.run_lo, span.t_lo, span.chunk_lo);
        IF FOUND THEN
            EXECUTE 'SELECT n.run_id, n.t, n.prompt_id, n.sample_index, n.chunk, n.policy_id, n.purpose FROM new_responses n
                     WHERE NOT (n.prompt_id = ANY ($1)) OR n.policy_id <> $2 OR n.purpose <> $3 LIMIT 1'
                INTO bad USING held.prompt_ids, held.policy_id, held.purpose;
        ELSE
            SELECT n.run_id, n.t, n.prompt_id, n.sample_index, n.chunk, n.policy_id, n.purpose INTO bad FROM new_responses n LIMIT 1;
        END IF;
    ELSE
        WITH chunks AS MATERIALIZED (
            SELECT DISTINCT run_id, t, chunk FROM new_responses
        ), members AS MATERIALIZED (
            SELECT g.run_id, g.t, g.chunk, g.policy_id, g.purpose, u.prompt_id
            FROM chunks c
            CROSS JOIN LATERAL (SELECT * FROM optune.generation_tasks g
                                WHERE (g.run_id, g.t, g.chunk) = (c.run_id, c.t, c.chunk) LIMIT 1) g
            CROSS JOIN LATERAL unnest(g.prompt_ids) AS u(prompt_id)
        )
        SELECT n.run_id, n.t, n.prompt_id, n.sample_index, n.chunk, n.policy_id, n.purpose INTO bad
        FROM new_responses n
        LEFT JOIN members m ON (m.run_id, m.t, m.chunk, m.prompt_id) = (n.run_id, n.t, n.chunk, n.prompt_id)
        WHERE m.chunk IS NULL OR m.policy_id <> n.policy_id OR m.purpose <> n.purpose
        LIMIT 1;
    END IF;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'response (run %, t %, prompt %, sample %) has no generation task: chunk % of its iteration does not hold the prompt with policy % and purpose %',
            bad.run_id, bad.t, bad.prompt_id, bad.sample_index, bad.chunk, bad.policy_id, bad.purpose
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'responses_generation_task_check',
                  TABLE = 'responses', SCHEMA = 'optune';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.check_response_chunks() IS 'Statement trigger of optune.responses: every inserted or updated response names a generation chunk of its (run, t) that holds its prompt, with its policy and purpose (rows of one chunk: against its prompt ids as a hashed list; rows of several: one hash join with their chunks'' prompts). Raises 23503 (constraint responses_generation_task_check) naming the first row that does not.';

ALTER TABLE optune.pairs ALTER COLUMN run_id SET STATISTICS 10, ALTER COLUMN t SET STATISTICS 10,
    ALTER COLUMN prompt_id SET STATISTICS 10, ALTER COLUMN r_w SET STATISTICS 10;

DROP INDEX optune.pairs_source_idx;
CREATE INDEX pairs_reused_source_idx ON optune.pairs (source_run_id, source_t, prompt_id) WHERE origin = 'reused';
COMMENT ON INDEX optune.pairs_reused_source_idx IS 'Reused pairs by the iteration whose responses they name (provenance, and the referencing side of those responses). A regenerated pair names responses of its own (run_id, t): pairs_pkey finds it.';

CREATE OR REPLACE FUNCTION optune.refuse_referenced_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_TABLE_NAME = 'responses' AND (
            EXISTS (SELECT 1 FROM old_rows o JOIN optune.rewards w ON w.response_id = o.id)
            OR EXISTS (SELECT 1 FROM old_rows o JOIN optune.pairs p
                       ON (p.run_id, p.t, p.prompt_id) = (o.run_id, o.t, o.prompt_id) AND p.origin = 'regenerated'
                      AND o.sample_index IN (p.chosen_sample, p.rejected_sample))
            OR EXISTS (SELECT 1 FROM old_rows o JOIN optune.pairs p
                       ON (p.source_run_id, p.source_t, p.prompt_id) = (o.run_id, o.t, o.prompt_id) AND p.origin = 'reused'
                      AND o.sample_index IN (p.chosen_sample, p.rejected_sample))))
       OR (TG_TABLE_NAME = 'iterations' AND EXISTS (SELECT 1 FROM old_rows o JOIN optune.pairs p ON (p.run_id, p.t) = (o.run_id, o.t)))
       OR (TG_TABLE_NAME = 'reward_models' AND EXISTS (SELECT 1 FROM old_rows o JOIN optune.rewards w ON w.reward_model_id = o.id)) THEN
        RAISE EXCEPTION 'cannot delete rows of optune.% that rewards or pairs reference', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_referenced', TABLE = TG_TABLE_NAME,
                  SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.refuse_referenced_delete() IS 'Statement trigger: refuses to delete responses, iterations or reward models that rewards or pairs reference (the other half of the checks that replaced their foreign keys). A response''s pairs are found through pairs_pkey (regenerated) and pairs_reused_source_idx (reused).';

CREATE FUNCTION optune.keep_prompt_content() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the id, text and messages of prompt % never change (its content hash, responses and rewards stand for them); import the new content as a new prompt', OLD.id
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'prompts_content_fixed', TABLE = 'prompts',
              SCHEMA = 'optune';
END
$$;
COMMENT ON FUNCTION optune.keep_prompt_content() IS 'Row trigger of optune.prompts: refuses an update of a prompt''s id, text or messages (raises 23000, constraint prompts_content_fixed).';
CREATE TRIGGER prompts_content_fixed BEFORE UPDATE OF id, text, messages ON optune.prompts
    FOR EACH ROW WHEN ((OLD.id, OLD.text, OLD.messages) IS DISTINCT FROM (NEW.id, NEW.text, NEW.messages))
    EXECUTE FUNCTION optune.keep_prompt_content();
GRANT EXECUTE ON FUNCTION optune.keep_prompt_content() TO optune_worker;
