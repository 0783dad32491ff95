-- Planner statistics that a coordinator refreshes work whatever role it connects as. No data moves.
--
-- The coordinator refreshes the statistics pair building needs (responses, rewards) before it
-- builds D_t, and those of D_t (pairs) right after. PostgreSQL lets only a table's owner (or a
-- superuser, or the database owner) ANALYZE it; anyone else gets a warning and nothing is done.
-- So a coordinator connected as a member of optune_worker, as the README recommends for a
-- cluster, planned pair building and the unpaired-prompt join with whatever autovacuum had last
-- sampled: at t = 0 often nothing, and the planner's guess of one pair per iteration makes the
-- unpaired-prompt join a nested loop over the whole iteration per selected prompt (quadratic).
-- These functions run the same ANALYZE as the schema owner. They take no argument, analyse only
-- the key columns named here, and can be run by optune_worker and the owner only.

CREATE FUNCTION optune.refresh_build_statistics() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ANALYZE optune.responses (run_id, t, prompt_id, sample_index, purpose), optune.rewards (response_id, reward_model_id);
END
$$;
COMMENT ON FUNCTION optune.refresh_build_statistics() IS 'ANALYZE of the key columns of responses and rewards, as the schema owner (so any member of optune_worker can refresh them): run by the coordinator before it builds D_t. Never reads token blobs or texts.';

CREATE FUNCTION optune.refresh_pair_statistics() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    ANALYZE optune.pairs (run_id, t, prompt_id, r_w);
END
$$;
COMMENT ON FUNCTION optune.refresh_pair_statistics() IS 'ANALYZE of the columns of pairs that the unpaired-prompt join and the next selection read, as the schema owner: run by the coordinator in the transaction that builds D_t.';

REVOKE ALL ON FUNCTION optune.refresh_build_statistics(), optune.refresh_pair_statistics() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION optune.refresh_build_statistics(), optune.refresh_pair_statistics() TO optune_worker;
