-- 0001_data_model.sql — the OPTune replay buffer's data model (DESIGN §3).
--
-- Runs inside the migration runner's transaction: no BEGIN/COMMIT, no CONCURRENTLY.
-- The runner owns optune.schema_migrations; this file does not create it.
--
-- Conventions
--   * Every object is schema-qualified; every constraint is named <table>_<rule> (FKs end in
--     _fk) so an error message names the rule a row broke.
--   * Finite floats are checked as  x > '-Infinity' AND x < 'Infinity'.  PostgreSQL sorts NaN
--     above +Infinity, so this rejects NaN as well.  Do NOT use `x = x`: in PostgreSQL
--     'NaN'::float8 = 'NaN'::float8 is TRUE.
--   * ids are bigint GENERATED ALWAYS AS IDENTITY: no client ever supplies one. Bulk loads go
--     COPY -> staging table -> INSERT … SELECT … ON CONFLICT DO NOTHING, which never names id.
--   * Iteration indexes t are integer; counts are bigint.
--   * ON DELETE is the default (NO ACTION) everywhere except prompt_set_members: deleting a run
--     or a prompt never silently takes history with it. Archiving a run is a later, explicit
--     operation (see the partitioning notes on the big tables).
--
-- Foreign-key cycles and how they are broken
--   * runs -> iterations (fork origin) and iterations -> runs: a table-level cycle only. A fork
--     references an iteration of ANOTHER, already existing run, so rows never form a cycle;
--     the fork FK is added with ALTER TABLE once iterations exists. No deferral needed.
--   * policies <-> training_runs: the link "training run that made this policy" is stored
--     exactly once, on training_runs.policy_out (UNIQUE, nullable until training finishes).
--     policies has no column pointing back, so a policy row can be written first (weights),
--     then the training_runs row that names it: no cycle, nothing deferrable, nothing that can
--     disagree.  "Which training run made policy p" = training_runs WHERE policy_out = p.
--   * iterations -> policies (π_t) and policies -> runs: acyclic (a policy never references an
--     iteration, because π_{t+1} exists before iteration t+1 is opened).

CREATE SCHEMA IF NOT EXISTS optune;  -- the migration runner may have created it for its bookkeeping
COMMENT ON SCHEMA optune IS 'OPTune replay buffer: prompts, runs, iterations, work queues, responses, rewards, pairs (D_t), policies. See DESIGN.md §3.';

-- Fencing tokens for leases of generation_tasks and scoring_tasks. One global sequence with
-- CACHE 1, so every new lease gets a token strictly greater than any earlier lease's.
CREATE SEQUENCE optune.lease_token_seq AS bigint CACHE 1;
COMMENT ON SEQUENCE optune.lease_token_seq IS 'Fencing tokens for task leases (generation_tasks, scoring_tasks). CACHE 1: tokens increase strictly in lease order.';

-- Content hash of a prompt. Computed by the server (prompts.content_hash is a generated column)
-- so every client agrees on what "the same prompt" is. jsonb::text is canonical (key order,
-- whitespace), so semantically equal message lists hash equally. The text's length is prefixed
-- so the encoding is unambiguous. convert_to(…, 'UTF8') is marked STABLE in the catalogue only
-- because conversions are looked up at run time; with a fixed target encoding it is
-- deterministic, hence IMMUTABLE here. Clients may call this to pre-compute a hash.
CREATE FUNCTION optune.prompt_content_hash(p_text text, p_messages jsonb)
RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN sha256(convert_to(
    coalesce(length(p_text)::text, 'null') || ':' || coalesce(p_text, '')
    || '|' || coalesce(p_messages::text, 'null'), 'UTF8'));
COMMENT ON FUNCTION optune.prompt_content_hash(text, jsonb) IS 'sha256 identity of a prompt: sha256(utf8(len(text) ":" text "|" messages::jsonb::text)), "null" for a missing part.';

-- ---------------------------------------------------------------------------------------------
-- prompts, prompt sets
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.prompts (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    content_hash  bytea GENERATED ALWAYS AS (optune.prompt_content_hash(text, messages)) STORED NOT NULL,
    text          text,
    messages      jsonb,
    tokens        bytea,
    source        text,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompts_pkey PRIMARY KEY (id),
    CONSTRAINT prompts_content_hash_unique UNIQUE (content_hash),
    CONSTRAINT prompts_content_hash_sha256 CHECK (octet_length(content_hash) = 32),
    CONSTRAINT prompts_has_content CHECK (text IS NOT NULL OR messages IS NOT NULL),
    CONSTRAINT prompts_messages_array CHECK (messages IS NULL OR jsonb_typeof(messages) = 'array'),
    CONSTRAINT prompts_tokens_blob_v1 CHECK (tokens IS NULL OR (octet_length(tokens) >= 8
        AND get_byte(tokens, 0) = 84 AND get_byte(tokens, 1) = 1)),
    CONSTRAINT prompts_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
ALTER TABLE optune.prompts ALTER COLUMN tokens SET STORAGE EXTERNAL;
COMMENT ON TABLE optune.prompts IS 'Prompts, deduplicated by content: importing the same prompt twice is a no-op (INSERT … ON CONFLICT (content_hash) DO NOTHING). Split lives in prompt_set_members.';
COMMENT ON COLUMN optune.prompts.content_hash IS 'Generated: optune.prompt_content_hash(text, messages), sha256, 32 bytes. Unique.';
COMMENT ON COLUMN optune.prompts.text IS 'Plain prompt text. At least one of text / messages is set.';
COMMENT ON COLUMN optune.prompts.messages IS 'Chat messages as a JSON array (e.g. [{"role":"user","content":"…"}]).';
COMMENT ON COLUMN optune.prompts.tokens IS 'Optional prompt token ids, token blob format v1 (DESIGN §5: magic 0x54, version 1, LZ4). Not part of the content hash.';
COMMENT ON COLUMN optune.prompts.source IS 'Where the prompt came from (dataset name, file, generator).';

CREATE TABLE optune.prompt_sets (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL,
    description  text,
    metadata     jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_sets_pkey PRIMARY KEY (id),
    CONSTRAINT prompt_sets_name_unique UNIQUE (name),
    CONSTRAINT prompt_sets_name_nonempty CHECK (name <> ''),
    CONSTRAINT prompt_sets_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE optune.prompt_sets IS 'Named prompt collections (e.g. ultrachat-48k). A run uses one set: its train split is P, its eval split is held out.';

CREATE TABLE optune.prompt_set_members (
    set_id      bigint NOT NULL,
    prompt_id   bigint NOT NULL,
    split       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT prompt_set_members_pkey PRIMARY KEY (set_id, prompt_id),
    CONSTRAINT prompt_set_members_split_valid CHECK (split IN ('train', 'eval')),
    CONSTRAINT prompt_set_members_set_fk FOREIGN KEY (set_id)
        REFERENCES optune.prompt_sets (id) ON DELETE CASCADE,
    CONSTRAINT prompt_set_members_prompt_fk FOREIGN KEY (prompt_id)
        REFERENCES optune.prompts (id)
);
CREATE INDEX prompt_set_members_split_idx ON optune.prompt_set_members (set_id, split, prompt_id);
COMMENT ON TABLE optune.prompt_set_members IS 'Membership of a prompt in a set, with its split there. A prompt may belong to several sets (with different splits).';
COMMENT ON COLUMN optune.prompt_set_members.split IS 'train (the run''s P) or eval (held out for evaluation).';

-- ---------------------------------------------------------------------------------------------
-- reward models, runs, policies, iterations
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.reward_models (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    name        text NOT NULL,
    version     text NOT NULL,
    backend     text NOT NULL,
    config      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reward_models_pkey PRIMARY KEY (id),
    CONSTRAINT reward_models_name_version_unique UNIQUE (name, version),
    CONSTRAINT reward_models_name_nonempty CHECK (name <> ''),
    CONSTRAINT reward_models_backend_nonempty CHECK (backend <> ''),
    CONSTRAINT reward_models_config_object CHECK (jsonb_typeof(config) = 'object')
);
COMMENT ON TABLE optune.reward_models IS 'Reward models by (name, version): backend (e.g. builtin, http) and its config.';

CREATE TABLE optune.runs (
    id                     bigint GENERATED ALWAYS AS IDENTITY,
    name                   text NOT NULL,
    prompt_set_id          bigint NOT NULL,
    reward_model_id        bigint NOT NULL,
    config                 jsonb NOT NULL DEFAULT '{}',
    rho                    double precision NOT NULL,
    strategy               text NOT NULL,
    samples_per_prompt     integer NOT NULL,
    loss                   text NOT NULL,
    beta1                  double precision NOT NULL,
    beta2                  double precision NOT NULL,
    seed                   bigint NOT NULL,
    iterations_planned     integer NOT NULL,
    skip_zero_gap          boolean NOT NULL DEFAULT false,
    status                 text NOT NULL DEFAULT 'created',
    status_reason          text,
    forked_from_run_id     bigint,
    forked_from_iteration  integer,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    created_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runs_pkey PRIMARY KEY (id),
    CONSTRAINT runs_name_unique UNIQUE (name),
    CONSTRAINT runs_name_nonempty CHECK (name <> ''),
    CONSTRAINT runs_config_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT runs_rho_range CHECK (rho > 0 AND rho <= 1),
    CONSTRAINT runs_strategy_valid CHECK (strategy IN ('reward', 'random', 'full')),
    CONSTRAINT runs_samples_per_prompt_min CHECK (samples_per_prompt >= 2),
    CONSTRAINT runs_loss_valid CHECK (loss IN ('wdpo', 'dpo')),
    CONSTRAINT runs_beta1_positive CHECK (beta1 > 0 AND beta1 < 'Infinity'),
    CONSTRAINT runs_beta2_positive CHECK (beta2 > 0 AND beta2 < 'Infinity'),
    CONSTRAINT runs_iterations_planned_min CHECK (iterations_planned >= 1),
    CONSTRAINT runs_status_valid CHECK (status IN ('created', 'running', 'paused', 'done', 'failed', 'cancelled')),
    CONSTRAINT runs_failed_has_reason CHECK (status <> 'failed' OR status_reason IS NOT NULL),
    CONSTRAINT runs_fork_both_or_neither CHECK ((forked_from_run_id IS NULL) = (forked_from_iteration IS NULL)),
    CONSTRAINT runs_fork_not_self CHECK (forked_from_run_id IS NULL OR forked_from_run_id <> id),
    CONSTRAINT runs_prompt_set_fk FOREIGN KEY (prompt_set_id) REFERENCES optune.prompt_sets (id),
    CONSTRAINT runs_reward_model_fk FOREIGN KEY (reward_model_id) REFERENCES optune.reward_models (id)
    -- runs_forked_from_fk -> iterations (run_id, t) is added after iterations exists.
);
COMMENT ON TABLE optune.runs IS 'One experiment: a prompt set, a reward model and a config. The validated knobs are typed, CHECKed columns; config holds the full config (optimiser, sampling, …) as given.';
COMMENT ON COLUMN optune.runs.rho IS 'Selection ratio ρ ∈ (0, 1]; iterations t ≥ 1 select ceil(ρ·|P|) prompts.';
COMMENT ON COLUMN optune.runs.strategy IS 'reward (OPTune: lowest chosen reward in D_{t-1}), random (seeded Rdm_ρ baseline) or full (all prompts).';
COMMENT ON COLUMN optune.runs.samples_per_prompt IS 'n ≥ 2 responses generated per selected prompt.';
COMMENT ON COLUMN optune.runs.loss IS 'wdpo (weighted by σ(β2·gap)) or dpo.';
COMMENT ON COLUMN optune.runs.beta1 IS 'β1: DPO temperature.';
COMMENT ON COLUMN optune.runs.beta2 IS 'β2: weight temperature, weight = σ(β2·(r_w − r_l)).';
COMMENT ON COLUMN optune.runs.skip_zero_gap IS 'Whether training skips pairs with r_w = r_l (they are always kept in pairs, flagged).';
COMMENT ON COLUMN optune.runs.status IS 'created | running | paused | done | failed | cancelled (status_reason required when failed).';
COMMENT ON COLUMN optune.runs.forked_from_run_id IS 'Fork origin: this run starts after iteration forked_from_iteration of that run and takes its policy, pairs and responses by reference. Both fork columns are set or neither.';

CREATE TABLE optune.policies (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    run_id            bigint,
    t                 integer NOT NULL,
    parent_policy_id  bigint,
    origin            text GENERATED ALWAYS AS (CASE WHEN weights IS NOT NULL THEN 'builtin' ELSE 'external' END) STORED,
    weights           bytea,
    uri               text,
    sha256            text,
    config            jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policies_pkey PRIMARY KEY (id),
    CONSTRAINT policies_run_t_unique UNIQUE (run_id, t),
    -- Target keys for composite FKs that pin a policy's index (iterations, training_runs).
    CONSTRAINT policies_id_t_unique UNIQUE (id, t),
    CONSTRAINT policies_lineage_unique UNIQUE (id, parent_policy_id, run_id, t),
    CONSTRAINT policies_t_nonnegative CHECK (t >= 0),
    CONSTRAINT policies_base_is_t0 CHECK (run_id IS NOT NULL OR t = 0),
    CONSTRAINT policies_exactly_one_origin CHECK (num_nonnulls(weights, uri) = 1),
    CONSTRAINT policies_uri_nonempty CHECK (uri IS NULL OR uri <> ''),
    CONSTRAINT policies_sha256_hex CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT policies_not_own_parent CHECK (parent_policy_id IS NULL OR parent_policy_id <> id),
    CONSTRAINT policies_config_object CHECK (jsonb_typeof(config) = 'object'),
    CONSTRAINT policies_run_fk FOREIGN KEY (run_id) REFERENCES optune.runs (id),
    CONSTRAINT policies_parent_fk FOREIGN KEY (parent_policy_id) REFERENCES optune.policies (id)
);
ALTER TABLE optune.policies ALTER COLUMN weights SET STORAGE EXTERNAL;
COMMENT ON TABLE optune.policies IS 'π_t of a run: built-in weights (compressed blob) or an external URI (+ sha256). The training run that made a policy is training_runs WHERE policy_out = id (stored once there, which avoids a circular FK).';
COMMENT ON COLUMN optune.policies.run_id IS 'Owning run; NULL for a base policy not produced by any run (e.g. an SFT π_0 trained once per task and seed and shared by many runs); such a policy has t = 0.';
COMMENT ON COLUMN optune.policies.t IS 'Policy index: π_t is used by iteration t (forks keep the parent''s indexes).';
COMMENT ON COLUMN optune.policies.parent_policy_id IS 'The policy this one was trained from (π_{t-1}); NULL for a base policy.';
COMMENT ON COLUMN optune.policies.origin IS 'Generated: builtin (weights set) or external (uri set). Exactly one of weights / uri is set.';
COMMENT ON COLUMN optune.policies.weights IS 'Built-in model weights, compressed client-side (stored without further TOAST compression).';
COMMENT ON COLUMN optune.policies.sha256 IS 'Lower-case hex sha256 of the external artifact (or of the weights blob), optional.';
COMMENT ON COLUMN optune.policies.config IS 'Model architecture / backend settings needed to load the policy.';

CREATE TABLE optune.iterations (
    run_id                  bigint NOT NULL,
    t                       integer NOT NULL,
    state                   text NOT NULL DEFAULT 'selecting',
    failure_reason          text,
    policy_id               bigint NOT NULL,
    rho                     double precision NOT NULL,
    strategy                text NOT NULL,
    prompts_total           bigint NOT NULL DEFAULT 0,
    selected                bigint NOT NULL DEFAULT 0,
    regenerated             bigint NOT NULL DEFAULT 0,
    reused                  bigint NOT NULL DEFAULT 0,
    zero_gap_pairs          bigint NOT NULL DEFAULT 0,
    responses_generated     bigint NOT NULL DEFAULT 0,
    tokens_generated        bigint NOT NULL DEFAULT 0,
    eval_responses          bigint NOT NULL DEFAULT 0,
    eval_tokens_generated   bigint NOT NULL DEFAULT 0,
    dead_tasks              bigint NOT NULL DEFAULT 0,
    select_seconds          double precision,
    generate_seconds        double precision,
    score_seconds           double precision,
    build_seconds           double precision,
    train_seconds           double precision,
    evaluate_seconds        double precision,
    started_at              timestamptz NOT NULL DEFAULT now(),
    finished_at             timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT iterations_pkey PRIMARY KEY (run_id, t),
    -- Target of generation_tasks' composite FK: a task samples with its iteration's π_t.
    CONSTRAINT iterations_policy_unique UNIQUE (run_id, t, policy_id),
    CONSTRAINT iterations_t_nonnegative CHECK (t >= 0),
    CONSTRAINT iterations_state_valid CHECK (state IN
        ('selecting', 'generating', 'scoring', 'building', 'training', 'evaluating', 'done', 'failed')),
    CONSTRAINT iterations_failed_has_reason CHECK (state <> 'failed' OR failure_reason IS NOT NULL),
    CONSTRAINT iterations_finished_when_final CHECK (state NOT IN ('done', 'failed') OR finished_at IS NOT NULL),
    CONSTRAINT iterations_finished_after_start CHECK (finished_at IS NULL OR finished_at >= started_at),
    CONSTRAINT iterations_rho_range CHECK (rho > 0 AND rho <= 1),
    CONSTRAINT iterations_strategy_valid CHECK (strategy IN ('reward', 'random', 'full')),
    CONSTRAINT iterations_prompts_total_nonnegative CHECK (prompts_total >= 0),
    CONSTRAINT iterations_selected_nonnegative CHECK (selected >= 0),
    CONSTRAINT iterations_regenerated_nonnegative CHECK (regenerated >= 0),
    CONSTRAINT iterations_reused_nonnegative CHECK (reused >= 0),
    CONSTRAINT iterations_zero_gap_pairs_nonnegative CHECK (zero_gap_pairs >= 0),
    CONSTRAINT iterations_responses_generated_nonnegative CHECK (responses_generated >= 0),
    CONSTRAINT iterations_tokens_generated_nonnegative CHECK (tokens_generated >= 0),
    CONSTRAINT iterations_eval_responses_nonnegative CHECK (eval_responses >= 0),
    CONSTRAINT iterations_eval_tokens_generated_nonnegative CHECK (eval_tokens_generated >= 0),
    CONSTRAINT iterations_dead_tasks_nonnegative CHECK (dead_tasks >= 0),
    CONSTRAINT iterations_select_seconds_valid CHECK (select_seconds IS NULL OR (select_seconds >= 0 AND select_seconds < 'Infinity')),
    CONSTRAINT iterations_generate_seconds_valid CHECK (generate_seconds IS NULL OR (generate_seconds >= 0 AND generate_seconds < 'Infinity')),
    CONSTRAINT iterations_score_seconds_valid CHECK (score_seconds IS NULL OR (score_seconds >= 0 AND score_seconds < 'Infinity')),
    CONSTRAINT iterations_build_seconds_valid CHECK (build_seconds IS NULL OR (build_seconds >= 0 AND build_seconds < 'Infinity')),
    CONSTRAINT iterations_train_seconds_valid CHECK (train_seconds IS NULL OR (train_seconds >= 0 AND train_seconds < 'Infinity')),
    CONSTRAINT iterations_evaluate_seconds_valid CHECK (evaluate_seconds IS NULL OR (evaluate_seconds >= 0 AND evaluate_seconds < 'Infinity')),
    CONSTRAINT iterations_run_fk FOREIGN KEY (run_id) REFERENCES optune.runs (id),
    -- (policy_id, t) -> policies (id, t): iteration t is always driven by a π_t. The policy may
    -- belong to another run (a fork uses its parent's π) or to no run (a shared base π_0).
    CONSTRAINT iterations_policy_fk FOREIGN KEY (policy_id, t) REFERENCES optune.policies (id, t)
);
COMMENT ON TABLE optune.iterations IS 'Iteration t of a run. State machine selecting → generating → scoring → building → training → evaluating → done (or failed, with failure_reason); transitions are single transactions guarded by the current state.';
COMMENT ON COLUMN optune.iterations.policy_id IS 'π_t, the policy that generates this iteration''s training samples (its policies.t equals t).';
COMMENT ON COLUMN optune.iterations.rho IS 'ρ actually used (1 at t = 0, which is fully online).';
COMMENT ON COLUMN optune.iterations.strategy IS 'Strategy actually used (full at t = 0).';
COMMENT ON COLUMN optune.iterations.prompts_total IS '|P|: train prompts of the run''s set (= pairs in D_t when complete).';
COMMENT ON COLUMN optune.iterations.selected IS 'Prompts selected for regeneration.';
COMMENT ON COLUMN optune.iterations.regenerated IS 'Pairs of D_t built from new samples.';
COMMENT ON COLUMN optune.iterations.reused IS 'Pairs of D_t carried over from D_{t-1}.';
COMMENT ON COLUMN optune.iterations.tokens_generated IS 'Response tokens generated for training samples in this iteration (cost accounting).';
COMMENT ON COLUMN optune.iterations.dead_tasks IS 'Tasks that went to dead after max attempts (reported instead of hanging).';

-- The fork FK closes the runs <-> iterations table cycle (rows never cycle: a fork references
-- an iteration of another, existing run).
ALTER TABLE optune.runs ADD CONSTRAINT runs_forked_from_fk
    FOREIGN KEY (forked_from_run_id, forked_from_iteration) REFERENCES optune.iterations (run_id, t);

-- ---------------------------------------------------------------------------------------------
-- selection and work queues
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.selections (
    run_id          bigint NOT NULL,
    t               integer NOT NULL,
    prompt_id       bigint NOT NULL,
    rank            integer NOT NULL,
    ranking_reward  double precision,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT selections_pkey PRIMARY KEY (run_id, t, prompt_id),
    CONSTRAINT selections_rank_unique UNIQUE (run_id, t, rank),
    CONSTRAINT selections_rank_positive CHECK (rank >= 1),
    CONSTRAINT selections_ranking_reward_finite CHECK (ranking_reward IS NULL
        OR (ranking_reward > '-Infinity' AND ranking_reward < 'Infinity')),
    CONSTRAINT selections_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t),
    CONSTRAINT selections_prompt_fk FOREIGN KEY (prompt_id) REFERENCES optune.prompts (id)
);
COMMENT ON TABLE optune.selections IS 'Prompts selected at (run, t), with their rank (1 = selected first) and the reward that ranked them. Read in rank order via selections_rank_unique (run_id, t, rank).';
COMMENT ON COLUMN optune.selections.ranking_reward IS 'r_w of the prompt''s pair in D_{t-1} for strategy reward; NULL at t = 0 and for full/random.';

-- Work queues. Narrow, hot, mutable: only queue state lives here; results are written once into
-- responses / rewards. Leasing takes batches with FOR NO KEY UPDATE SKIP LOCKED on the pending
-- partial index; expired leases are found through the leased partial index. lease_owner is a
-- soft reference to workers.id (no FK: leases change often and worker rows may be pruned).
CREATE TABLE optune.generation_tasks (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    prompt_id         bigint NOT NULL,
    purpose           text NOT NULL,
    policy_id         bigint NOT NULL,
    state             text NOT NULL DEFAULT 'pending',
    lease_owner       text,
    lease_token       bigint,
    lease_expires_at  timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT generation_tasks_pkey PRIMARY KEY (run_id, t, prompt_id),
    -- Target of responses' single composite FK: by referencing this key a response proves its
    -- (run, t) iteration, its prompt, the policy that sampled it and its purpose in one check.
    CONSTRAINT generation_tasks_response_key UNIQUE (run_id, t, prompt_id, policy_id, purpose),
    CONSTRAINT generation_tasks_purpose_valid CHECK (purpose IN ('train', 'eval')),
    CONSTRAINT generation_tasks_state_valid CHECK (state IN ('pending', 'leased', 'done', 'dead')),
    CONSTRAINT generation_tasks_lease_complete CHECK (state <> 'leased'
        OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT generation_tasks_attempts_nonnegative CHECK (attempts >= 0),
    CONSTRAINT generation_tasks_max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT generation_tasks_dead_has_error CHECK (state <> 'dead' OR last_error IS NOT NULL),
    -- One FK for the iteration and its policy: a task samples with π_t of its iteration (eval
    -- tasks included: iteration t evaluates π_t), which iterations_policy_fk ties to policies.
    CONSTRAINT generation_tasks_iteration_fk FOREIGN KEY (run_id, t, policy_id) REFERENCES optune.iterations (run_id, t, policy_id),
    CONSTRAINT generation_tasks_prompt_fk FOREIGN KEY (prompt_id) REFERENCES optune.prompts (id)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX generation_tasks_pending_idx ON optune.generation_tasks (run_id, t, prompt_id)
    WHERE state = 'pending';
CREATE INDEX generation_tasks_lease_expiry_idx ON optune.generation_tasks (lease_expires_at)
    WHERE state = 'leased';
COMMENT ON TABLE optune.generation_tasks IS 'Generation work queue: one task per (run, t, prompt) = n samples of the prompt with policy_id. States pending → leased → done, or dead after max_attempts (last_error kept). Partitionable by run_id (key starts with it).';
COMMENT ON COLUMN optune.generation_tasks.purpose IS 'train (selected prompt, policy π_t) or eval (eval-split prompt, policy under evaluation).';
COMMENT ON COLUMN optune.generation_tasks.policy_id IS 'The policy to sample with; copied into every response and checked by responses_generation_task_fk.';
COMMENT ON COLUMN optune.generation_tasks.lease_token IS 'Fencing token of the current/last lease, from optune.lease_token_seq. A submission must match it (AND state = ''leased'') or it is refused.';
COMMENT ON COLUMN optune.generation_tasks.lease_owner IS 'workers.id of the lease holder (soft reference, no FK).';
COMMENT ON COLUMN optune.generation_tasks.state IS 'pending | leased (lease_owner, lease_token, lease_expires_at set) | done | dead (last_error set).';
COMMENT ON COLUMN optune.generation_tasks.attempts IS 'Leases taken so far (incremented when leased); the task goes to dead when a lease fails or expires with attempts >= max_attempts.';
COMMENT ON COLUMN optune.generation_tasks.updated_at IS 'Set by every writer (no trigger, to keep the hot path cheap).';

CREATE TABLE optune.scoring_tasks (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    prompt_id         bigint NOT NULL,
    purpose           text NOT NULL,
    policy_id         bigint NOT NULL,
    state             text NOT NULL DEFAULT 'pending',
    lease_owner       text,
    lease_token       bigint,
    lease_expires_at  timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scoring_tasks_pkey PRIMARY KEY (run_id, t, prompt_id),
    CONSTRAINT scoring_tasks_purpose_valid CHECK (purpose IN ('train', 'eval')),
    CONSTRAINT scoring_tasks_state_valid CHECK (state IN ('pending', 'leased', 'done', 'dead')),
    CONSTRAINT scoring_tasks_lease_complete CHECK (state <> 'leased'
        OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT scoring_tasks_attempts_nonnegative CHECK (attempts >= 0),
    CONSTRAINT scoring_tasks_max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT scoring_tasks_dead_has_error CHECK (state <> 'dead' OR last_error IS NOT NULL),
    -- One FK: the scoring task belongs to the generation task of the same (run, t, prompt),
    -- which implies the iteration, the prompt, the policy and the purpose.
    CONSTRAINT scoring_tasks_generation_task_fk FOREIGN KEY (run_id, t, prompt_id, policy_id, purpose)
        REFERENCES optune.generation_tasks (run_id, t, prompt_id, policy_id, purpose)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX scoring_tasks_pending_idx ON optune.scoring_tasks (run_id, t, prompt_id)
    WHERE state = 'pending';
CREATE INDEX scoring_tasks_lease_expiry_idx ON optune.scoring_tasks (lease_expires_at)
    WHERE state = 'leased';
COMMENT ON TABLE optune.scoring_tasks IS 'Scoring work queue: one task per (run, t, prompt) = score all responses of that generation task with the run''s reward model (runs.reward_model_id). Same lease protocol as generation_tasks.';
COMMENT ON COLUMN optune.scoring_tasks.lease_token IS 'Fencing token from optune.lease_token_seq; a submission must match it.';

-- ---------------------------------------------------------------------------------------------
-- responses, rewards, pairs
-- ---------------------------------------------------------------------------------------------

-- Hot ingest path (≥ 50k rows/s). Exactly two indexes (PK, natural key) and exactly ONE foreign
-- key: (run_id, t, prompt_id, policy_id, purpose) -> generation_tasks, which in turn references
-- the iteration, the prompt and the policy. A per-column FK costs ~8 µs per row each; do not add
-- any. worker_id is a soft reference to workers.id for the same reason (and so worker rows can
-- be pruned without touching history).
-- Partitioning by run later: the natural key and the FK already lead with run_id; the PK (id)
-- would become (run_id, id) (a partitioned table's unique keys must contain the partition key),
-- and rewards (keyed by response_id alone) would need a run_id column to follow.
CREATE TABLE optune.responses (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    run_id         bigint NOT NULL,
    t              integer NOT NULL,
    prompt_id      bigint NOT NULL,
    sample_index   integer NOT NULL,
    purpose        text NOT NULL,
    policy_id      bigint NOT NULL,
    n_tokens       integer NOT NULL,
    tokens         bytea,
    prompt_tokens  bytea,
    text           text,
    finish_reason  text,
    sampling       jsonb NOT NULL DEFAULT '{}',
    seed           bigint,
    worker_id      text,
    latency_ms     double precision,
    logprob_sum    double precision,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT responses_pkey PRIMARY KEY (id),
    CONSTRAINT responses_sample_unique UNIQUE (run_id, t, prompt_id, sample_index),
    CONSTRAINT responses_sample_index_nonnegative CHECK (sample_index >= 0),
    CONSTRAINT responses_purpose_valid CHECK (purpose IN ('train', 'eval')),
    CONSTRAINT responses_n_tokens_nonnegative CHECK (n_tokens >= 0),
    CONSTRAINT responses_has_content CHECK (tokens IS NOT NULL OR text IS NOT NULL),
    -- A token blob must be format v1 and its header count must equal n_tokens. Without a blob
    -- (text-only HTTP backend) n_tokens is the backend's reported completion-token count.
    CONSTRAINT responses_tokens_blob_v1 CHECK (tokens IS NULL OR (octet_length(tokens) >= 8
        AND get_byte(tokens, 0) = 84 AND get_byte(tokens, 1) = 1
        AND n_tokens = get_byte(tokens, 4) + (get_byte(tokens, 5) << 8)
                     + (get_byte(tokens, 6) << 16) + (get_byte(tokens, 7)::bigint << 24))),
    CONSTRAINT responses_prompt_tokens_blob_v1 CHECK (prompt_tokens IS NULL OR (octet_length(prompt_tokens) >= 8
        AND get_byte(prompt_tokens, 0) = 84 AND get_byte(prompt_tokens, 1) = 1)),
    CONSTRAINT responses_sampling_object CHECK (jsonb_typeof(sampling) = 'object'),
    CONSTRAINT responses_latency_valid CHECK (latency_ms IS NULL OR (latency_ms >= 0 AND latency_ms < 'Infinity')),
    CONSTRAINT responses_logprob_sum_finite CHECK (logprob_sum IS NULL
        OR (logprob_sum > '-Infinity' AND logprob_sum < 'Infinity')),
    CONSTRAINT responses_generation_task_fk FOREIGN KEY (run_id, t, prompt_id, policy_id, purpose)
        REFERENCES optune.generation_tasks (run_id, t, prompt_id, policy_id, purpose)
);
-- Token blobs are LZ4-compressed by the client: move them out of line without a futile pglz pass.
ALTER TABLE optune.responses ALTER COLUMN tokens SET STORAGE EXTERNAL;
ALTER TABLE optune.responses ALTER COLUMN prompt_tokens SET STORAGE EXTERNAL;
COMMENT ON TABLE optune.responses IS 'Generated samples, written once and never updated. Unique (run_id, t, prompt_id, sample_index): a resubmission is a no-op with ON CONFLICT DO NOTHING. One composite FK to generation_tasks implies iteration, prompt, policy and purpose.';
COMMENT ON COLUMN optune.responses.id IS 'Surrogate key (rewards.response_id). pairs reference responses by the natural key instead.';
COMMENT ON COLUMN optune.responses.text IS 'Decoded/returned text. At least one of tokens / text is set.';
COMMENT ON COLUMN optune.responses.sample_index IS '0 … n−1 within (run, t, prompt).';
COMMENT ON COLUMN optune.responses.purpose IS 'train or eval; equals the generation task''s purpose (checked by the FK).';
COMMENT ON COLUMN optune.responses.policy_id IS 'The policy that generated the sample; equals the generation task''s policy (checked by the FK).';
COMMENT ON COLUMN optune.responses.n_tokens IS 'Number of generated tokens. Equals the blob header count when tokens is set; otherwise the backend''s reported completion-token count.';
COMMENT ON COLUMN optune.responses.tokens IS 'Generated token ids, token blob format v1 (DESIGN §5). NULL when the backend returned only text.';
COMMENT ON COLUMN optune.responses.prompt_tokens IS 'Optional prompt token ids as the backend saw them (blob format v1).';
COMMENT ON COLUMN optune.responses.finish_reason IS 'Backend finish reason, conventionally stop or length.';
COMMENT ON COLUMN optune.responses.sampling IS 'Sampling parameters as a JSON object (temperature, top_p, max_tokens, …).';
COMMENT ON COLUMN optune.responses.seed IS 'Sampling seed, when the backend takes one.';
COMMENT ON COLUMN optune.responses.worker_id IS 'workers.id of the generator (soft reference, no FK).';
COMMENT ON COLUMN optune.responses.latency_ms IS 'Wall time to produce the sample (for batched generation, the batch''s time), ms.';
COMMENT ON COLUMN optune.responses.logprob_sum IS 'Sum of token log-probabilities under the generating policy, when reported.';

-- Partitioning by run later needs a run_id column here (PK would become (run_id, response_id,
-- reward_model_id)); it is left out now because keeping it consistent with responses would cost
-- responses an extra unique index.
CREATE TABLE optune.rewards (
    response_id      bigint NOT NULL,
    reward_model_id  bigint NOT NULL,
    score            double precision NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rewards_pkey PRIMARY KEY (response_id, reward_model_id),
    CONSTRAINT rewards_score_finite CHECK (score > '-Infinity' AND score < 'Infinity'),
    CONSTRAINT rewards_response_fk FOREIGN KEY (response_id) REFERENCES optune.responses (id),
    CONSTRAINT rewards_reward_model_fk FOREIGN KEY (reward_model_id) REFERENCES optune.reward_models (id)
);
COMMENT ON TABLE optune.rewards IS 'Score of a response under a reward model. Scores are finite (NaN and ±Infinity are rejected by rewards_score_finite).';

-- D_t. Chosen and rejected are referenced by the responses' NATURAL key
-- (source_run_id, source_t, prompt_id, sample_index), whose unique index responses already has.
-- Because prompt_id is part of both FKs, both responses provably belong to the pair's prompt,
-- and they come from the same generation (same run, t, policy). The alternative — UNIQUE (id,
-- prompt_id) on responses plus FKs on (response_id, prompt_id) — would add a third index to
-- every response insert (n per prompt) to serve pairs (1 per prompt), so it was rejected.
-- source_run_id/source_t differ from (run_id, t) for reused pairs, and for a fork's reused pairs
-- source_run_id is the parent run: nothing requires the response's run to equal the pair's.
CREATE TABLE optune.pairs (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    prompt_id         bigint NOT NULL,
    origin            text NOT NULL,
    source_run_id     bigint NOT NULL,
    source_t          integer NOT NULL,
    chosen_sample     integer NOT NULL,
    rejected_sample   integer NOT NULL,
    r_w               double precision NOT NULL,
    r_l               double precision NOT NULL,
    gap               double precision GENERATED ALWAYS AS (r_w - r_l) STORED,
    weight            double precision NOT NULL,
    zero_gap          boolean GENERATED ALWAYS AS (r_w = r_l) STORED,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pairs_pkey PRIMARY KEY (run_id, t, prompt_id),
    CONSTRAINT pairs_origin_valid CHECK (origin IN ('regenerated', 'reused')),
    -- regenerated: built now from this iteration's samples; reused: carried over unchanged
    -- from an earlier D (possibly of the parent run of a fork).
    CONSTRAINT pairs_source_matches_origin CHECK (
        (origin = 'regenerated' AND source_run_id = run_id AND source_t = t)
        OR (origin = 'reused' AND source_t < t)),
    CONSTRAINT pairs_chosen_ne_rejected CHECK (chosen_sample <> rejected_sample),
    CONSTRAINT pairs_r_w_finite CHECK (r_w > '-Infinity' AND r_w < 'Infinity'),
    CONSTRAINT pairs_r_l_finite CHECK (r_l > '-Infinity' AND r_l < 'Infinity'),
    CONSTRAINT pairs_r_w_ge_r_l CHECK (r_w >= r_l),
    -- weight = σ(β2·gap) with β2 > 0 and gap ≥ 0, hence in [0.5, 1].
    CONSTRAINT pairs_weight_range CHECK (weight >= 0.5 AND weight <= 1),
    CONSTRAINT pairs_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t),
    CONSTRAINT pairs_chosen_fk FOREIGN KEY (source_run_id, source_t, prompt_id, chosen_sample)
        REFERENCES optune.responses (run_id, t, prompt_id, sample_index),
    CONSTRAINT pairs_rejected_fk FOREIGN KEY (source_run_id, source_t, prompt_id, rejected_sample)
        REFERENCES optune.responses (run_id, t, prompt_id, sample_index)
);
-- OPTune selection: the N prompts of D_{t-1} with the lowest chosen reward, in order.
CREATE INDEX pairs_selection_idx ON optune.pairs (run_id, t, r_w, prompt_id);
-- Provenance / staleness of reused pairs, and the referencing-side index of pairs_*_fk (without
-- it every deleted response would seq-scan pairs).
CREATE INDEX pairs_source_idx ON optune.pairs (source_run_id, source_t, prompt_id);
COMMENT ON TABLE optune.pairs IS 'D_t: one preference pair per (run, t, prompt). chosen/rejected are samples chosen_sample/rejected_sample of responses (source_run_id, source_t, prompt_id, ·). Partitionable by run_id (key starts with it).';
COMMENT ON COLUMN optune.pairs.origin IS 'regenerated (from this iteration''s samples) or reused (carried over unchanged from D_{t-1}).';
COMMENT ON COLUMN optune.pairs.source_run_id IS 'Run of the two responses; = run_id when regenerated, may be the parent run for a fork''s reused pairs.';
COMMENT ON COLUMN optune.pairs.source_t IS 'Iteration of the two responses; = t when regenerated, < t when reused.';
COMMENT ON COLUMN optune.pairs.chosen_sample IS 'sample_index of the chosen (highest-reward) response.';
COMMENT ON COLUMN optune.pairs.rejected_sample IS 'sample_index of the rejected (lowest-reward) response.';
COMMENT ON COLUMN optune.pairs.r_w IS 'Reward of the chosen response (finite).';
COMMENT ON COLUMN optune.pairs.r_l IS 'Reward of the rejected response (finite, ≤ r_w).';
COMMENT ON COLUMN optune.pairs.gap IS 'Generated: r_w − r_l.';
COMMENT ON COLUMN optune.pairs.weight IS 'σ(β2·gap), the wDPO weight, in [0.5, 1].';
COMMENT ON COLUMN optune.pairs.zero_gap IS 'Generated: r_w = r_l. Kept; runs.skip_zero_gap decides whether training skips it.';

-- ---------------------------------------------------------------------------------------------
-- training, evaluation, exports, workers
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.training_runs (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    policy_in         bigint NOT NULL,
    policy_out        bigint,
    t_out             integer GENERATED ALWAYS AS (t + 1) STORED,
    loss              text NOT NULL,
    beta1             double precision NOT NULL,
    beta2             double precision NOT NULL,
    optimizer         jsonb NOT NULL DEFAULT '{}',
    pairs_used        bigint NOT NULL DEFAULT 0,
    skipped_zero_gap  bigint NOT NULL DEFAULT 0,
    loss_curve        double precision[] NOT NULL DEFAULT '{}',
    train_seconds     double precision,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT training_runs_pkey PRIMARY KEY (run_id, t),
    CONSTRAINT training_runs_policy_out_unique UNIQUE (policy_out),
    CONSTRAINT training_runs_loss_valid CHECK (loss IN ('wdpo', 'dpo')),
    CONSTRAINT training_runs_beta1_positive CHECK (beta1 > 0 AND beta1 < 'Infinity'),
    CONSTRAINT training_runs_beta2_positive CHECK (beta2 > 0 AND beta2 < 'Infinity'),
    CONSTRAINT training_runs_optimizer_object CHECK (jsonb_typeof(optimizer) = 'object'),
    CONSTRAINT training_runs_pairs_used_nonnegative CHECK (pairs_used >= 0),
    CONSTRAINT training_runs_skipped_zero_gap_nonnegative CHECK (skipped_zero_gap >= 0),
    CONSTRAINT training_runs_train_seconds_valid CHECK (train_seconds IS NULL
        OR (train_seconds >= 0 AND train_seconds < 'Infinity')),
    CONSTRAINT training_runs_finished_after_start CHECK (finished_at IS NULL OR finished_at >= started_at),
    CONSTRAINT training_runs_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t),
    -- policy_in is a π_t.
    CONSTRAINT training_runs_policy_in_fk FOREIGN KEY (policy_in, t) REFERENCES optune.policies (id, t),
    -- policy_out is this run's π_{t+1} and its parent is policy_in.
    CONSTRAINT training_runs_policy_out_fk FOREIGN KEY (policy_out, policy_in, run_id, t_out)
        REFERENCES optune.policies (id, parent_policy_id, run_id, t)
);
COMMENT ON TABLE optune.training_runs IS 'Training of iteration t: π_t (policy_in) → π_{t+1} (policy_out, set when training finishes) on D_t. The only link between a policy and the training that made it.';
COMMENT ON COLUMN optune.training_runs.policy_out IS 'π_{t+1}: a policy of this run with t = t+1 and parent policy_in (checked by training_runs_policy_out_fk). NULL while training.';
COMMENT ON COLUMN optune.training_runs.t_out IS 'Generated: t + 1, the index of policy_out.';
COMMENT ON COLUMN optune.training_runs.optimizer IS 'Optimiser settings (kind, lr, warm-up, batch, epochs, …).';
COMMENT ON COLUMN optune.training_runs.skipped_zero_gap IS 'Zero-gap pairs skipped (runs.skip_zero_gap).';
COMMENT ON COLUMN optune.training_runs.loss_curve IS 'Loss per step (or per logged interval); NaN is kept if training diverged.';

CREATE TABLE optune.evaluations (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    run_id        bigint NOT NULL,
    t             integer NOT NULL,
    policy_id     bigint NOT NULL,
    split         text NOT NULL,
    n             bigint NOT NULL,
    mean_reward   double precision,
    reward_stddev double precision,
    tokens        bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT evaluations_pkey PRIMARY KEY (id),
    CONSTRAINT evaluations_policy_split_unique UNIQUE (run_id, t, policy_id, split),
    CONSTRAINT evaluations_split_valid CHECK (split IN ('train', 'eval')),
    CONSTRAINT evaluations_n_nonnegative CHECK (n >= 0),
    CONSTRAINT evaluations_tokens_nonnegative CHECK (tokens >= 0),
    CONSTRAINT evaluations_mean_iff_n CHECK ((n = 0) = (mean_reward IS NULL)),
    CONSTRAINT evaluations_mean_reward_finite CHECK (mean_reward IS NULL
        OR (mean_reward > '-Infinity' AND mean_reward < 'Infinity')),
    CONSTRAINT evaluations_reward_stddev_valid CHECK (reward_stddev IS NULL
        OR (reward_stddev >= 0 AND reward_stddev < 'Infinity')),
    CONSTRAINT evaluations_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t),
    CONSTRAINT evaluations_policy_fk FOREIGN KEY (policy_id) REFERENCES optune.policies (id)
);
COMMENT ON TABLE optune.evaluations IS 'Mean reward of a policy on a split of the run''s prompt set (run''s reward model), recorded by iteration t (normally for π_{t+1}). The per-response data are eval responses/rewards.';
COMMENT ON COLUMN optune.evaluations.mean_reward IS 'Mean score over n responses; NULL iff n = 0.';
COMMENT ON COLUMN optune.evaluations.tokens IS 'Tokens generated for this evaluation.';

CREATE TABLE optune.exports (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    run_id      bigint NOT NULL,
    t           integer,
    format      text NOT NULL,
    path        text NOT NULL,
    rows        bigint NOT NULL,
    bytes       bigint NOT NULL,
    sha256      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT exports_pkey PRIMARY KEY (id),
    CONSTRAINT exports_format_valid CHECK (format IN ('trl', 'openrlhf', 'tokens')),
    CONSTRAINT exports_path_nonempty CHECK (path <> ''),
    CONSTRAINT exports_rows_nonnegative CHECK (rows >= 0),
    CONSTRAINT exports_bytes_nonnegative CHECK (bytes >= 0),
    CONSTRAINT exports_sha256_hex CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT exports_run_fk FOREIGN KEY (run_id) REFERENCES optune.runs (id),
    CONSTRAINT exports_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t)
);
CREATE INDEX exports_run_idx ON optune.exports (run_id, t);
COMMENT ON TABLE optune.exports IS 'Record of every export: what (run, t; t NULL = all iterations), format, where, size and sha256 of the file.';
COMMENT ON COLUMN optune.exports.format IS 'jsonl (optune pairs JSONL), trl (TRL DPO prompt/chosen/rejected), openrlhf (OpenRLHF preference format).';
COMMENT ON COLUMN optune.exports.path IS 'Output path or URI as given by the user (''-'' for stdout).';
COMMENT ON COLUMN optune.exports.sha256 IS 'Lower-case hex sha256 of the exported bytes.';

CREATE TABLE optune.workers (
    id              text NOT NULL,
    role            text NOT NULL,
    host            text NOT NULL,
    pid             integer NOT NULL,
    version         text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    last_heartbeat  timestamptz NOT NULL DEFAULT now(),
    stopped_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workers_pkey PRIMARY KEY (id),
    CONSTRAINT workers_id_nonempty CHECK (id <> ''),
    CONSTRAINT workers_role_valid CHECK (role IN ('generator', 'scorer', 'trainer', 'coordinator')),
    CONSTRAINT workers_pid_positive CHECK (pid > 0),
    CONSTRAINT workers_heartbeat_after_start CHECK (last_heartbeat >= started_at)
);
COMMENT ON TABLE optune.workers IS 'Daemons that work on the buffer, with their heartbeat. Referenced softly (no FK) by tasks.lease_owner and responses.worker_id, so rows may be pruned.';
COMMENT ON COLUMN optune.workers.id IS 'Worker id chosen by the daemon, e.g. role@host:pid:random.';
COMMENT ON COLUMN optune.workers.last_heartbeat IS 'Updated periodically by the daemon; stale = presumed dead (its leases expire on their own).';
