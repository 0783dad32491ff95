-- reward_trajectory.sql — how each prompt's chosen reward moved across the iterations of a run.
--
--   psql "$(optune db url)" -f sql/reward_trajectory.sql                  # the latest run
--   psql "$(optune db url)" -v run=exp1 -f sql/reward_trajectory.sql      # a run by name
--
-- One line per prompt, hardest first (lowest chosen reward in D_0): r_w in every D_t, and for
-- each t whether the prompt was regenerated (R) or its pair reused (.). A fork's first
-- iterations come from the run it forked from (see optune.reward_trajectory.inherited).
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

SELECT prompt_id,
       array_agg(round(r_w::numeric, 3) ORDER BY t)                               AS r_w_by_t,
       string_agg(CASE origin WHEN 'regenerated' THEN 'R' ELSE '.' END, '' ORDER BY t) AS regenerated_by_t,
       round((max(r_w) FILTER (WHERE t = last_t) - min(r_w) FILTER (WHERE t = first_t))::numeric, 3) AS change
FROM (
    SELECT rt.*, min(t) OVER () AS first_t, max(t) OVER () AS last_t
    FROM optune.reward_trajectory rt
    WHERE run_name = :'run'
) rt
GROUP BY prompt_id
ORDER BY min(r_w) FILTER (WHERE t = first_t), prompt_id
LIMIT 30;
