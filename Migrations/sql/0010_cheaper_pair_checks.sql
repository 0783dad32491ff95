-- Cheaper per-statement work when D_t is built (issue 11, buffer share of an iteration).
--
-- 1. check_pair_references looks each (run, t) of a statement up once, not once per pair, and
--    finds both samples of a pair with one index range (its prompt at the source iteration),
--    not two lookups. Same errors, same constraint names.
-- 2. pairs_gap_from_rewards runs its PL/pgSQL body only when the gap written is not already
--    reward_gap(r_w, r_l): the pair builder writes it, a hand-written or stale value is still
--    replaced.
-- 3. reward_gap and pair_weight are inlined by the planner again. A STRICT SQL function whose
--    body is not strict (a CASE) is never inlined: it ran through the SQL-function executor for
--    every pair, about 2 µs a call, a third of building D_t. Declared CALLED ON NULL INPUT, with
--    NULL returned explicitly for a NULL argument as before, the same expression is inlined.

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

CREATE OR REPLACE FUNCTION optune.reward_gap(p_r_w double precision, p_r_l double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN p_r_w IS NULL OR p_r_l IS NULL THEN NULL
    WHEN p_r_l < 0 AND p_r_w >= p_r_l + 1.7976931348623157e308 THEN 'Infinity'::double precision
    WHEN p_r_l > 0 AND p_r_w <= p_r_l - 1.7976931348623157e308 THEN '-Infinity'::double precision
    ELSE p_r_w - p_r_l
END;
COMMENT ON FUNCTION optune.reward_gap(double precision, double precision) IS 'r_w − r_l, or ±Infinity once the difference reaches the largest double (where float8 subtraction would raise 22003 overflow); NULL if either is NULL. Never raises. Not STRICT, so that the planner inlines it.';

CREATE OR REPLACE FUNCTION optune.pair_weight(p_beta2 double precision, p_gap double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN p_beta2 IS NULL OR p_gap IS NULL THEN NULL
    WHEN p_beta2 = 'NaN' OR p_gap = 'NaN' THEN 'NaN'::double precision
    WHEN p_beta2 = 0 OR p_gap = 0 THEN 0.5
    -- |β2·gap| > e^6.5: σ is 1 (or 0) to double precision; ln never overflows, and ln(∞) = ∞.
    WHEN ln(abs(p_beta2)) + ln(abs(p_gap)) > 6.5 THEN CASE WHEN (p_beta2 > 0) = (p_gap > 0) THEN 1.0 ELSE 0.0 END
    -- |β2·gap| < e^-700: the product could underflow; σ rounds to 0.5 long before.
    WHEN ln(abs(p_beta2)) + ln(abs(p_gap)) < -700 THEN 0.5
    -- |β2·gap| in [e^-700, e^6.5]: exp(−x) stays within [e^-6.5, e^6.5].
    ELSE 1 / (1 + exp(-(p_beta2 * p_gap)))
END;
COMMENT ON FUNCTION optune.pair_weight(double precision, double precision) IS 'σ(β2·gap) = 1 / (1 + exp(−β2·gap)) for any inputs without a floating-point error: 0.5 when |β2·gap| < e^-700, the limit 1 or 0 when |β2·gap| > e^6.5 (σ is 1 to double precision there), infinite gaps included; NULL if either is NULL. Not STRICT, so that the planner inlines it.';
