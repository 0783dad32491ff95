-- Cheaper per-statement work when D_t is built (issue 11, buffer share of an iteration).
--
-- 1. check_pair_references looks each (run, t) of a statement up once, not once per pair, and
--    finds both samples of a pair with one index range (its prompt at the source iteration),
--    not two lookups. Same errors, same constraint names.
-- 2. pairs_gap_from_rewards runs its PL/pgSQL body only when the gap written is not already
--    reward_gap(r_w, r_l): the pair builder writes it, a hand-written or stale value is still
--    replaced.

CREATE OR REPLACE FUNCTION optune.check_pair_references() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.run_id, n.t, n.prompt_id, 'pairs_iteration_fk' AS name INTO bad
    FROM (SELECT run_id, t, min(prompt_id) AS prompt_id FROM new_pairs GROUP BY run_id, t) n
    WHERE NOT EXISTS (SELECT 1 FROM optune.iterations i WHERE (i.run_id, i.t) = (n.run_id, n.t))
    LIMIT 1;
    IF NOT FOUND THEN
        -- chosen_sample <> rejected_sample (a check), and samples are unique per prompt: two
        -- rows in the range are the two samples. The range bounds keep it to one index descent.
        SELECT n.run_id, n.t, n.prompt_id,
               CASE WHEN EXISTS (
                        SELECT 1 FROM optune.responses c
                        WHERE (c.run_id, c.t, c.prompt_id, c.sample_index)
                            = (n.source_run_id, n.source_t, n.prompt_id, n.chosen_sample))
                    THEN 'pairs_rejected_fk' ELSE 'pairs_chosen_fk' END AS name
        INTO bad
        FROM new_pairs n
        WHERE (SELECT count(*) FROM optune.responses r
               WHERE (r.run_id, r.t, r.prompt_id) = (n.source_run_id, n.source_t, n.prompt_id)
                 AND r.sample_index BETWEEN least(n.chosen_sample, n.rejected_sample)
                                        AND greatest(n.chosen_sample, n.rejected_sample)
                 AND r.sample_index IN (n.chosen_sample, n.rejected_sample)) <> 2
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE EXCEPTION 'pair (run %, t %, prompt %) references a row that does not exist (%)', bad.run_id, bad.t, bad.prompt_id, bad.name
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = bad.name, TABLE = 'pairs', SCHEMA = 'optune';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.check_pair_references() IS 'Statement trigger of optune.pairs: every new pair belongs to an existing iteration (one lookup per (run, t) of the statement) and its chosen and rejected samples exist for its prompt at (source_run_id, source_t) (one index range per pair); raises 23503 pairs_iteration_fk / pairs_chosen_fk / pairs_rejected_fk.';

DROP TRIGGER pairs_gap_from_rewards ON optune.pairs;
CREATE TRIGGER pairs_gap_from_rewards
BEFORE INSERT OR UPDATE ON optune.pairs
FOR EACH ROW WHEN (NEW.gap IS DISTINCT FROM optune.reward_gap(NEW.r_w, NEW.r_l))
EXECUTE FUNCTION optune.pairs_set_gap();
COMMENT ON TRIGGER pairs_gap_from_rewards ON optune.pairs IS 'Keeps gap = optune.reward_gap(r_w, r_l): a row that arrives with another gap (or none) gets this one; one that arrives with it skips the function.';
