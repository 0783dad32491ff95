-- fig2_gain_split.sql — the paper's Fig. 2: how much of the reward gain at each iteration came
-- from the prompts that had the lowest chosen reward before it.
--
--   psql "$(optune db url)" -f sql/fig2_gain_split.sql                    # the latest run
--   psql "$(optune db url)" -v run=exp1 -f sql/fig2_gain_split.sql        # a run by name
--
-- Prompts are split at t−1 into a bottom and a top half by r_w in D_{t−1}; gain = r_w in D_t −
-- r_w in D_{t−1}. bottom_share near 1 means the low-reward half improved most (the paper's
-- argument for regenerating them). The exact definition: \dv+ optune.fig2_gain_split.
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

SELECT t,
       prompts,
       round(bottom_max_prev_reward::numeric, 3) AS split_at,
       round(total_gain::numeric, 3)             AS total_gain,
       round(bottom_share::numeric, 3)           AS bottom_share,
       round(top_share::numeric, 3)              AS top_share,
       round(bottom_mean_gain::numeric, 4)       AS bottom_mean_gain,
       round(top_mean_gain::numeric, 4)          AS top_mean_gain,
       bottom_regenerated,
       top_regenerated
FROM optune.fig2_gain_split
WHERE run_name = :'run'
ORDER BY t;
