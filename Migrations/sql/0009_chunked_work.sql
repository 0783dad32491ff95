-- Scale (issue 11): a selection is one row per iteration holding arrays, and a task is a chunk of
-- prompts. At 1M prompts, one row per selected prompt and per task, each with its foreign keys,
-- took 47 s to select and enqueue ρ = 0.5; arrays and 256-prompt chunks write a few thousand
-- rows. Existing selections, tasks and responses are moved to the new layout here: every old
-- per-prompt task becomes a chunk of one prompt, keeping its state, lease, attempts and error
-- (lease_batch is not carried over: a chunk's size says how much its lease covered).
--
-- What the per-prompt rows' keys guaranteed and arrays cannot: a selection's prompt ids are
-- distinct members of the run's prompt set, and a chunk's prompts exist, because one statement
-- of the selector writes both from optune.prompt_set_members (which references prompts); no role
-- but the schema owner writes them otherwise. Checking it per row (or sorting 1M ids) is what
-- made selecting 1M prompts take 47 s. A response's prompt is checked against its chunk.
--
-- On a large buffer this migration rewrites every response row once (responses.chunk) under an
-- exclusive lock: plan for the downtime.

-- ---------------------------------------------------------------------------------------------
-- Selections: one row per (run, t); the view optune.selections keeps the per-prompt shape
-- ---------------------------------------------------------------------------------------------

CREATE TABLE optune.iteration_selections (
    run_id           bigint NOT NULL,
    t                integer NOT NULL,
    prompt_ids       bigint[] NOT NULL,
    ranking_rewards  double precision[],
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT iteration_selections_pkey PRIMARY KEY (run_id, t),
    CONSTRAINT iteration_selections_flat CHECK (array_ndims(prompt_ids) = 1 OR cardinality(prompt_ids) = 0),
    CONSTRAINT iteration_selections_no_null_prompt CHECK (array_position(prompt_ids, NULL) IS NULL),
    CONSTRAINT iteration_selections_rewards_aligned CHECK (ranking_rewards IS NULL
        OR cardinality(ranking_rewards) = cardinality(prompt_ids)),
    CONSTRAINT iteration_selections_rewards_finite CHECK (ranking_rewards IS NULL
        OR ('-Infinity' < ALL (ranking_rewards) AND 'Infinity' > ALL (ranking_rewards))),
    CONSTRAINT iteration_selections_iteration_fk FOREIGN KEY (run_id, t) REFERENCES optune.iterations (run_id, t)
);
-- Arrays of ids compress poorly with pglz: store them out of line as they are.
ALTER TABLE optune.iteration_selections ALTER COLUMN prompt_ids SET STORAGE EXTERNAL;
ALTER TABLE optune.iteration_selections ALTER COLUMN ranking_rewards SET STORAGE EXTERNAL;
COMMENT ON TABLE optune.iteration_selections IS 'What iteration (run, t) selected, in one row: prompt_ids in rank order (rank = position, 1 = selected first) and the rewards that ranked them. Written by one statement of the selector from the run''s prompt set (so every id is a distinct member of it). Query it per prompt through the view optune.selections.';
COMMENT ON COLUMN optune.iteration_selections.prompt_ids IS 'Selected prompt ids in rank order.';
COMMENT ON COLUMN optune.iteration_selections.ranking_rewards IS 'ranking_rewards[i] = r_w of prompt_ids[i]''s pair in D_{t-1} (strategies reward and highest; an element is NULL for a prompt that had no pair); the whole array is NULL at t = 0 and for full/random.';

-- The view below takes rank from array position: old ranks must be 1…n.
DO $$
BEGIN
    IF EXISTS (SELECT FROM optune.selections GROUP BY run_id, t HAVING min(rank) <> 1 OR max(rank) <> count(*)) THEN
        RAISE EXCEPTION 'optune.selections has an iteration whose ranks are not 1…n; fix it before migrating';
    END IF;
END
$$;
INSERT INTO optune.iteration_selections (run_id, t, prompt_ids, ranking_rewards, created_at)
SELECT run_id, t, array_agg(prompt_id ORDER BY rank),
       CASE WHEN bool_or(ranking_reward IS NOT NULL) THEN array_agg(ranking_reward ORDER BY rank) END,
       min(created_at)
FROM optune.selections GROUP BY run_id, t;

ALTER TABLE optune.unpaired_prompts DROP CONSTRAINT unpaired_prompts_selection_fk;
ALTER TABLE optune.unpaired_prompts ADD CONSTRAINT unpaired_prompts_selection_fk
    FOREIGN KEY (run_id, t) REFERENCES optune.iteration_selections (run_id, t);
ALTER TABLE optune.selections RENAME TO selections_0001;

CREATE VIEW optune.selections AS
SELECT s.run_id, s.t, u.prompt_id, u.rank::integer AS rank, u.ranking_reward, s.created_at
FROM optune.iteration_selections s
CROSS JOIN LATERAL unnest(s.prompt_ids, s.ranking_rewards) WITH ORDINALITY AS u(prompt_id, ranking_reward, rank);
COMMENT ON VIEW optune.selections IS 'Prompts selected at (run, t), one row each, with their rank (1 = selected first) and the reward that ranked them (r_w in D_{t-1} for strategies reward and highest; NULL at t = 0 and for full/random). Unnests optune.iteration_selections; filter on run_id and t.';

-- reward_trajectory (0002) read the old table; the same definition now reads the view.
CREATE OR REPLACE VIEW optune.reward_trajectory AS
SELECT r.id                          AS run_id,
       r.name                        AS run_name,
       p.t,
       p.prompt_id,
       p.run_id                      AS owner_run_id,
       p.run_id <> r.id              AS inherited,
       p.origin,
       p.source_run_id,
       p.source_t,
       p.t - p.source_t              AS age,
       p.r_w,
       p.r_l,
       p.gap,
       p.weight,
       p.zero_gap,
       s.prompt_id IS NOT NULL       AS selected,
       s.rank                        AS selection_rank,
       s.ranking_reward
FROM optune.runs r
JOIN optune.run_lineage l ON l.run_id = r.id
JOIN optune.pairs p
  ON p.run_id = l.owner_run_id AND p.t >= l.t_from AND p.t <= coalesce(l.t_through, 2147483647)
LEFT JOIN optune.selections s
  ON s.run_id = p.run_id AND s.t = p.t AND s.prompt_id = p.prompt_id;

DROP TABLE optune.selections_0001;

-- ---------------------------------------------------------------------------------------------
-- Work queues: one task per chunk of prompts
-- ---------------------------------------------------------------------------------------------

CREATE SEQUENCE optune.task_chunk_seq;
COMMENT ON SEQUENCE optune.task_chunk_seq IS 'Chunk numbers of both work queues: creation order, so a queue leased in (run, t, chunk) order takes a selection''s ranks in order and split-off retries after fresh work.';

-- The responses' old composite FK pointed at the per-prompt generation tasks; the set-based
-- check below replaces it.
ALTER TABLE optune.responses DROP CONSTRAINT responses_generation_task_fk;
ALTER TABLE optune.generation_tasks RENAME TO generation_tasks_0001;
ALTER TABLE optune.scoring_tasks RENAME TO scoring_tasks_0001;
ALTER INDEX optune.generation_tasks_pkey RENAME TO generation_tasks_0001_pkey;
ALTER INDEX optune.generation_tasks_response_key RENAME TO generation_tasks_0001_response_key;
ALTER INDEX optune.generation_tasks_pending_idx RENAME TO generation_tasks_0001_pending_idx;
ALTER INDEX optune.generation_tasks_lease_expiry_idx RENAME TO generation_tasks_0001_lease_expiry_idx;
ALTER INDEX optune.scoring_tasks_pkey RENAME TO scoring_tasks_0001_pkey;
ALTER INDEX optune.scoring_tasks_pending_idx RENAME TO scoring_tasks_0001_pending_idx;
ALTER INDEX optune.scoring_tasks_lease_expiry_idx RENAME TO scoring_tasks_0001_lease_expiry_idx;

CREATE TABLE optune.generation_tasks (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    chunk             bigint NOT NULL DEFAULT nextval('optune.task_chunk_seq'),
    purpose           text NOT NULL,
    policy_id         bigint NOT NULL,
    prompt_ids        bigint[] NOT NULL,
    size              integer NOT NULL,
    parent_chunk      bigint,
    state             text NOT NULL DEFAULT 'pending',
    lease_owner       text,
    lease_token       bigint,
    lease_expires_at  timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    expiries          integer NOT NULL DEFAULT 0,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT generation_tasks_pkey PRIMARY KEY (run_id, t, chunk),
    CONSTRAINT generation_tasks_size_matches CHECK (size >= 1 AND size = cardinality(prompt_ids) AND array_ndims(prompt_ids) = 1),
    CONSTRAINT generation_tasks_purpose_valid CHECK (purpose IN ('train', 'eval')),
    CONSTRAINT generation_tasks_state_valid CHECK (state IN ('pending', 'leased', 'done', 'dead', 'split')),
    CONSTRAINT generation_tasks_lease_complete CHECK (state <> 'leased'
        OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT generation_tasks_attempts_nonnegative CHECK (attempts >= 0),
    CONSTRAINT generation_tasks_max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT generation_tasks_expiries_nonnegative CHECK (expiries >= 0),
    CONSTRAINT generation_tasks_dead_has_error CHECK (state <> 'dead' OR last_error IS NOT NULL),
    CONSTRAINT generation_tasks_iteration_fk FOREIGN KEY (run_id, t, policy_id) REFERENCES optune.iterations (run_id, t, policy_id),
    CONSTRAINT generation_tasks_parent_fk FOREIGN KEY (run_id, t, parent_chunk) REFERENCES optune.generation_tasks (run_id, t, chunk)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX generation_tasks_pending_idx ON optune.generation_tasks (run_id, t, chunk) WHERE state = 'pending';
CREATE INDEX generation_tasks_lease_expiry_idx ON optune.generation_tasks (lease_expires_at) WHERE state = 'leased';
COMMENT ON TABLE optune.generation_tasks IS 'Generation work queue: one task per chunk of prompts of (run, t) (a run''s chunk_size consecutive ranks of its selection, or of its eval split), each prompt sampled n times with policy_id. States pending → leased → done; dead after max_attempts (last_error kept); split when the chunk was replaced by smaller chunks (parent_chunk = this chunk) covering its prompts: after a lease expired (4 parts), or when some of its prompts failed and the rest were submitted. A chunk''s prompts never change. Which prompts died and why: unnest(prompt_ids) of the dead chunks.';
COMMENT ON COLUMN optune.generation_tasks.chunk IS 'Chunk number from optune.task_chunk_seq (creation order). responses.chunk names the chunk a response was submitted for.';
COMMENT ON COLUMN optune.generation_tasks.prompt_ids IS 'The chunk''s prompts (train: in rank order). Never updated.';
COMMENT ON COLUMN optune.generation_tasks.size IS 'cardinality(prompt_ids), kept for cheap counts.';
COMMENT ON COLUMN optune.generation_tasks.parent_chunk IS 'The chunk this one was split from (NULL for a chunk enqueued by the iteration''s opening).';
COMMENT ON COLUMN optune.generation_tasks.purpose IS 'train (selected prompts, policy π_t) or eval (eval-split prompts, policy under evaluation).';
COMMENT ON COLUMN optune.generation_tasks.policy_id IS 'The policy to sample with; equals every response''s policy_id (checked on insert).';
COMMENT ON COLUMN optune.generation_tasks.state IS 'pending | leased (lease_owner, lease_token, lease_expires_at set) | done | dead (last_error set) | split (replaced by the chunks whose parent_chunk it is).';
COMMENT ON COLUMN optune.generation_tasks.lease_token IS 'Fencing token of the current/last lease, from optune.lease_token_seq. A submission must match it (AND state = ''leased'') or it is refused.';
COMMENT ON COLUMN optune.generation_tasks.lease_owner IS 'workers.id of the lease holder (soft reference, no FK).';
COMMENT ON COLUMN optune.generation_tasks.attempts IS 'Leases of this chunk (and of the chunk it was split from) that ended in an error, an expiry while it held one prompt, or are in progress; max_attempts of them make it dead. A graceful release does not count.';
COMMENT ON COLUMN optune.generation_tasks.expiries IS 'Lease expiries of this chunk''s line (its worker died or hung). A chunk of more than one prompt whose lease expires is split into 4 smaller chunks, so a poison prompt ends up alone; only an expiry of a one-prompt chunk counts as an attempt.';
COMMENT ON COLUMN optune.generation_tasks.updated_at IS 'Set by every writer (no trigger, to keep the hot path cheap).';

CREATE TABLE optune.scoring_tasks (
    run_id            bigint NOT NULL,
    t                 integer NOT NULL,
    chunk             bigint NOT NULL DEFAULT nextval('optune.task_chunk_seq'),
    purpose           text NOT NULL,
    policy_id         bigint NOT NULL,
    prompt_ids        bigint[] NOT NULL,
    size              integer NOT NULL,
    parent_chunk      bigint,
    state             text NOT NULL DEFAULT 'pending',
    lease_owner       text,
    lease_token       bigint,
    lease_expires_at  timestamptz,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    expiries          integer NOT NULL DEFAULT 0,
    last_error        text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT scoring_tasks_pkey PRIMARY KEY (run_id, t, chunk),
    CONSTRAINT scoring_tasks_size_matches CHECK (size >= 1 AND size = cardinality(prompt_ids) AND array_ndims(prompt_ids) = 1),
    CONSTRAINT scoring_tasks_purpose_valid CHECK (purpose IN ('train', 'eval')),
    CONSTRAINT scoring_tasks_state_valid CHECK (state IN ('pending', 'leased', 'done', 'dead', 'split')),
    CONSTRAINT scoring_tasks_lease_complete CHECK (state <> 'leased'
        OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT scoring_tasks_attempts_nonnegative CHECK (attempts >= 0),
    CONSTRAINT scoring_tasks_max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT scoring_tasks_expiries_nonnegative CHECK (expiries >= 0),
    CONSTRAINT scoring_tasks_dead_has_error CHECK (state <> 'dead' OR last_error IS NOT NULL),
    CONSTRAINT scoring_tasks_iteration_fk FOREIGN KEY (run_id, t, policy_id) REFERENCES optune.iterations (run_id, t, policy_id),
    CONSTRAINT scoring_tasks_parent_fk FOREIGN KEY (run_id, t, parent_chunk) REFERENCES optune.scoring_tasks (run_id, t, chunk)
) WITH (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);
CREATE INDEX scoring_tasks_pending_idx ON optune.scoring_tasks (run_id, t, chunk) WHERE state = 'pending';
CREATE INDEX scoring_tasks_lease_expiry_idx ON optune.scoring_tasks (lease_expires_at) WHERE state = 'leased';
COMMENT ON TABLE optune.scoring_tasks IS 'Scoring work queue: one task per chunk of prompts of (run, t) whose generation was submitted (the prompts of one generation submission), to be scored with the run''s reward model. Same states, lease, split and fencing protocol as generation_tasks.';
COMMENT ON COLUMN optune.scoring_tasks.lease_token IS 'Fencing token from optune.lease_token_seq; a submission must match it.';
COMMENT ON COLUMN optune.scoring_tasks.prompt_ids IS 'The chunk''s prompts. Never updated.';

-- Move the per-prompt tasks: each becomes a chunk of one prompt.
-- Numbered in queue order (train before eval, then prompt), so pending ones lease in that order.
ALTER TABLE optune.generation_tasks_0001 ADD COLUMN chunk bigint;
UPDATE optune.generation_tasks_0001 g SET chunk = numbered.chunk
FROM (
    SELECT run_id, t, prompt_id, nextval('optune.task_chunk_seq') AS chunk
    FROM (SELECT run_id, t, prompt_id FROM optune.generation_tasks_0001 ORDER BY run_id, t, purpose DESC, prompt_id) ordered
) numbered
WHERE (g.run_id, g.t, g.prompt_id) = (numbered.run_id, numbered.t, numbered.prompt_id);
INSERT INTO optune.generation_tasks (run_id, t, chunk, purpose, policy_id, prompt_ids, size, state, lease_owner, lease_token,
    lease_expires_at, attempts, max_attempts, expiries, last_error, updated_at, created_at)
SELECT run_id, t, chunk, purpose, policy_id, ARRAY[prompt_id], 1, state, lease_owner, lease_token,
    lease_expires_at, attempts, max_attempts, expiries, last_error, updated_at, created_at
FROM optune.generation_tasks_0001 ORDER BY chunk;
INSERT INTO optune.scoring_tasks (run_id, t, purpose, policy_id, prompt_ids, size, state, lease_owner, lease_token,
    lease_expires_at, attempts, max_attempts, expiries, last_error, updated_at, created_at)
SELECT run_id, t, purpose, policy_id, ARRAY[prompt_id], 1, state, lease_owner, lease_token,
    lease_expires_at, attempts, max_attempts, expiries, last_error, updated_at, created_at
FROM optune.scoring_tasks_0001 ORDER BY run_id, t, purpose DESC, prompt_id;

-- ---------------------------------------------------------------------------------------------
-- Responses name their chunk; one set-based check per statement replaces the per-row FK
-- ---------------------------------------------------------------------------------------------

ALTER TABLE optune.responses ADD COLUMN chunk bigint;
UPDATE optune.responses r SET chunk = g.chunk
FROM optune.generation_tasks_0001 g
WHERE (g.run_id, g.t, g.prompt_id) = (r.run_id, r.t, r.prompt_id);
ALTER TABLE optune.responses ALTER COLUMN chunk SET NOT NULL;
COMMENT ON COLUMN optune.responses.chunk IS 'The generation chunk (generation_tasks.chunk of the same run and t) the response was submitted for; it holds prompt_id and has the response''s policy_id and purpose (checked per statement by optune.check_response_chunks).';
DROP TABLE optune.generation_tasks_0001, optune.scoring_tasks_0001;

-- The guarantee of the old per-row FK — a response belongs to a generation task of its run and
-- t, for its prompt, policy and purpose — checked once per statement over all the statement's
-- rows: the statement's chunks are read by key (one index scan with array keys), their prompts
-- unnested, then one hash join with the new rows. A per-row FK costs about 8 µs a row here; this
-- costs well under 1 µs. The planner cannot estimate a transition table's join (it guesses 10
-- rows for an unnest), so nested loops are off inside the check: a nested loop over the new rows
-- and the chunks' prompts is quadratic. (JIT is off too: the cost penalty of a disabled nested loop
-- would make it compile the query, 0.3 s for nothing.)
CREATE FUNCTION optune.check_response_chunks() RETURNS trigger
LANGUAGE plpgsql SET enable_nestloop = off SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    WITH members AS MATERIALIZED (
        SELECT g.run_id, g.t, g.chunk, g.policy_id, g.purpose, u.prompt_id
        FROM optune.generation_tasks g
        CROSS JOIN LATERAL unnest(g.prompt_ids) AS u(prompt_id)
        WHERE g.run_id = ANY (ARRAY(SELECT DISTINCT run_id FROM new_responses))
          AND g.t = ANY (ARRAY(SELECT DISTINCT t FROM new_responses))
          AND g.chunk = ANY (ARRAY(SELECT DISTINCT chunk FROM new_responses))
    )
    SELECT n.run_id, n.t, n.prompt_id, n.sample_index, n.chunk, n.policy_id, n.purpose INTO bad
    FROM new_responses n
    LEFT JOIN members m ON (m.run_id, m.t, m.chunk, m.prompt_id) = (n.run_id, n.t, n.chunk, n.prompt_id)
    WHERE m.chunk IS NULL OR m.policy_id <> n.policy_id OR m.purpose <> n.purpose
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'response (run %, t %, prompt %, sample %) has no generation task: chunk % of its iteration does not hold the prompt with policy % and purpose %',
            bad.run_id, bad.t, bad.prompt_id, bad.sample_index, bad.chunk, bad.policy_id, bad.purpose
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'responses_generation_task_check',
                  TABLE = 'responses', SCHEMA = 'optune';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.check_response_chunks() IS 'Statement trigger of optune.responses: every inserted or updated response names a generation chunk of its (run, t) that holds its prompt, with its policy and purpose. Raises 23503 (constraint responses_generation_task_check) naming the first row that does not.';
CREATE TRIGGER responses_generation_task_check_insert AFTER INSERT ON optune.responses
    REFERENCING NEW TABLE AS new_responses FOR EACH STATEMENT EXECUTE FUNCTION optune.check_response_chunks();
CREATE TRIGGER responses_generation_task_check_update AFTER UPDATE ON optune.responses
    REFERENCING NEW TABLE AS new_responses FOR EACH STATEMENT EXECUTE FUNCTION optune.check_response_chunks();

-- What the check relies on: a chunk's identity and prompts never change, and chunks are never
-- deleted by the roles that write responses.
CREATE FUNCTION optune.keep_chunk_identity() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.run_id, NEW.t, NEW.chunk, NEW.purpose, NEW.policy_id, NEW.prompt_ids)
        IS DISTINCT FROM (OLD.run_id, OLD.t, OLD.chunk, OLD.purpose, OLD.policy_id, OLD.prompt_ids) THEN
        RAISE EXCEPTION 'a task chunk''s run, t, chunk, purpose, policy and prompts never change (chunk % of run % t %)',
            OLD.chunk, OLD.run_id, OLD.t
            USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = TG_TABLE_NAME || '_identity', TABLE = TG_TABLE_NAME,
                  SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optune.keep_chunk_identity() IS 'Row trigger of the task queues: refuses an update that changes a chunk''s identity or prompts (responses are checked against them).';
CREATE TRIGGER generation_tasks_identity BEFORE UPDATE OF run_id, t, chunk, purpose, policy_id, prompt_ids ON optune.generation_tasks
    FOR EACH ROW EXECUTE FUNCTION optune.keep_chunk_identity();
CREATE TRIGGER scoring_tasks_identity BEFORE UPDATE OF run_id, t, chunk, purpose, policy_id, prompt_ids ON optune.scoring_tasks
    FOR EACH ROW EXECUTE FUNCTION optune.keep_chunk_identity();
REVOKE DELETE ON optune.generation_tasks, optune.scoring_tasks FROM optune_worker;

-- |D_t| kept on its iteration, so the next selection knows without counting 1M pairs whether
-- every prompt has one (then it ranks straight from pairs_selection_idx).
ALTER TABLE optune.iterations ADD COLUMN pairs bigint,
    ADD CONSTRAINT iterations_pairs_nonnegative CHECK (pairs IS NULL OR pairs >= 0);
UPDATE optune.iterations i SET pairs = d.n
FROM (SELECT run_id, t, count(*) AS n FROM optune.pairs GROUP BY run_id, t) d
WHERE (d.run_id, d.t) = (i.run_id, i.t);
COMMENT ON COLUMN optune.iterations.pairs IS '|D_t|, recorded when D_t is built (NULL before).';

COMMENT ON COLUMN optune.iterations.dead_tasks IS 'Prompts of the iteration (both queues) whose task chunk died.';

GRANT SELECT ON optune.iteration_selections, optune.selections, optune.generation_tasks, optune.scoring_tasks TO optune_reader;
GRANT SELECT, INSERT, UPDATE ON optune.iteration_selections, optune.generation_tasks, optune.scoring_tasks TO optune_worker;
GRANT SELECT ON optune.selections TO optune_worker;
GRANT USAGE, SELECT ON SEQUENCE optune.task_chunk_seq TO optune_worker;
GRANT EXECUTE ON FUNCTION optune.check_response_chunks(), optune.keep_chunk_identity() TO optune_worker;

-- ---------------------------------------------------------------------------------------------
-- Rewards and pairs: their per-row foreign keys become checks per statement
-- ---------------------------------------------------------------------------------------------

-- A per-row FK check costs ~8 µs here, most of it locking the referenced row (FOR KEY SHARE
-- dirties the response's page): two per reward, three per pair — a third of an iteration's
-- buffer time at 48k prompts. The same guarantees, checked once per statement with one join, and
-- from the other side: the rows rewards and pairs reference can be neither deleted nor re-keyed.
-- (Unlike an FK, a check does not lock: a DELETE racing an INSERT could pass both. No role the
-- daemons use may delete responses, iterations or reward models.) Errors keep the FK names.
ALTER TABLE optune.rewards DROP CONSTRAINT rewards_response_fk, DROP CONSTRAINT rewards_reward_model_fk;
ALTER TABLE optune.pairs DROP CONSTRAINT pairs_iteration_fk, DROP CONSTRAINT pairs_chosen_fk, DROP CONSTRAINT pairs_rejected_fk;

CREATE FUNCTION optune.check_reward_references() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.response_id, n.reward_model_id, r.id IS NULL AS no_response INTO bad
    FROM new_rewards n
    LEFT JOIN optune.responses r ON r.id = n.response_id
    LEFT JOIN optune.reward_models m ON m.id = n.reward_model_id
    WHERE r.id IS NULL OR m.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'reward for response % and reward model % references a % that does not exist',
            bad.response_id, bad.reward_model_id, CASE WHEN bad.no_response THEN 'response' ELSE 'reward model' END
            USING ERRCODE = 'foreign_key_violation', TABLE = 'rewards', SCHEMA = 'optune',
                  CONSTRAINT = CASE WHEN bad.no_response THEN 'rewards_response_fk' ELSE 'rewards_reward_model_fk' END;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.check_reward_references() IS 'Statement trigger of optune.rewards: every new reward names an existing response and reward model (raises 23503 rewards_response_fk / rewards_reward_model_fk).';
CREATE TRIGGER rewards_references_insert AFTER INSERT ON optune.rewards
    REFERENCING NEW TABLE AS new_rewards FOR EACH STATEMENT EXECUTE FUNCTION optune.check_reward_references();
CREATE TRIGGER rewards_references_update AFTER UPDATE ON optune.rewards
    REFERENCING NEW TABLE AS new_rewards FOR EACH STATEMENT EXECUTE FUNCTION optune.check_reward_references();

CREATE FUNCTION optune.check_pair_references() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.run_id, n.t, n.prompt_id,
           CASE WHEN i.run_id IS NULL THEN 'pairs_iteration_fk' WHEN c.id IS NULL THEN 'pairs_chosen_fk' ELSE 'pairs_rejected_fk' END AS name
    INTO bad
    FROM new_pairs n
    LEFT JOIN optune.iterations i ON (i.run_id, i.t) = (n.run_id, n.t)
    LEFT JOIN optune.responses c
      ON (c.run_id, c.t, c.prompt_id, c.sample_index) = (n.source_run_id, n.source_t, n.prompt_id, n.chosen_sample)
    LEFT JOIN optune.responses r
      ON (r.run_id, r.t, r.prompt_id, r.sample_index) = (n.source_run_id, n.source_t, n.prompt_id, n.rejected_sample)
    WHERE i.run_id IS NULL OR c.id IS NULL OR r.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'pair (run %, t %, prompt %) references a row that does not exist (%)', bad.run_id, bad.t, bad.prompt_id, bad.name
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = bad.name, TABLE = 'pairs', SCHEMA = 'optune';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.check_pair_references() IS 'Statement trigger of optune.pairs: every new pair belongs to an existing iteration and its chosen and rejected samples exist for its prompt at (source_run_id, source_t) (raises 23503 pairs_iteration_fk / pairs_chosen_fk / pairs_rejected_fk).';
CREATE TRIGGER pairs_references_insert AFTER INSERT ON optune.pairs
    REFERENCING NEW TABLE AS new_pairs FOR EACH STATEMENT EXECUTE FUNCTION optune.check_pair_references();
CREATE TRIGGER pairs_references_update AFTER UPDATE ON optune.pairs
    REFERENCING NEW TABLE AS new_pairs FOR EACH STATEMENT EXECUTE FUNCTION optune.check_pair_references();

-- The other side: rows that rewards and pairs reference are never deleted or re-keyed.
CREATE FUNCTION optune.refuse_referenced_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_TABLE_NAME = 'responses' AND (
            EXISTS (SELECT 1 FROM old_rows o JOIN optune.rewards w ON w.response_id = o.id)
            OR EXISTS (SELECT 1 FROM old_rows o JOIN optune.pairs p
                       ON (p.source_run_id, p.source_t, p.prompt_id) = (o.run_id, o.t, o.prompt_id)
                      AND o.sample_index IN (p.chosen_sample, p.rejected_sample))))
       OR (TG_TABLE_NAME = 'iterations' AND EXISTS (SELECT 1 FROM old_rows o JOIN optune.pairs p ON (p.run_id, p.t) = (o.run_id, o.t)))
       OR (TG_TABLE_NAME = 'reward_models' AND EXISTS (SELECT 1 FROM old_rows o JOIN optune.rewards w ON w.reward_model_id = o.id)) THEN
        RAISE EXCEPTION 'cannot delete rows of optune.% that rewards or pairs reference', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_referenced', TABLE = TG_TABLE_NAME,
                  SCHEMA = TG_TABLE_SCHEMA;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optune.refuse_referenced_delete() IS 'Statement trigger: refuses to delete responses, iterations or reward models that rewards or pairs reference (the other half of the checks that replaced their foreign keys).';
CREATE TRIGGER responses_referenced_delete AFTER DELETE ON optune.responses
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION optune.refuse_referenced_delete();
CREATE TRIGGER iterations_referenced_delete AFTER DELETE ON optune.iterations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION optune.refuse_referenced_delete();
CREATE TRIGGER reward_models_referenced_delete AFTER DELETE ON optune.reward_models
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION optune.refuse_referenced_delete();

CREATE FUNCTION optune.keep_key() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key of a row of optune.% never changes (rewards and pairs reference it)', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = TG_TABLE_NAME || '_key_fixed', TABLE = TG_TABLE_NAME,
              SCHEMA = TG_TABLE_SCHEMA;
END
$$;
COMMENT ON FUNCTION optune.keep_key() IS 'Row trigger: refuses an update of a key that rewards or pairs reference.';
CREATE TRIGGER responses_key_fixed BEFORE UPDATE OF id, run_id, t, prompt_id, sample_index ON optune.responses
    FOR EACH ROW WHEN ((OLD.id, OLD.run_id, OLD.t, OLD.prompt_id, OLD.sample_index)
                       IS DISTINCT FROM (NEW.id, NEW.run_id, NEW.t, NEW.prompt_id, NEW.sample_index))
    EXECUTE FUNCTION optune.keep_key();
CREATE TRIGGER iterations_key_fixed BEFORE UPDATE OF run_id, t ON optune.iterations
    FOR EACH ROW WHEN ((OLD.run_id, OLD.t) IS DISTINCT FROM (NEW.run_id, NEW.t)) EXECUTE FUNCTION optune.keep_key();
CREATE TRIGGER reward_models_key_fixed BEFORE UPDATE OF id ON optune.reward_models
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION optune.keep_key();
GRANT EXECUTE ON FUNCTION optune.check_reward_references(), optune.check_pair_references(), optune.refuse_referenced_delete(),
    optune.keep_key() TO optune_worker;
