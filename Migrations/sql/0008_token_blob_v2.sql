-- Token blob format v2 (docs/token-blob-format.md): the byte prefix code before LZ4, which the
-- encoder picks when it is smaller than every v1 layout. The header keeps v1's magic, count
-- position and 8-byte length, so the checks only widen the version byte from 1 to 1 or 2.
-- Every row that passed the old checks passes the new ones; no data changes.

ALTER TABLE optune.prompts DROP CONSTRAINT prompts_tokens_blob_v1;
ALTER TABLE optune.prompts ADD CONSTRAINT prompts_tokens_blob CHECK (tokens IS NULL OR (octet_length(tokens) >= 8
    AND get_byte(tokens, 0) = 84 AND get_byte(tokens, 1) IN (1, 2)));
COMMENT ON CONSTRAINT prompts_tokens_blob ON optune.prompts IS
    'A prompt token blob has the 8-byte header of format v1 or v2: magic 0x54, version 1 or 2.';
COMMENT ON COLUMN optune.prompts.tokens IS
    'Optional prompt token ids, token blob format v1 or v2 (docs/token-blob-format.md: magic 0x54, version 1 or 2, LZ4). Not part of the content hash.';

ALTER TABLE optune.responses DROP CONSTRAINT responses_tokens_blob_v1;
ALTER TABLE optune.responses ADD CONSTRAINT responses_tokens_blob CHECK (tokens IS NULL OR (octet_length(tokens) >= 8
    AND get_byte(tokens, 0) = 84 AND get_byte(tokens, 1) IN (1, 2)
    AND n_tokens = get_byte(tokens, 4) + (get_byte(tokens, 5) << 8)
                 + (get_byte(tokens, 6) << 16) + (get_byte(tokens, 7)::bigint << 24)));
COMMENT ON CONSTRAINT responses_tokens_blob ON optune.responses IS
    'A response token blob is format v1 or v2 (magic 0x54, version 1 or 2) and its header count equals n_tokens.';

ALTER TABLE optune.responses DROP CONSTRAINT responses_prompt_tokens_blob_v1;
ALTER TABLE optune.responses ADD CONSTRAINT responses_prompt_tokens_blob CHECK (prompt_tokens IS NULL
    OR (octet_length(prompt_tokens) >= 8 AND get_byte(prompt_tokens, 0) = 84 AND get_byte(prompt_tokens, 1) IN (1, 2)));
COMMENT ON CONSTRAINT responses_prompt_tokens_blob ON optune.responses IS
    'A prompt token blob stored with a response has the header of format v1 or v2: magic 0x54, version 1 or 2.';

COMMENT ON COLUMN optune.responses.tokens IS
    'Generated token ids, token blob format v1 or v2 (docs/token-blob-format.md). NULL when the backend returned only text.';
COMMENT ON COLUMN optune.responses.prompt_tokens IS
    'Optional prompt token ids as the backend saw them (token blob format v1 or v2).';
