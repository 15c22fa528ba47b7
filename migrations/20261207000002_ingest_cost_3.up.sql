-- Cheaper decision-log ingest, third round (BENCHMARKS.md, "Third round"). Two changes to the
-- audit filters' indexes; the audit browser's queries change with them (store/audit.rs).
--
-- 1. Keyed by a 64-bit hash of the text, not by the text. Every stored decision descends each
-- index, comparing keys on the way: a `text` key is compared through the collation machinery,
-- and because it has variable width, the `ts` and `decision_id` behind it are found by walking
-- each index tuple (`nocache_index_getattr`; together with `_bt_compare` a sixth of Postgres'
-- CPU during ingest). A `bigint` key is compared directly and the tuple has fixed offsets. A
-- filter reads the index with `hashtextextended(column, 0) = hashtextextended($1, 0)` and
-- keeps `column = $1` as a filter, so two texts with the same hash never mix. The function is
-- immutable (hash partitioning relies on it) and hashes the bytes under a deterministic
-- collation; the key is computed from the row, not stored in it.
--
-- 2. No separate persona index: `(persona key, allow, ts, decision_id)` serves both "this
-- persona" and "this persona's denies". A page of one persona, any verdict, is read as the
-- merge of three ordered reads (allow true, false, null), each stopping after a page.
--
-- Building the indexes reads the whole table: on a large existing table, run this in a
-- maintenance window.
DROP INDEX decision_logs_persona_ts;
DROP INDEX decision_logs_agent_ts;
DROP INDEX decision_logs_user_ts;
DROP INDEX decision_logs_tool_ts;
DROP INDEX decision_logs_revision_ts;
DROP INDEX decision_logs_persona_allow_ts;
CREATE INDEX decision_logs_persona_key_allow_ts
    ON decision_logs (hashtextextended(persona, 0), allow, ts, decision_id);
CREATE INDEX decision_logs_agent_key_ts ON decision_logs (hashtextextended(agent_id, 0), ts, decision_id);
CREATE INDEX decision_logs_user_key_ts ON decision_logs (hashtextextended(user_id, 0), ts, decision_id);
CREATE INDEX decision_logs_tool_key_ts ON decision_logs (hashtextextended(tool, 0), ts, decision_id);
CREATE INDEX decision_logs_revision_key_ts
    ON decision_logs (hashtextextended(revision, 0), ts, decision_id);
