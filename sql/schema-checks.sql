-- schema-checks.sql — scratch validation of Migrations/sql/0001_data_model.sql.
--
-- Run against a FRESH scratch database (it inserts fixtures and a 200k-row benchmark):
--   createdb scratch_schema_x
--   psql -v ON_ERROR_STOP=1 -1 -f Migrations/sql/0001_data_model.sql -d scratch_schema_x
--   psql -X -v ON_ERROR_STOP=0 -f sql/schema-checks.sql -d scratch_schema_x
--   dropdb scratch_schema_x
--
-- Every negative check goes through pg_temp.expect_violation(statement, constraint), which
-- prints "ok   <constraint>" when the statement fails on exactly that constraint and
-- "FAIL ..." otherwise. grep the output for FAIL.

\set QUIET on
\pset footer off

CREATE FUNCTION pg_temp.expect_violation(stmt text, expected text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    got_constraint text;
    got_state text;
    got_message text;
BEGIN
    BEGIN
        EXECUTE stmt;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS got_constraint = CONSTRAINT_NAME,
                                got_state = RETURNED_SQLSTATE,
                                got_message = MESSAGE_TEXT;
        IF got_constraint = coalesce(expected, '') THEN
            RETURN format('ok   %-45s %s %s', coalesce(expected, '(no constraint)'), got_state, got_message);
        END IF;
        RETURN format('FAIL expected %s, got %s (%s) %s', expected, got_constraint, got_state, got_message);
    END;
    RETURN format('FAIL expected %s, statement succeeded: %s', expected, stmt);
END $$;

CREATE FUNCTION pg_temp.expect_ok(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok   accepted: ' || left(regexp_replace(stmt, '\s+', ' ', 'g'), 90);
EXCEPTION WHEN OTHERS THEN
    RETURN format('FAIL rejected (%s): %s', SQLERRM, stmt);
END $$;

-- A token blob v1 header with count n, followed by k pseudo-random payload bytes.
CREATE FUNCTION pg_temp.blob(n integer, k integer DEFAULT 16) RETURNS bytea
LANGUAGE sql AS $$
    SELECT '\x54010200'::bytea
        || set_byte(set_byte(set_byte(set_byte('\x00000000'::bytea, 0, n & 255), 1, (n >> 8) & 255),
                             2, (n >> 16) & 255), 3, (n >> 24) & 255)
        || substr(decode(repeat(md5(n::text || random()::text), 1 + k / 16), 'hex'), 1, k)
$$;

\echo '== fixtures'
INSERT INTO optune.reward_models (name, version, backend) VALUES ('digits', '1', 'builtin');
INSERT INTO optune.prompt_sets (name) VALUES ('digits-small');
INSERT INTO optune.prompts (text, source)
SELECT 'prompt ' || i, 'checks' FROM generate_series(1, 4) i;
-- importing twice is a no-op
INSERT INTO optune.prompts (text, source) VALUES ('prompt 1', 'again')
    ON CONFLICT (content_hash) DO NOTHING;
SELECT count(*) AS prompts_after_reimport_expect_4 FROM optune.prompts;
INSERT INTO optune.prompt_set_members (set_id, prompt_id, split)
SELECT 1, id, CASE WHEN id <= 3 THEN 'train' ELSE 'eval' END FROM optune.prompts;
-- base π_0 (no run), run A, iteration (A, 0)
INSERT INTO optune.policies (run_id, t, weights) VALUES (NULL, 0, '\x00');          -- id 1
INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt,
                         loss, beta1, beta2, seed, iterations_planned)
VALUES ('A', 1, 1, 0.5, 'reward', 2, 'wdpo', 2, 5, 42, 3);                          -- id 1
INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (1, 0, 1, 1, 'full');
INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id)
SELECT 1, 0, id, 'train', 1 FROM optune.prompts WHERE id <= 3;
INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text)
SELECT 1, 0, p, s, 'train', 1, 5, pg_temp.blob(5), 'r' || p || s
FROM generate_series(1, 3) p, generate_series(0, 1) s;
-- a third sample for prompt 2 only (used by the "other prompt" check)
INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
VALUES (1, 0, 2, 2, 'train', 1, 3, 'text only, backend-reported n_tokens');
INSERT INTO optune.rewards (response_id, reward_model_id, score)
SELECT id, 1, 0.1 * id FROM optune.responses;
INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
                          chosen_sample, rejected_sample, r_w, r_l, weight)
SELECT 1, 0, p, 'regenerated', 1, 0, 1, 0, 0.9, 0.4, 1 / (1 + exp(-5 * 0.5)) FROM generate_series(1, 3) p;
-- π_1 trained from π_0, training run (A, 0), iteration (A, 1) with a reused pair
INSERT INTO optune.policies (run_id, t, parent_policy_id, uri, sha256)
VALUES (1, 1, 1, 'file:///models/a1', repeat('ab', 32));                              -- id 2
INSERT INTO optune.training_runs (run_id, t, policy_in, policy_out, loss, beta1, beta2,
                                  pairs_used, loss_curve, finished_at)
VALUES (1, 0, 1, 2, 'wdpo', 2, 5, 3, '{0.69,0.5,0.4}', now());
INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (1, 1, 2, 0.5, 'reward');
INSERT INTO optune.selections (run_id, t, prompt_id, rank, ranking_reward) VALUES (1, 1, 1, 1, 0.9);
INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
                          chosen_sample, rejected_sample, r_w, r_l, weight)
VALUES (1, 1, 2, 'reused', 1, 0, 1, 0, 0.9, 0.4, 1 / (1 + exp(-5 * 0.5)));
-- fork B of A after iteration 0: its iteration 1 uses A's π_1, its reused pair references A's responses
INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt,
                         loss, beta1, beta2, seed, iterations_planned, forked_from_run_id, forked_from_iteration)
VALUES ('B', 1, 1, 0.3, 'random', 2, 'dpo', 2, 5, 7, 3, 1, 0);                       -- id 2
INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (2, 1, 2, 0.3, 'random');
INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
                          chosen_sample, rejected_sample, r_w, r_l, weight)
VALUES (2, 1, 3, 'reused', 1, 0, 1, 0, 0.9, 0.9, 0.5);
SELECT run_id, t, prompt_id, origin, source_run_id, source_t, gap, weight, zero_gap FROM optune.pairs ORDER BY 1, 2, 3;
INSERT INTO optune.workers (id, role, host, pid, version) VALUES ('gen@h:1', 'generator', 'h', 1, '0.1');

\echo '== rewards'
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (1, 1, 'NaN')$$, 'rewards_score_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (1, 1, 'Infinity')$$, 'rewards_score_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (1, 1, '-Infinity')$$, 'rewards_score_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (999999, 1, 0.5)$$, 'rewards_response_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (1, 99, 0.5)$$, 'rewards_reward_model_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.rewards VALUES (1, 1, 0.5)$$, 'rewards_pkey');

\echo '== runs'
SELECT pg_temp.expect_violation(format($$INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy,
    samples_per_prompt, loss, beta1, beta2, seed, iterations_planned) VALUES ('x', 1, 1, %s, %L, %s, %L, %s, 5, 1, %s)$$,
    v.rho, v.strategy, v.n, v.loss, v.beta1, v.iters), v.expected)
FROM (VALUES ('0', 'reward', 2, 'wdpo', '2', 3, 'runs_rho_range'),
             ('1.5', 'reward', 2, 'wdpo', '2', 3, 'runs_rho_range'),
             ('''NaN''', 'reward', 2, 'wdpo', '2', 3, 'runs_rho_range'),
             ('0.5', 'reward', 1, 'wdpo', '2', 3, 'runs_samples_per_prompt_min'),
             ('0.5', 'greedy', 2, 'wdpo', '2', 3, 'runs_strategy_valid'),
             ('0.5', 'reward', 2, 'ipo', '2', 3, 'runs_loss_valid'),
             ('0.5', 'reward', 2, 'wdpo', '0', 3, 'runs_beta1_positive'),
             ('0.5', 'reward', 2, 'wdpo', '''NaN''', 3, 'runs_beta1_positive'),
             ('0.5', 'reward', 2, 'wdpo', '2', 0, 'runs_iterations_planned_min'))
     AS v(rho, strategy, n, loss, beta1, iters, expected);
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET name = 'B' WHERE id = 1$$, 'runs_name_unique');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET status = 'exploded' WHERE id = 1$$, 'runs_status_valid');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET status = 'failed' WHERE id = 1$$, 'runs_failed_has_reason');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET forked_from_iteration = NULL WHERE id = 2$$, 'runs_fork_both_or_neither');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET forked_from_iteration = 7 WHERE id = 2$$, 'runs_forked_from_fk');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET forked_from_run_id = 1, forked_from_iteration = 0 WHERE id = 1$$, 'runs_fork_not_self');
SELECT pg_temp.expect_violation($$UPDATE optune.runs SET config = '[]' WHERE id = 1$$, 'runs_config_object');

\echo '== prompts and sets'
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompts (source) VALUES ('empty')$$, 'prompts_has_content');
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompts (text) VALUES ('prompt 2')$$, 'prompts_content_hash_unique');
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompts (messages) VALUES ('{"role":"user"}')$$, 'prompts_messages_array');
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompts (text, tokens) VALUES ('tok', '\x00010200')$$, 'prompts_tokens_blob_v1');
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompt_set_members VALUES (1, 1, 'test')$$, 'prompt_set_members_split_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.prompt_set_members VALUES (1, 99, 'train')$$, 'prompt_set_members_prompt_fk');
-- message key order / whitespace do not change the hash
SELECT optune.prompt_content_hash(NULL, '[{"role":"user","content":"hi"}]')
     = optune.prompt_content_hash(NULL, '[{"content": "hi",  "role": "user"}]') AS messages_hash_canonical;

\echo '== policies'
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t, weights, uri) VALUES (1, 5, '\x00', 'x')$$, 'policies_exactly_one_origin');
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t) VALUES (1, 5)$$, 'policies_exactly_one_origin');
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t, uri, sha256) VALUES (1, 5, 'x', 'ABC')$$, 'policies_sha256_hex');
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t, uri) VALUES (1, 1, 'x')$$, 'policies_run_t_unique');
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t, uri) VALUES (NULL, 3, 'x')$$, 'policies_base_is_t0');
SELECT pg_temp.expect_violation($$INSERT INTO optune.policies (run_id, t, uri) VALUES (1, -1, 'x')$$, 'policies_t_nonnegative');

\echo '== iterations'
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET state = 'thinking' WHERE run_id = 1 AND t = 0$$, 'iterations_state_valid');
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET state = 'failed', finished_at = now() WHERE run_id = 1 AND t = 0$$, 'iterations_failed_has_reason');
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET state = 'done' WHERE run_id = 1 AND t = 0$$, 'iterations_finished_when_final');
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET selected = -1 WHERE run_id = 1 AND t = 0$$, 'iterations_selected_nonnegative');
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET tokens_generated = -5 WHERE run_id = 1 AND t = 0$$, 'iterations_tokens_generated_nonnegative');
SELECT pg_temp.expect_violation($$UPDATE optune.iterations SET train_seconds = 'NaN' WHERE run_id = 1 AND t = 0$$, 'iterations_train_seconds_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (1, -1, 1, 1, 'full')$$, 'iterations_t_nonnegative');
-- iteration 2 driven by π_1 (policies.t = 1): wrong policy index
SELECT pg_temp.expect_violation($$INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (1, 2, 2, 0.5, 'reward')$$, 'iterations_policy_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy) VALUES (1, 2, 1, 0, 'reward')$$, 'iterations_rho_range');

\echo '== selections'
SELECT pg_temp.expect_violation($$INSERT INTO optune.selections VALUES (1, 1, 2, 0, NULL)$$, 'selections_rank_positive');
SELECT pg_temp.expect_violation($$INSERT INTO optune.selections VALUES (1, 1, 2, 1, NULL)$$, 'selections_rank_unique');
SELECT pg_temp.expect_violation($$INSERT INTO optune.selections VALUES (1, 1, 2, 2, 'NaN')$$, 'selections_ranking_reward_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.selections VALUES (1, 9, 2, 2, NULL)$$, 'selections_iteration_fk');

\echo '== tasks'
SELECT pg_temp.expect_violation($$UPDATE optune.generation_tasks SET state = 'running' WHERE prompt_id = 1$$, 'generation_tasks_state_valid');
SELECT pg_temp.expect_violation($$UPDATE optune.generation_tasks SET state = 'leased', lease_owner = 'gen@h:1' WHERE prompt_id = 1$$, 'generation_tasks_lease_complete');
SELECT pg_temp.expect_violation($$UPDATE optune.generation_tasks SET state = 'dead' WHERE prompt_id = 1$$, 'generation_tasks_dead_has_error');
SELECT pg_temp.expect_violation($$UPDATE optune.generation_tasks SET attempts = -1 WHERE prompt_id = 1$$, 'generation_tasks_attempts_nonnegative');
SELECT pg_temp.expect_violation($$UPDATE optune.generation_tasks SET max_attempts = 0 WHERE prompt_id = 1$$, 'generation_tasks_max_attempts_positive');
SELECT pg_temp.expect_violation($$INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id) VALUES (1, 0, 1, 'train', 1)$$, 'generation_tasks_pkey');
SELECT pg_temp.expect_violation($$INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id) VALUES (1, 0, 4, 'test', 1)$$, 'generation_tasks_purpose_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id) VALUES (1, 7, 4, 'eval', 1)$$, 'generation_tasks_iteration_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id) VALUES (1, 0, 4, 'eval', 1)$$, 'scoring_tasks_generation_task_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id) VALUES (1, 0, 1, 'train', 2)$$, 'scoring_tasks_generation_task_fk');
SELECT pg_temp.expect_ok($$INSERT INTO optune.scoring_tasks (run_id, t, prompt_id, purpose, policy_id) SELECT run_id, t, prompt_id, purpose, policy_id FROM optune.generation_tasks$$);

\echo '== responses'
-- resubmission: ON CONFLICT DO NOTHING is a no-op, a plain INSERT is 23505
INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
VALUES (1, 0, 1, 0, 'train', 1, 1, 'again') ON CONFLICT (run_id, t, prompt_id, sample_index) DO NOTHING;
SELECT text AS still_original_text FROM optune.responses WHERE run_id = 1 AND t = 0 AND prompt_id = 1 AND sample_index = 0;
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 1, 0, 'train', 1, 1, 'again')$$, 'responses_sample_unique');
-- generated by a policy other than the task's, for a purpose other than the task's, or without a task
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 1, 5, 'train', 2, 1, 'x')$$, 'responses_generation_task_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 1, 5, 'eval', 1, 1, 'x')$$, 'responses_generation_task_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 4, 0, 'train', 1, 1, 'x')$$, 'responses_generation_task_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 1, 5, 'train', 1, -1, 'x')$$, 'responses_n_tokens_nonnegative');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens)
    VALUES (1, 0, 1, 5, 'train', 1, 0)$$, 'responses_has_content');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens)
    VALUES (1, 0, 1, 5, 'train', 1, 6, pg_temp.blob(5))$$, 'responses_tokens_blob_v1');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens)
    VALUES (1, 0, 1, 5, 'train', 1, 5, '\x550102000500000000')$$, 'responses_tokens_blob_v1');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, latency_ms)
    VALUES (1, 0, 1, 5, 'train', 1, 1, 'x', -3)$$, 'responses_latency_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text, logprob_sum)
    VALUES (1, 0, 1, 5, 'train', 1, 1, 'x', 'NaN')$$, 'responses_logprob_sum_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, text)
    VALUES (1, 0, 1, -1, 'train', 1, 1, 'x')$$, 'responses_sample_index_nonnegative');
-- a 70000-token blob: header count above 65535 decodes as uint32
SELECT pg_temp.expect_ok($$INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens)
    VALUES (1, 0, 3, 9, 'train', 1, 70000, pg_temp.blob(70000))$$);
SELECT pg_temp.expect_violation($$DELETE FROM optune.generation_tasks WHERE prompt_id = 1$$, 'scoring_tasks_generation_task_fk');

\echo '== pairs'
-- sample 2 exists only for prompt 2: a pair of prompt 1 cannot name it (chosen of another prompt)
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 2, 0, 0.9, 0.4, 0.9)$$, 'pairs_chosen_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 0, 2, 0.9, 0.4, 0.9)$$, 'pairs_rejected_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 1, 0.9, 0.4, 0.9)$$, 'pairs_chosen_ne_rejected');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 0, 0.4, 0.9, 0.9)$$, 'pairs_r_w_ge_r_l');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 0, 'NaN', 0.4, 0.9)$$, 'pairs_r_w_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 0, 0.9, '-Infinity', 0.9)$$, 'pairs_r_l_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 0, 0.9, 0.4, 1.5)$$, 'pairs_weight_range');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'reused', 1, 0, 1, 0, 0.9, 0.4, 'NaN')$$, 'pairs_weight_range');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'regenerated', 1, 0, 1, 0, 0.9, 0.4, 0.9)$$, 'pairs_source_matches_origin');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 1, 1, 'copied', 1, 0, 1, 0, 0.9, 0.4, 0.9)$$, 'pairs_origin_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 5, 1, 'reused', 1, 0, 1, 0, 0.9, 0.4, 0.9)$$, 'pairs_iteration_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.pairs (run_id, t, prompt_id, origin, source_run_id, source_t,
    chosen_sample, rejected_sample, r_w, r_l, weight) VALUES (1, 0, 1, 'regenerated', 1, 0, 1, 0, 0.9, 0.4, 0.9)$$, 'pairs_pkey');
SELECT pg_temp.expect_violation($$UPDATE optune.pairs SET gap = 0 WHERE run_id = 1$$, NULL);
-- a response that a pair (here: fork B's reused pair) still references cannot be deleted
DELETE FROM optune.rewards WHERE response_id = (SELECT id FROM optune.responses
    WHERE run_id = 1 AND t = 0 AND prompt_id = 3 AND sample_index = 1);
SELECT pg_temp.expect_violation($$DELETE FROM optune.responses WHERE run_id = 1 AND t = 0 AND prompt_id = 3 AND sample_index = 1$$, 'pairs_chosen_fk');

\echo '== training, evaluations, exports, workers'
SELECT pg_temp.expect_ok($$INSERT INTO optune.policies (run_id, t, parent_policy_id, uri) VALUES (1, 2, 1, 'x')$$);  -- id 3
-- π_2 of run A whose parent is π_0 rather than π_1: training (A, 1) from π_1 cannot output it
SELECT pg_temp.expect_violation($$INSERT INTO optune.training_runs (run_id, t, policy_in, policy_out, loss, beta1, beta2)
    VALUES (1, 1, 2, 3, 'wdpo', 2, 5)$$, 'training_runs_policy_out_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.training_runs (run_id, t, policy_in, loss, beta1, beta2)
    VALUES (1, 1, 1, 'wdpo', 2, 5)$$, 'training_runs_policy_in_fk');
SELECT pg_temp.expect_violation($$INSERT INTO optune.training_runs (run_id, t, policy_in, loss, beta1, beta2, pairs_used)
    VALUES (1, 1, 2, 'wdpo', 2, 5, -1)$$, 'training_runs_pairs_used_nonnegative');
SELECT pg_temp.expect_violation($$INSERT INTO optune.training_runs (run_id, t, policy_in, loss, beta1, beta2)
    VALUES (1, 1, 2, 'kto', 2, 5)$$, 'training_runs_loss_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.training_runs (run_id, t, policy_in, policy_out, loss, beta1, beta2)
    VALUES (1, 1, 2, 2, 'wdpo', 2, 5)$$, 'training_runs_policy_out_unique');
SELECT pg_temp.expect_violation($$INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward) VALUES (1, 0, 2, 'eval', 10, 'NaN')$$, 'evaluations_mean_reward_finite');
SELECT pg_temp.expect_violation($$INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward) VALUES (1, 0, 2, 'eval', -1, 0.5)$$, 'evaluations_n_nonnegative');
SELECT pg_temp.expect_violation($$INSERT INTO optune.evaluations (run_id, t, policy_id, split, n, mean_reward) VALUES (1, 0, 2, 'eval', 0, 0.5)$$, 'evaluations_mean_iff_n');
SELECT pg_temp.expect_violation($$INSERT INTO optune.exports (run_id, t, format, path, rows, bytes, sha256) VALUES (1, 0, 'csv', 'x', 1, 1, repeat('0', 64))$$, 'exports_format_valid');
SELECT pg_temp.expect_violation($$INSERT INTO optune.exports (run_id, t, format, path, rows, bytes, sha256) VALUES (1, 0, 'jsonl', 'x', -1, 1, repeat('0', 64))$$, 'exports_rows_nonnegative');
SELECT pg_temp.expect_violation($$INSERT INTO optune.workers (id, role, host, pid, version) VALUES ('w', 'janitor', 'h', 1, 'v')$$, 'workers_role_valid');

\echo '== leasing protocol (fenced submission)'
-- lease a batch: one fencing token per batch, FOR NO KEY UPDATE SKIP LOCKED
WITH batch AS (
    SELECT run_id, t, prompt_id FROM optune.generation_tasks
    WHERE state = 'pending' AND run_id = 1 AND t = 0
    ORDER BY run_id, t, prompt_id
    LIMIT 2
    FOR NO KEY UPDATE SKIP LOCKED
), tok AS (SELECT nextval('optune.lease_token_seq') AS token)
UPDATE optune.generation_tasks g
SET state = 'leased', lease_owner = 'gen@h:1', lease_token = tok.token,
    lease_expires_at = now() + interval '5 minutes', attempts = attempts + 1, updated_at = now()
FROM batch, tok
WHERE (g.run_id, g.t, g.prompt_id) = (batch.run_id, batch.t, batch.prompt_id)
RETURNING g.prompt_id, g.policy_id, g.lease_token;
-- a stale holder (wrong token) completes nothing
UPDATE optune.generation_tasks SET state = 'done', updated_at = now()
WHERE run_id = 1 AND t = 0 AND prompt_id = 1 AND state = 'leased' AND lease_token = -1;
SELECT prompt_id, state, lease_token FROM optune.generation_tasks ORDER BY prompt_id;
EXPLAIN (COSTS OFF) SELECT run_id, t, prompt_id FROM optune.generation_tasks
    WHERE state = 'pending' AND run_id = 1 AND t = 0 ORDER BY run_id, t, prompt_id LIMIT 100 FOR NO KEY UPDATE SKIP LOCKED;
EXPLAIN (COSTS OFF) SELECT run_id, t, prompt_id FROM optune.generation_tasks
    WHERE state = 'leased' AND lease_expires_at < now() FOR NO KEY UPDATE SKIP LOCKED;

\echo '== benchmark: 200k responses (2 per prompt, 512-token blobs of ~700 bytes)'
SET synchronous_commit = off;
INSERT INTO optune.prompt_sets (name) VALUES ('bench');
INSERT INTO optune.prompts (text, source) SELECT 'bench prompt ' || i, 'bench' FROM generate_series(1, 100000) i;
INSERT INTO optune.runs (name, prompt_set_id, reward_model_id, rho, strategy, samples_per_prompt,
                         loss, beta1, beta2, seed, iterations_planned)
VALUES ('bench', 2, 1, 1, 'full', 2, 'wdpo', 2, 5, 1, 1);
INSERT INTO optune.iterations (run_id, t, policy_id, rho, strategy)
SELECT id, 0, 1, 1, 'full' FROM optune.runs WHERE name = 'bench';
INSERT INTO optune.generation_tasks (run_id, t, prompt_id, purpose, policy_id)
SELECT r.id, 0, p.id, 'train', 1 FROM optune.runs r, optune.prompts p WHERE r.name = 'bench' AND p.source = 'bench';
-- staging rows as a generator would COPY them: 8-byte header (count 512) + 692 random bytes
CREATE UNLOGGED TABLE bench_staging AS
SELECT r.id AS run_id, 0 AS t, p.id AS prompt_id, s AS sample_index, 'train'::text AS purpose, 1::bigint AS policy_id,
       512 AS n_tokens,
       '\x5401020000020000'::bytea
         || substr(decode((SELECT string_agg(md5(random()::text || p.id || s || j), '') FROM generate_series(1, 44) j), 'hex'), 1, 692) AS tokens,
       NULL::text AS text, 'length'::text AS finish_reason,
       '{"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}'::jsonb AS sampling,
       (p.id * 2 + s) AS seed, 'gen@h:1'::text AS worker_id, 12.5::float8 AS latency_ms, -350.25::float8 AS logprob_sum
FROM optune.runs r, optune.prompts p, generate_series(0, 1) s
WHERE r.name = 'bench' AND p.source = 'bench';
ANALYZE bench_staging;
CHECKPOINT;
\timing on
INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text,
                              finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum)
SELECT run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text,
       finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum
FROM bench_staging
ON CONFLICT (run_id, t, prompt_id, sample_index) DO NOTHING;
-- the same batch again: every row conflicts, nothing is written
INSERT INTO optune.responses (run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text,
                              finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum)
SELECT run_id, t, prompt_id, sample_index, purpose, policy_id, n_tokens, tokens, text,
       finish_reason, sampling, seed, worker_id, latency_ms, logprob_sum
FROM bench_staging
ON CONFLICT (run_id, t, prompt_id, sample_index) DO NOTHING;
\timing off
