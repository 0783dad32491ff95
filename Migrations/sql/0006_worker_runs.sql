-- 0006_worker_runs.sql — which run a worker was started for (issue 13 item 3), so that
-- `optune status --run R` lists R's workers rather than every worker that ever ran.

ALTER TABLE optune.workers ADD COLUMN run_id bigint;
ALTER TABLE optune.workers
    ADD CONSTRAINT workers_run_fk FOREIGN KEY (run_id) REFERENCES optune.runs (id) ON DELETE SET NULL;
CREATE INDEX workers_run_idx ON optune.workers (run_id);
COMMENT ON COLUMN optune.workers.run_id IS 'The run the worker was started for (a daemon''s --run, `optune coordinate --run`, the in-process workers of `optune run`); NULL: it serves any run.';
