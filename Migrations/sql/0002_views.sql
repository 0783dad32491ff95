-- 0002_views.sql — views that answer the questions users ask of the reward history (DESIGN §3),
-- and a read-only role for analysts.
--
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT.
--
-- Conventions
--   * Plain views, so they are always current, and linear in the rows they read. Every view is
--     driven from runs (with iterations or run_lineage) and reaches pairs through pairs_pkey
--     (run_id, t, …); per-(run, t) aggregates are LATERAL subqueries over one D_t each. So a
--     filter on run_id or run_name (columns of every view but run_lineage) is applied to runs
--     first and only the wanted runs' pairs are read. No subquery is correlated with every row
--     of a big table.
--   * Forks. A fork takes D_t for t ≤ forked_from_iteration from its parent by reference; those
--     pairs are stored once, under the parent (pairs.run_id = the run that built D_t). The
--     helper view optune.run_lineage maps (run, t) to the run that owns D_t; the other views use
--     it wherever they read an iteration a fork did not run itself.

-- ---------------------------------------------------------------------------------------------
-- helpers
-- ---------------------------------------------------------------------------------------------

-- The seed selection uses to break ties at iteration t: seed·1000003 + t with 64-bit two's
-- complement wrap-around, exactly as the Selection module computes it (Swift &* and &+), so SQL
-- can reproduce the selection's order: ORDER BY r_w, hashint8extended(prompt_id, seed), prompt_id.
CREATE FUNCTION optune.selection_tie_seed(p_seed bigint, p_t integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ((((p_seed::numeric * 1000003 + p_t + 9223372036854775808) % 18446744073709551616)
         + 18446744073709551616) % 18446744073709551616 - 9223372036854775808)::bigint;
COMMENT ON FUNCTION optune.selection_tie_seed(bigint, integer) IS 'Tie-break seed of selection at iteration t: seed·1000003 + t, wrapped to int8 like Swift &*/&+. Order as selection does with hashint8extended(prompt_id, optune.selection_tie_seed(seed, t)).';

-- Which run owns D_t (and iteration t's data) for every run and t. A run owns t ≥ t_from; for
-- t < t_from its parent owns t up to the fork iteration, and so on up to the root run, which
-- owns t from 0. Runs are few, so the recursion over them is cheap; depth < 1000 stops a cycle
-- that an UPDATE of runs could create (a fork always references an older run).
CREATE VIEW optune.run_lineage AS
WITH RECURSIVE lineage (run_id, owner_run_id, depth, t_from, t_through, next_run_id, next_through) AS (
    SELECT r.id, r.id, 0, coalesce(r.forked_from_iteration + 1, 0), NULL::integer,
           r.forked_from_run_id, r.forked_from_iteration
    FROM optune.runs r
    UNION ALL
    SELECT l.run_id, p.id, l.depth + 1, coalesce(p.forked_from_iteration + 1, 0), l.next_through,
           p.forked_from_run_id, p.forked_from_iteration
    FROM lineage l
    JOIN optune.runs p ON p.id = l.next_run_id
    WHERE l.depth < 1000
)
SELECT run_id, owner_run_id, depth, t_from, t_through FROM lineage;
COMMENT ON VIEW optune.run_lineage IS
'Which run owns iteration t (its D_t, selections, responses) as seen from run_id, following forks. One row per (run_id, ancestor): '
'owner_run_id owns t_from ≤ t ≤ t_through (t_through NULL = no upper bound). depth 0 is the run itself (t_from = forked_from_iteration + 1, or 0), '
'depth 1 its parent (up to the fork iteration), …; the last row is the lineage root, with t_from = 0. '
'Join: owner_run_id = x.run_id AND x.t BETWEEN t_from AND coalesce(t_through, 2147483647).';

-- ---------------------------------------------------------------------------------------------
-- reward_trajectory
-- ---------------------------------------------------------------------------------------------

CREATE VIEW optune.reward_trajectory AS
SELECT r.id                          AS run_id,
       r.name                        AS run_name,
       p.t,
       p.prompt_id,
       p.run_id                      AS owner_run_id,
       p.run_id <> r.id              AS inherited,
       p.origin,
       p.source_run_id,
       p.source_t,
       p.t - p.source_t              AS age,
       p.r_w,
       p.r_l,
       p.gap,
       p.weight,
       p.zero_gap,
       s.prompt_id IS NOT NULL       AS selected,
       s.rank                        AS selection_rank,
       s.ranking_reward
FROM optune.runs r
JOIN optune.run_lineage l ON l.run_id = r.id
JOIN optune.pairs p
  ON p.run_id = l.owner_run_id AND p.t >= l.t_from AND p.t <= coalesce(l.t_through, 2147483647)
LEFT JOIN optune.selections s
  ON s.run_id = p.run_id AND s.t = p.t AND s.prompt_id = p.prompt_id;
COMMENT ON VIEW optune.reward_trajectory IS
'One row per (run, t, prompt): the prompt''s pair in D_t as run_id sees it, forks included (a fork''s rows for t ≤ its fork iteration come from its parent). '
'Columns: owner_run_id = the run that built D_t; inherited = owner_run_id <> run_id (shared prefix of a fork); '
'origin = regenerated (new samples at t) or reused (carried over unchanged); source_run_id, source_t = where the two responses were generated; '
'age = t − source_t (0 when regenerated); r_w = chosen reward, r_l = rejected reward, gap = r_w − r_l, weight = σ(β2·gap), zero_gap = (r_w = r_l); '
'selected = the prompt was selected for regeneration at t; selection_rank = its rank (1 = first); '
'ranking_reward = the reward that ranked it (its r_w in D_{t−1}; NULL at t = 0 and for full/random selection). '
'Filter on run_name or run_id, and on prompt_id or t: the filters reach pairs_pkey.';

-- ---------------------------------------------------------------------------------------------
-- iteration_summary
-- ---------------------------------------------------------------------------------------------

CREATE VIEW optune.iteration_summary AS
SELECT r.id                                   AS run_id,
       r.name                                 AS run_name,
       i.t,
       i.state,
       i.policy_id,
       i.rho,
       i.strategy,
       i.t < coalesce(r.forked_from_iteration + 1, 0) + r.iterations_planned AS trains,
       i.prompts_total,
       i.selected,
       i.regenerated,
       i.reused,
       i.zero_gap_pairs,
       d.pairs,
       d.mean_chosen_reward,
       d.median_chosen_reward,
       d.p10_chosen_reward,
       d.mean_gap,
       e.mean_reward                          AS eval_reward,
       e.reward_stddev                        AS eval_reward_stddev,
       e.n                                    AS eval_n,
       i.responses_generated                  AS train_responses,
       i.tokens_generated                     AS train_tokens,
       i.eval_responses,
       i.eval_tokens_generated                AS eval_tokens,
       z.run_id                               AS full_iteration_run_id,
       z.tokens_generated                     AS full_iteration_tokens,
       CASE WHEN i.t < coalesce(r.forked_from_iteration + 1, 0) + r.iterations_planned
                 AND i.state NOT IN ('selecting', 'generating') AND z.tokens_generated > 0
            THEN 1 - i.tokens_generated::double precision / z.tokens_generated
       END                                    AS token_saving,
       i.dead_tasks,
       i.select_seconds,
       i.generate_seconds,
       i.score_seconds,
       i.build_seconds,
       i.train_seconds,
       i.evaluate_seconds,
       coalesce(i.select_seconds, 0) + coalesce(i.generate_seconds, 0) + coalesce(i.score_seconds, 0)
           + coalesce(i.build_seconds, 0) + coalesce(i.train_seconds, 0) + coalesce(i.evaluate_seconds, 0)
                                              AS total_seconds,
       i.failure_reason,
       i.started_at,
       i.finished_at
FROM optune.runs r
JOIN optune.iterations i ON i.run_id = r.id
LEFT JOIN LATERAL (
    SELECT count(*)                                                  AS pairs,
           avg(p.r_w)                                                AS mean_chosen_reward,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY p.r_w)        AS median_chosen_reward,
           percentile_cont(0.1) WITHIN GROUP (ORDER BY p.r_w)        AS p10_chosen_reward,
           avg(p.gap)                                                AS mean_gap
    FROM optune.pairs p
    WHERE p.run_id = i.run_id AND p.t = i.t
) d ON true
LEFT JOIN optune.evaluations e
  ON e.run_id = i.run_id AND e.t = i.t AND e.policy_id = i.policy_id AND e.split = 'eval'
LEFT JOIN optune.run_lineage root ON root.run_id = r.id AND root.t_from = 0
LEFT JOIN optune.iterations z ON z.run_id = root.owner_run_id AND z.t = 0;
COMMENT ON VIEW optune.iteration_summary IS
'One row per iteration (run, t) the run ran itself (a fork''s shared prefix is listed under its parent). '
'state, policy_id (π_t), rho and strategy as used (t = 0 is fully online); trains = false for the final iteration T, which only evaluates π_T; '
'prompts_total = |P|; selected = prompts selected for regeneration (= count of selections); regenerated / reused / zero_gap_pairs = pairs of D_t by kind; '
'pairs = |D_t|; mean_chosen_reward, median_chosen_reward, p10_chosen_reward = mean, percentile_cont(0.5) and percentile_cont(0.1) of r_w over D_t; mean_gap = mean r_w − r_l over D_t (all NULL when no D_t was built); '
'eval_reward, eval_reward_stddev, eval_n = evaluation of π_t on the eval split, recorded by iteration t; '
'train_responses, train_tokens = training samples and their tokens generated at t; eval_responses, eval_tokens likewise for evaluation; '
'full_iteration_tokens = train tokens of the lineage''s fully-online iteration 0 (for a fork, its root run''s), run full_iteration_run_id: the estimate of what ρ = 1 generates per iteration; '
'token_saving = 1 − train_tokens / full_iteration_tokens (NULL until generation is counted and for the final evaluation-only iteration); '
'*_seconds = wall time of each stage (NULL until it ran), total_seconds = their sum; dead_tasks, failure_reason as on iterations.';

-- ---------------------------------------------------------------------------------------------
-- fig2_gain_split
-- ---------------------------------------------------------------------------------------------

CREATE VIEW optune.fig2_gain_split AS
-- steps: every (run, t ≥ 1) with the run that owns D_{t−1} and the tie-break seed of t. Runs ×
-- iterations is small; MATERIALIZED computes the seed once per step (not once per pair) and
-- hands it to the LATERAL as a parameter. A filter on run_id / run_name is applied to the
-- steps before the LATERAL runs, so only the wanted runs' pairs are read.
WITH steps AS MATERIALIZED (
    SELECT r.id                                   AS run_id,
           r.name                                 AS run_name,
           i.t,
           l.owner_run_id                         AS prev_owner_run_id,
           optune.selection_tie_seed(r.seed, i.t) AS tie_seed
    FROM optune.runs r
    JOIN optune.iterations i ON i.run_id = r.id AND i.t >= 1
    JOIN optune.run_lineage l
      ON l.run_id = r.id AND i.t - 1 >= l.t_from AND i.t - 1 <= coalesce(l.t_through, 2147483647)
)
SELECT s.run_id,
       s.run_name,
       s.t,
       s.prev_owner_run_id,
       g.prompts,
       g.bottom_prompts,
       g.top_prompts,
       g.bottom_max_prev_reward,
       g.bottom_mean_prev_reward,
       g.top_mean_prev_reward,
       g.total_gain,
       g.bottom_gain,
       g.top_gain,
       g.bottom_gain / nullif(g.total_gain, 0) AS bottom_share,
       g.top_gain / nullif(g.total_gain, 0)    AS top_share,
       g.bottom_mean_gain,
       g.top_mean_gain,
       g.bottom_regenerated,
       g.top_regenerated
FROM steps s
CROSS JOIN LATERAL (
    SELECT count(*)                                                     AS prompts,
           count(*) FILTER (WHERE h.bottom)                             AS bottom_prompts,
           count(*) FILTER (WHERE NOT h.bottom)                         AS top_prompts,
           max(h.r_w_prev) FILTER (WHERE h.bottom)                      AS bottom_max_prev_reward,
           avg(h.r_w_prev) FILTER (WHERE h.bottom)                      AS bottom_mean_prev_reward,
           avg(h.r_w_prev) FILTER (WHERE NOT h.bottom)                  AS top_mean_prev_reward,
           sum(h.gain)                                                  AS total_gain,
           coalesce(sum(h.gain) FILTER (WHERE h.bottom), 0)             AS bottom_gain,
           coalesce(sum(h.gain) FILTER (WHERE NOT h.bottom), 0)         AS top_gain,
           avg(h.gain) FILTER (WHERE h.bottom)                          AS bottom_mean_gain,
           avg(h.gain) FILTER (WHERE NOT h.bottom)                      AS top_mean_gain,
           count(*) FILTER (WHERE h.bottom AND h.origin = 'regenerated')     AS bottom_regenerated,
           count(*) FILTER (WHERE NOT h.bottom AND h.origin = 'regenerated') AS top_regenerated
    FROM (
        SELECT x.r_w_prev, x.gain, x.origin, x.position <= (x.n + 1) / 2 AS bottom
        FROM (
            SELECT prev.r_w                AS r_w_prev,
                   cur.r_w - prev.r_w      AS gain,
                   cur.origin,
                   row_number() OVER (ORDER BY prev.r_w, hashint8extended(cur.prompt_id, s.tie_seed), cur.prompt_id)
                                           AS position,
                   count(*) OVER ()        AS n
            FROM optune.pairs cur
            JOIN optune.pairs prev
              ON prev.run_id = s.prev_owner_run_id AND prev.t = s.t - 1 AND prev.prompt_id = cur.prompt_id
            WHERE cur.run_id = s.run_id AND cur.t = s.t
        ) x
    ) h
) g
WHERE g.prompts > 0;
COMMENT ON VIEW optune.fig2_gain_split IS
'The paper''s Fig. 2 analysis: how much of the reward gain from D_{t−1} to D_t came from the prompts that had low reward at t−1. One row per (run, t) with t ≥ 1 and D_t built by the run itself. '
'Definition: take every prompt with a pair in both D_{t−1} and D_t, where D_t is the run''s own and D_{t−1} is read from the run that owns it '
'(prev_owner_run_id: the run itself, or for a fork''s first iteration the parent — via run_lineage, following forks of forks). '
'gain(prompt) = r_w in D_t − r_w in D_{t−1} (0 for a reused pair). Rank the prompts by r_w in D_{t−1} ascending, ties broken as selection breaks them '
'(hashint8extended(prompt_id, optune.selection_tie_seed(runs.seed, t)), then prompt_id), so for strategy reward with ρ = 0.5 the bottom half is exactly the selected set. '
'bottom = the first ceil(prompts/2) in that order, top = the rest. total_gain = Σ gain over all prompts; bottom_gain, top_gain = Σ gain over each half; '
'bottom_share = bottom_gain / total_gain, top_share = top_gain / total_gain (they add up to 1; NULL when total_gain = 0; outside [0, 1] when the halves'' gains differ in sign); '
'bottom_mean_gain, top_mean_gain = mean gain per prompt of each half; bottom_max_prev_reward = the highest D_{t−1} reward in the bottom half (the split point); '
'bottom_mean_prev_reward, top_mean_prev_reward = mean D_{t−1} reward of each half; bottom_regenerated, top_regenerated = prompts of each half regenerated at t.';

-- ---------------------------------------------------------------------------------------------
-- reused_pair_staleness
-- ---------------------------------------------------------------------------------------------

CREATE VIEW optune.reused_pair_staleness AS
SELECT r.id        AS run_id,
       r.name      AS run_name,
       i.t,
       a.pairs,
       a.regenerated,
       a.reused,
       a.reused_age_1,
       a.reused_age_2,
       a.reused_age_3_plus,
       a.mean_age,
       a.max_age,
       a.reused_by_age,
       a.reused_from_other_run
FROM optune.runs r
JOIN optune.iterations i ON i.run_id = r.id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(b.n), 0)::bigint                                  AS pairs,
           coalesce(sum(b.n) FILTER (WHERE b.age = 0), 0)::bigint         AS regenerated,
           coalesce(sum(b.n) FILTER (WHERE b.age > 0), 0)::bigint         AS reused,
           coalesce(sum(b.n) FILTER (WHERE b.age = 1), 0)::bigint         AS reused_age_1,
           coalesce(sum(b.n) FILTER (WHERE b.age = 2), 0)::bigint         AS reused_age_2,
           coalesce(sum(b.n) FILTER (WHERE b.age >= 3), 0)::bigint        AS reused_age_3_plus,
           (sum(b.age * b.n) FILTER (WHERE b.age > 0)
               / sum(b.n) FILTER (WHERE b.age > 0))::double precision     AS mean_age,
           max(b.age) FILTER (WHERE b.age > 0)                            AS max_age,
           coalesce(jsonb_object_agg(b.age::text, b.n) FILTER (WHERE b.age > 0), '{}'::jsonb)
                                                                          AS reused_by_age,
           coalesce(sum(b.other_run), 0)::bigint                          AS reused_from_other_run
    FROM (
        SELECT p.t - p.source_t AS age,
               count(*)         AS n,
               count(*) FILTER (WHERE p.source_run_id <> p.run_id) AS other_run
        FROM optune.pairs p
        WHERE p.run_id = i.run_id AND p.t = i.t
        GROUP BY p.t - p.source_t
    ) b
) a
WHERE a.pairs > 0;
COMMENT ON VIEW optune.reused_pair_staleness IS
'How old the reused pairs of D_t are. One row per (run, t) for every D_t the run built itself. age of a pair = t − source_t (iterations since its responses were generated; 0 = regenerated). '
'pairs = |D_t|; regenerated, reused = pairs by origin; reused_age_1, reused_age_2, reused_age_3_plus = reused pairs of age 1, 2 and ≥ 3; '
'mean_age, max_age = over reused pairs (NULL when none); reused_by_age = every age as a JSON object {"age": count}; '
'reused_from_other_run = reused pairs whose responses another run generated (a fork''s pairs inherited from its parent).';

-- ---------------------------------------------------------------------------------------------
-- run_comparison
-- ---------------------------------------------------------------------------------------------

CREATE VIEW optune.run_comparison AS
SELECT r.id                                         AS run_id,
       r.name                                       AS run_name,
       r.status,
       r.rho,
       r.strategy,
       r.loss,
       r.seed,
       r.samples_per_prompt,
       r.beta1,
       r.beta2,
       parent.name || '@' || r.forked_from_iteration AS forked_from,
       r.forked_from_run_id,
       r.forked_from_iteration,
       r.iterations_planned,
       coalesce(it.iterations_done, 0)              AS iterations_done,
       it.last_t,
       base.mean_reward                             AS base_eval_reward,
       first_eval.t                                 AS start_t,
       first_eval.mean_reward                       AS start_eval_reward,
       last_eval.t                                  AS last_eval_t,
       last_eval.mean_reward                        AS last_eval_reward,
       last_eval.mean_reward - first_eval.mean_reward AS eval_gain,
       coalesce(it.train_tokens, 0)                 AS train_tokens,
       coalesce(it.eval_tokens, 0)                  AS eval_tokens,
       CASE WHEN last_eval.mean_reward - first_eval.mean_reward > 0
            THEN coalesce(it.train_tokens, 0) / (last_eval.mean_reward - first_eval.mean_reward)
       END                                          AS tokens_per_eval_gain,
       z.tokens_generated                           AS full_iteration_tokens,
       CASE WHEN it.later_iterations > 0 AND z.tokens_generated > 0
            THEN 1 - it.later_tokens::double precision / (it.later_iterations * z.tokens_generated)
       END                                          AS token_saving,
       it.total_seconds,
       r.created_at,
       r.updated_at
FROM optune.runs r
LEFT JOIN optune.runs parent ON parent.id = r.forked_from_run_id
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE i.state = 'done' AND i.t < coalesce(r.forked_from_iteration + 1, 0) + r.iterations_planned)
                                                           AS iterations_done,
           max(i.t)                                        AS last_t,
           sum(i.tokens_generated)::bigint                 AS train_tokens,
           sum(i.eval_tokens_generated)::bigint            AS eval_tokens,
           count(*) FILTER (WHERE i.t >= 1 AND i.state = 'done'
                            AND i.t < coalesce(r.forked_from_iteration + 1, 0) + r.iterations_planned)
                                                           AS later_iterations,
           sum(i.tokens_generated) FILTER (WHERE i.t >= 1 AND i.state = 'done'
                            AND i.t < coalesce(r.forked_from_iteration + 1, 0) + r.iterations_planned)
                                                           AS later_tokens,
           sum(coalesce(i.select_seconds, 0) + coalesce(i.generate_seconds, 0) + coalesce(i.score_seconds, 0)
               + coalesce(i.build_seconds, 0) + coalesce(i.train_seconds, 0) + coalesce(i.evaluate_seconds, 0))
                                                           AS total_seconds
    FROM optune.iterations i
    WHERE i.run_id = r.id
) it ON true
LEFT JOIN LATERAL (
    SELECT e.t, e.mean_reward FROM optune.evaluations e
    WHERE e.run_id = r.id AND e.split = 'eval' ORDER BY e.t, e.id LIMIT 1
) first_eval ON true
LEFT JOIN LATERAL (
    SELECT e.t, e.mean_reward FROM optune.evaluations e
    WHERE e.run_id = r.id AND e.split = 'eval' ORDER BY e.t DESC, e.id DESC LIMIT 1
) last_eval ON true
LEFT JOIN optune.run_lineage root ON root.run_id = r.id AND root.t_from = 0
LEFT JOIN optune.iterations z ON z.run_id = root.owner_run_id AND z.t = 0
LEFT JOIN LATERAL (
    SELECT e.mean_reward FROM optune.evaluations e
    WHERE e.run_id = root.owner_run_id AND e.t = 0 AND e.policy_id = z.policy_id AND e.split = 'eval'
) base ON true;
COMMENT ON VIEW optune.run_comparison IS
'One row per run, to compare settings side by side. rho, strategy, loss, seed, samples_per_prompt, beta1, beta2 as configured; '
'forked_from = parent_name@t (NULL for a root run); iterations_planned = training iterations asked for; '
'iterations_done = training iterations the run itself finished (the final evaluation-only iteration not counted); last_t = its newest iteration; '
'base_eval_reward = eval reward of π_0 of the lineage (for a fork, recorded by the root run); '
'start_t, start_eval_reward = the run''s first own evaluation (π_0 for a root run; for a fork, the policy it started from); '
'last_eval_t, last_eval_reward = its last evaluation (of π_T once the run is done); eval_gain = last_eval_reward − start_eval_reward; '
'train_tokens, eval_tokens = tokens generated by the run''s own iterations (a fork''s shared prefix excluded); '
'tokens_per_eval_gain = train_tokens / eval_gain (NULL unless eval_gain > 0): both count only what the run itself did; '
'full_iteration_tokens = train tokens of the lineage''s fully-online iteration 0 (ρ = 1 estimate per iteration); '
'token_saving = 1 − (train tokens of the finished own iterations with t ≥ 1) / (their count × full_iteration_tokens): the generation saved against ρ = 1 after the shared iteration 0; '
'total_seconds = sum of all stage timings of the run''s own iterations.';

-- ---------------------------------------------------------------------------------------------
-- the read-only role
-- ---------------------------------------------------------------------------------------------

-- Roles are cluster-wide and this migration may run in many databases of one cluster, possibly
-- at once: create the role only if it is missing, and treat losing the race as success.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'optune_reader') THEN
        CREATE ROLE optune_reader NOLOGIN;
        COMMENT ON ROLE optune_reader IS 'Read-only access to schema optune (tables and views). GRANT optune_reader TO <login role> to give someone SQL access to the buffer.';
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database's migration created it concurrently
END
$$;

GRANT USAGE ON SCHEMA optune TO optune_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA optune TO optune_reader;
-- Tables and views that later migrations create (as the role running migrations) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA optune GRANT SELECT ON TABLES TO optune_reader;
