-- Cheaper decision-log ingest, second round (BENCHMARKS.md, "Decision-log ingest"). Two changes.
--
-- 1. The decision-log indexes in ascending order. Every audit list reads them newest first
-- (`ORDER BY ts DESC, decision_id DESC`), which a B-tree serves just as well by scanning an
-- ascending index backwards. What differs is ingest: new decisions carry the newest timestamps,
-- so in an ascending index they land at the right end of their key's range, where B-tree page
-- splits leave the left page full (PostgreSQL's split heuristics for ascending insertion), and
-- the `ts` index appends at its rightmost page (its fast path skips the descent). In a
-- descending index they land at the left end, every split halves a page, and the indexes grow
-- to ~1.8× the size, with the extra page splits and WAL that costs (BENCHMARKS.md, "Decision-log
-- ingest"). Rebuilding them reads the whole table, and 2. rewrites it: on a large existing table,
-- run this in a maintenance window.
DROP INDEX decision_logs_ts;
DROP INDEX decision_logs_persona_ts;
DROP INDEX decision_logs_agent_ts;
DROP INDEX decision_logs_user_ts;
DROP INDEX decision_logs_tool_ts;
DROP INDEX decision_logs_revision_ts;
DROP INDEX decision_logs_persona_allow_ts;
DROP INDEX decision_logs_reasons_ts;
CREATE INDEX decision_logs_ts ON decision_logs (ts, decision_id);
CREATE INDEX decision_logs_persona_ts ON decision_logs (persona, ts, decision_id);
CREATE INDEX decision_logs_agent_ts ON decision_logs (agent_id, ts, decision_id);
CREATE INDEX decision_logs_user_ts ON decision_logs (user_id, ts, decision_id);
CREATE INDEX decision_logs_tool_ts ON decision_logs (tool, ts, decision_id);
CREATE INDEX decision_logs_revision_ts ON decision_logs (revision, ts, decision_id);
CREATE INDEX decision_logs_persona_allow_ts ON decision_logs (persona, allow, ts, decision_id);
CREATE INDEX decision_logs_reasons_ts ON decision_logs (reasons_id, ts, decision_id);

-- 2. `event` as `text`. The control plane parses and validates every event before storing it
-- (and minifies it), so `json`'s own check of the text was done twice; it cost Postgres ~4 µs of
-- the ~20 µs an event's row and index entries take. Readers cast (`event::json`) where they want
-- JSON operators; nothing in Regent queries inside the event.
ALTER TABLE decision_logs ALTER COLUMN event TYPE text;
