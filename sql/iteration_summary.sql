-- iteration_summary.sql — what each iteration of a run selected, reused, generated, scored and cost.
--
--   psql "$(optune db url)" -f sql/iteration_summary.sql                  # the latest run
--   psql "$(optune db url)" -v run=exp1 -f sql/iteration_summary.sql      # a run by name
--
-- eval is π_t's mean reward on the eval split; chosen_* summarise r_w over D_t; saving is the
-- share of generation avoided against ρ = 1 (estimated from the lineage's iteration 0).
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

SELECT t,
       state,
       selected,
       regenerated,
       reused,
       round(mean_chosen_reward::numeric, 3)   AS chosen_mean,
       round(median_chosen_reward::numeric, 3) AS chosen_median,
       round(p10_chosen_reward::numeric, 3)    AS chosen_p10,
       round(mean_gap::numeric, 3)             AS gap_mean,
       round(eval_reward::numeric, 3)          AS eval,
       train_tokens,
       round(token_saving::numeric, 3)         AS saving,
       round(generate_seconds::numeric, 2)     AS gen_s,
       round(train_seconds::numeric, 2)        AS train_s,
       round(total_seconds::numeric, 2)        AS total_s
FROM optune.iteration_summary
WHERE run_name = :'run'
ORDER BY t;
