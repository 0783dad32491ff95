-- selection_by_difficulty.sql — which prompts a run's selection took, by difficulty level (the
-- built-in task records `difficulty` 0…10, `kind` and `digits` in each prompt's metadata).
--
--   psql "$(optune db url)" -f sql/selection_by_difficulty.sql                 # the latest run
--   psql "$(optune db url)" -v run=exp1 -f sql/selection_by_difficulty.sql     # a run by name
--
-- One row per (t, level): how many train prompts of that level the iteration selected, out of
-- how many the set has, and their mean ranking reward (r_w in D_{t−1}, for reward and highest).
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

WITH r AS (SELECT id, prompt_set_id FROM optune.runs WHERE name = :'run'),
levels AS (
    SELECT (p.metadata->>'difficulty')::int AS level, count(*) AS in_set
    FROM r JOIN optune.prompt_set_members m ON m.set_id = r.prompt_set_id AND m.split = 'train'
    JOIN optune.prompts p ON p.id = m.prompt_id
    GROUP BY 1
)
SELECT s.t,
       (p.metadata->>'difficulty')::int          AS level,
       count(*)                                   AS selected,
       l.in_set,
       round(avg(s.ranking_reward)::numeric, 3)   AS mean_ranking_reward
FROM r JOIN optune.selections s ON s.run_id = r.id
JOIN optune.prompts p ON p.id = s.prompt_id
JOIN levels l ON l.level = (p.metadata->>'difficulty')::int
GROUP BY s.t, 2, l.in_set
ORDER BY s.t, level;
