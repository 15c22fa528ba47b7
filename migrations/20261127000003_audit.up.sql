-- The audit browser's filters. Every list is ordered by (ts DESC, decision_id DESC) and paged by
-- keyset, so each index leads with the filtered column and ends with that order: a page is one
-- index range scan per partition, stopped by LIMIT, whatever the table's size. `persona` and
-- `agent_id` already have theirs (init migration).
CREATE INDEX decision_logs_user_ts ON decision_logs (user_id, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_tool_ts ON decision_logs (tool, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_revision_ts ON decision_logs (revision, ts DESC, decision_id DESC);
-- "What did this persona deny": allow alone is too coarse to index (~70/30), with the persona it
-- narrows the scan to one verdict of one persona.
CREATE INDEX decision_logs_persona_allow_ts
    ON decision_logs (persona, allow, ts DESC, decision_id DESC);

-- Case-insensitive substring search in reasons (`ILIKE '%…%'`): a trigram index finds rare
-- words without reading every row. pg_trgm ships with PostgreSQL (Debian's `postgresql`
-- package) and is a trusted extension, so a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX decision_logs_reasons_trgm ON decision_logs USING gin (reasons gin_trgm_ops);
