-- The paper's control as a strategy (issue 12): `highest` regenerates the N prompts whose chosen
-- response in D_{t-1} had the highest reward. Runs and iterations may now record it.

ALTER TABLE optune.runs DROP CONSTRAINT runs_strategy_valid;
ALTER TABLE optune.runs ADD CONSTRAINT runs_strategy_valid
    CHECK (strategy IN ('reward', 'random', 'full', 'highest'));
COMMENT ON COLUMN optune.runs.strategy IS 'reward (OPTune: lowest chosen reward in D_{t-1}), random (seeded Rdm_ρ baseline), full (all prompts) or highest (the paper''s control: highest chosen reward in D_{t-1}).';

ALTER TABLE optune.iterations DROP CONSTRAINT iterations_strategy_valid;
ALTER TABLE optune.iterations ADD CONSTRAINT iterations_strategy_valid
    CHECK (strategy IN ('reward', 'random', 'full', 'highest'));
COMMENT ON COLUMN optune.iterations.strategy IS 'Strategy actually used (full at t = 0): reward, random, full or highest.';

COMMENT ON COLUMN optune.selections.ranking_reward IS 'r_w of the prompt''s pair in D_{t-1} for strategies reward and highest; NULL at t = 0 and for full/random.';
