-- Runs that never get stuck (issue 9): lease expiries counted apart from errors so an expired
-- batch is retried in smaller batches; the prompts of a selection that got no new pair, with the
-- reason; coordinator leadership as an expiring lease in a row (which a read-only role cannot
-- take, unlike an advisory lock); the optune_worker role daemons can run as.

-- ---------------------------------------------------------------------------------------------
-- Task queues: expiries apart from attempts, and the size of the batch a lease covered
-- ---------------------------------------------------------------------------------------------

ALTER TABLE optune.generation_tasks
    ADD COLUMN expiries integer NOT NULL DEFAULT 0,
    ADD COLUMN lease_batch integer,
    ADD CONSTRAINT generation_tasks_expiries_nonnegative CHECK (expiries >= 0),
    ADD CONSTRAINT generation_tasks_lease_batch_positive CHECK (lease_batch IS NULL OR lease_batch >= 1);
COMMENT ON COLUMN optune.generation_tasks.attempts IS 'Leases of this task that ended in an error, a lease expiry while leased alone, or are in progress; max_attempts of them make it dead. A graceful release does not count.';
COMMENT ON COLUMN optune.generation_tasks.expiries IS 'Times a lease of this task expired (its worker died or hung). A task whose lease expired is leased again in a batch 4^expiries times smaller, so a poison prompt ends up alone; only an expiry while alone counts as an attempt.';
COMMENT ON COLUMN optune.generation_tasks.lease_batch IS 'How many tasks the current (or last) lease covered.';

ALTER TABLE optune.scoring_tasks
    ADD COLUMN expiries integer NOT NULL DEFAULT 0,
    ADD COLUMN lease_batch integer,
    ADD CONSTRAINT scoring_tasks_expiries_nonnegative CHECK (expiries >= 0),
    ADD CONSTRAINT scoring_tasks_lease_batch_positive CHECK (lease_batch IS NULL OR lease_batch >= 1);
COMMENT ON COLUMN optune.scoring_tasks.attempts IS 'Leases of this task that ended in an error, a lease expiry while leased alone, or are in progress; max_attempts of them make it dead. A graceful release does not count.';
COMMENT ON COLUMN optune.scoring_tasks.expiries IS 'Times a lease of this task expired (its worker died or hung). A task whose lease expired is leased again in a batch 4^expiries times smaller, so a poison prompt ends up alone; only an expiry while alone counts as an attempt.';
COMMENT ON COLUMN optune.scoring_tasks.lease_batch IS 'How many tasks the current (or last) lease covered.';

-- ---------------------------------------------------------------------------------------------
-- Selected prompts without a new pair
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.unpaired_prompts (
    run_id      bigint NOT NULL,
    t           integer NOT NULL,
    prompt_id   bigint NOT NULL,
    reason      text NOT NULL,
    kept_pair   boolean NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unpaired_prompts_pkey PRIMARY KEY (run_id, t, prompt_id),
    CONSTRAINT unpaired_prompts_selection_fk FOREIGN KEY (run_id, t, prompt_id) REFERENCES optune.selections (run_id, t, prompt_id)
);
COMMENT ON TABLE optune.unpaired_prompts IS 'Prompts selected at iteration t that got no new pair (their generation or scoring task died, or fewer than 2 samples were scored). Such a prompt keeps its D_{t-1} pair (origin reused) when it has one; the iteration goes on while the dead work stays within the run''s max_dead_fraction.';
COMMENT ON COLUMN optune.unpaired_prompts.reason IS 'Why no pair was built: the dead task''s queue and last error, or "fewer than 2 scored samples".';
COMMENT ON COLUMN optune.unpaired_prompts.kept_pair IS 'Whether D_t carries the prompt''s pair of D_{t-1} (false at t = 0, or when D_{t-1} had none).';

-- ---------------------------------------------------------------------------------------------
-- Coordinator leadership
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.run_leaders (
    run_id        bigint NOT NULL,
    holder        text NOT NULL,
    expires_at    timestamptz NOT NULL,
    acquired_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT run_leaders_pkey PRIMARY KEY (run_id),
    CONSTRAINT run_leaders_run_fk FOREIGN KEY (run_id) REFERENCES optune.runs (id)
);
COMMENT ON TABLE optune.run_leaders IS 'Which coordinator leads a run: a lease that its holder renews while it works. Another coordinator takes over once expires_at has passed (a killed or hung leader). A row, not an advisory lock, so a read-only role cannot take it.';

-- ---------------------------------------------------------------------------------------------
-- The role daemons run as
-- ---------------------------------------------------------------------------------------------

-- Roles are cluster-wide and this migration may run in many databases of one cluster at once:
-- create the role only if it is missing, and treat losing the race as success.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'optune_worker') THEN
        CREATE ROLE optune_worker NOLOGIN;
        COMMENT ON ROLE optune_worker IS 'What optune daemons need and nothing more: read and write rows of schema optune (no DDL, no TRUNCATE). GRANT optune_worker TO <login role> for the role generators, scorers, trainers and coordinators connect as; run optune db migrate as the schema owner.';
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL;  -- another database's migration created it concurrently
END
$$;

GRANT USAGE ON SCHEMA optune TO optune_worker;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA optune TO optune_worker;
GRANT DELETE ON optune.run_leaders TO optune_worker;
REVOKE INSERT, UPDATE ON optune.schema_migrations FROM optune_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA optune TO optune_worker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA optune TO optune_worker;
-- Tables and sequences of later migrations (created by the same owner) follow.
ALTER DEFAULT PRIVILEGES IN SCHEMA optune GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO optune_worker;
ALTER DEFAULT PRIVILEGES IN SCHEMA optune GRANT USAGE, SELECT ON SEQUENCES TO optune_worker;
GRANT SELECT ON optune.unpaired_prompts, optune.run_leaders TO optune_reader;
