-- 0004_training_leases.sql — training ownership by an expiring, heartbeated row lease, and a
-- record of how each π_{t+1} was trained (issue 9 item 5, issue 10 item 1).
--
-- Replaces the trainer's session advisory lock, which any role that may call
-- pg_try_advisory_lock (a read-only login included) could take, and which a SIGSTOPped trainer
-- held for as long as its connection lived. A lease row expires on its own; the holder extends
-- it while it trains; a trainer whose lease was taken over cannot register its result (its
-- fencing token no longer matches).

CREATE TABLE optune.training_leases (
    run_id        bigint NOT NULL,
    t             integer NOT NULL,
    holder        text NOT NULL,
    token         bigint NOT NULL,
    acquired_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    takeovers     integer NOT NULL DEFAULT 0,
    CONSTRAINT training_leases_pkey PRIMARY KEY (run_id, t),
    CONSTRAINT training_leases_holder_nonempty CHECK (holder <> ''),
    CONSTRAINT training_leases_takeovers_nonnegative CHECK (takeovers >= 0),
    CONSTRAINT training_leases_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t)
);
COMMENT ON TABLE optune.training_leases IS 'Who trains iteration (run_id, t): one row per iteration that a trainer took. A lease whose expires_at has passed may be taken over by another trainer (new token). Rows are kept after training as a record.';
COMMENT ON COLUMN optune.training_leases.holder IS 'workers.id of the trainer holding (or that last held) the lease (soft reference, no FK).';
COMMENT ON COLUMN optune.training_leases.token IS 'Fencing token from optune.lease_token_seq, new at every acquisition: registering π_{t+1} or failing the iteration requires the current token.';
COMMENT ON COLUMN optune.training_leases.heartbeat_at IS 'Last time the holder extended the lease.';
COMMENT ON COLUMN optune.training_leases.expires_at IS 'The lease lapses at this time unless the holder extends it (optune train --lease-seconds).';
COMMENT ON COLUMN optune.training_leases.takeovers IS 'How many times an expired or released lease of this iteration was taken by a trainer after the first.';

ALTER TABLE optune.training_runs ADD COLUMN trainer jsonb NOT NULL DEFAULT '{}';
ALTER TABLE optune.training_runs ADD CONSTRAINT training_runs_trainer_object CHECK (jsonb_typeof(trainer) = 'object');
COMMENT ON COLUMN optune.training_runs.trainer IS 'How the training ran: kind (builtin | command | external), trained_by (worker id); for command: argv, exit_code, duration_s, output_dir, export (path, rows, sha256), checkpoint_sha256, publish (argv, exit_code, duration_s).';

GRANT SELECT ON optune.training_leases TO optune_reader;
