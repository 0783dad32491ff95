-- reused_pair_staleness.sql — how old the pairs a run trains on are: for each D_t, the reused
-- pairs by age (t − the iteration their responses were generated at).
--
--   psql "$(optune db url)" -f sql/reused_pair_staleness.sql              # the latest run
--   psql "$(optune db url)" -v run=exp1 -f sql/reused_pair_staleness.sql  # a run by name
--
-- from_other_run counts pairs a fork inherited from the run it forked from.
\if :{?run}
\else
SELECT name AS run FROM optune.runs ORDER BY id DESC LIMIT 1 \gset
\endif

SELECT t,
       pairs,
       regenerated,
       reused,
       reused_age_1,
       reused_age_2,
       reused_age_3_plus,
       round(mean_age::numeric, 2) AS mean_age,
       max_age,
       reused_by_age,
       reused_from_other_run        AS from_other_run
FROM optune.reused_pair_staleness
WHERE run_name = :'run'
ORDER BY t;
