-- run_comparison.sql — a run next to every run that shares its lineage root (its parent, its
-- forks, their forks): settings, reward gained and generation spent, one line each.
--
--   psql "$(optune db url)" -f sql/run_comparison.sql                     # the latest run's family
--   psql "$(optune db url)" -v run=exp1 -f sql/run_comparison.sql         # exp1's family
--
-- start/last are the eval rewards of the policy a run started from and of its last policy;
-- tokens count only what the run generated itself (a fork's shared prefix is its parent's).
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

WITH family AS (
    SELECT l.run_id
    FROM optune.run_lineage l
    WHERE l.t_from = 0
      AND l.owner_run_id = (SELECT root.owner_run_id
                            FROM optune.run_lineage root JOIN optune.runs r ON r.id = root.run_id
                            WHERE r.name = :'run' AND root.t_from = 0)
)
SELECT run_name,
       coalesce(forked_from, '')               AS forked_from,
       rho,
       strategy,
       loss,
       seed,
       iterations_done                         AS iters,
       round(start_eval_reward::numeric, 3)    AS start_eval,
       round(last_eval_reward::numeric, 3)     AS last_eval,
       round(eval_gain::numeric, 3)            AS gain,
       train_tokens,
       round(tokens_per_eval_gain::numeric)    AS tokens_per_gain,
       round(token_saving::numeric, 3)         AS saving,
       status
FROM optune.run_comparison
WHERE run_id IN (SELECT run_id FROM family)
ORDER BY run_id;
