-- 0005_stable_pair_weights.sql — pair gaps and weights that never raise a floating-point error.
--
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.
--
-- PostgreSQL raises 22003 when float8 arithmetic overflows or underflows on finite inputs, where
-- IEEE would return ±Infinity or 0: `exp(-5 * 160)` underflows, `exp(1000 * gap)` overflows, and
-- `1e308 - (-1e308)` overflows. Pair building computed weight = 1 / (1 + exp(−β2·gap)) and the
-- generated column gap = r_w − r_l that way, so a large but finite reward gap stopped a run.
--
-- Now:
--   * optune.reward_gap(r_w, r_l) = r_w − r_l, or ±Infinity once the difference reaches the largest
--     double (1.7976931348623157e308) — the IEEE limit, where r_w − r_l would overflow.
--   * optune.pair_weight(β2, gap) = σ(β2·gap) for any inputs, never an error: 0.5 when |β2·gap| is
--     below 1e-304 (σ rounds to 0.5 there), the limit 1 or 0 when |β2·gap| > e^6.5 ≈ 665 (σ is
--     1 in double precision there, or below 1e-288), the exact formula in between, where neither
--     the product nor exp can leave the normal double range.
--   * pairs.gap stops being a generated column (PostgreSQL 15 cannot change a generation
--     expression, and dropping the column would drop the views that read it); a BEFORE INSERT OR
--     UPDATE trigger sets it from r_w and r_l with optune.reward_gap, so it is still never written
--     by hand and never disagrees with the rewards.

CREATE FUNCTION optune.reward_gap(p_r_w double precision, p_r_l double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN p_r_l < 0 AND p_r_w >= p_r_l + 1.7976931348623157e308 THEN 'Infinity'::double precision
    WHEN p_r_l > 0 AND p_r_w <= p_r_l - 1.7976931348623157e308 THEN '-Infinity'::double precision
    ELSE p_r_w - p_r_l
END;
COMMENT ON FUNCTION optune.reward_gap(double precision, double precision) IS 'r_w − r_l, or ±Infinity once the difference reaches the largest double (where float8 subtraction would raise 22003 overflow). Never raises.';

CREATE FUNCTION optune.pair_weight(p_beta2 double precision, p_gap double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN p_beta2 = 'NaN' OR p_gap = 'NaN' THEN 'NaN'::double precision
    WHEN p_beta2 = 0 OR p_gap = 0 THEN 0.5
    -- |β2·gap| > e^6.5: σ is 1 (or 0) to double precision; ln never overflows, and ln(∞) = ∞.
    WHEN ln(abs(p_beta2)) + ln(abs(p_gap)) > 6.5 THEN CASE WHEN (p_beta2 > 0) = (p_gap > 0) THEN 1.0 ELSE 0.0 END
    -- |β2·gap| < e^-700: the product could underflow; σ rounds to 0.5 long before.
    WHEN ln(abs(p_beta2)) + ln(abs(p_gap)) < -700 THEN 0.5
    -- |β2·gap| in [e^-700, e^6.5]: exp(−x) stays within [e^-6.5, e^6.5].
    ELSE 1 / (1 + exp(-(p_beta2 * p_gap)))
END;
COMMENT ON FUNCTION optune.pair_weight(double precision, double precision) IS 'σ(β2·gap) = 1 / (1 + exp(−β2·gap)) for any inputs without a floating-point error: 0.5 when |β2·gap| < e^-700, the limit 1 or 0 when |β2·gap| > e^6.5 (σ is 1 to double precision there), infinite gaps included.';

-- Aggregates of rewards: float8 avg/stddev raise 22003 once squares leave the double range (scores
-- beyond about 1e154), so means are taken over exact numerics (score::text::numeric is exact: float8
-- output is shortest-exact) and converted back with this function, which never raises either.
CREATE FUNCTION optune.numeric_to_float8(p_value numeric)
RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN p_value = 'NaN' THEN 'NaN'::double precision
    WHEN abs(p_value) < 2.2250738585072014e-308 THEN 0
    WHEN p_value > 1.7976931348623157e308 THEN 'Infinity'::double precision
    WHEN p_value < -1.7976931348623157e308 THEN '-Infinity'::double precision
    ELSE p_value::double precision
END;
COMMENT ON FUNCTION optune.numeric_to_float8(numeric) IS 'numeric → double precision without an out-of-range error: 0 below the smallest normal double, ±Infinity beyond the largest.';

ALTER TABLE optune.pairs ALTER COLUMN gap DROP EXPRESSION;

CREATE FUNCTION optune.pairs_set_gap()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.gap := optune.reward_gap(NEW.r_w, NEW.r_l);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optune.pairs_set_gap() IS 'Trigger of pairs_gap_from_rewards: pairs.gap := optune.reward_gap(r_w, r_l).';

CREATE TRIGGER pairs_gap_from_rewards
BEFORE INSERT OR UPDATE ON optune.pairs
FOR EACH ROW EXECUTE FUNCTION optune.pairs_set_gap();
COMMENT ON TRIGGER pairs_gap_from_rewards ON optune.pairs IS 'Keeps gap = optune.reward_gap(r_w, r_l) (formerly a generated column; a value written by hand is replaced).';

COMMENT ON COLUMN optune.pairs.gap IS 'r_w − r_l ≥ 0, set by trigger pairs_gap_from_rewards; +Infinity when the difference exceeds the double range (rewards near ±1.8e308).';
COMMENT ON COLUMN optune.pairs.weight IS 'σ(β2·gap) in [0.5, 1], computed by optune.pair_weight (1 when β2·gap is large or gap is infinite).';
