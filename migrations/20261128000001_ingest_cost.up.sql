-- Cheaper decision-log ingest: every acknowledged event is committed with its indexes, so what each
-- stored decision costs Postgres bounds ingest (BENCHMARKS.md, "Decision-log ingest"). Two changes.
--
-- 1. Reasons search without a trigram index on every decision.
--
-- The audit browser's `q` is a case-insensitive substring of a decision's reasons. A pg_trgm GIN
-- index on `decision_logs.reasons` answered it, but it added ~100 index entries to every stored
-- decision and cost ingest a quarter of its throughput (BENCHMARKS.md, "Decision-log ingest").
-- Reasons repeat: they come from a persona's rule messages, so a fleet produces far fewer
-- distinct reasons texts than decisions. Each distinct text is stored once here, with the trigram
-- index; a decision refers to its text by `reasons_id` (one B-tree entry). A search finds the
-- matching texts first, then the decisions that carry them — the same ILIKE on the same text.
--
-- Rows are never deleted (dropping old partitions leaves their texts; they are small). There is
-- no foreign key from decision_logs: checking it would lock the referenced row on every insert.
-- The ingest writer only uses ids it inserted or read in its own committed transactions.
CREATE TABLE decision_reason_texts (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the UTF-8 text: texts can be longer than a B-tree entry may be.
    digest  bytea NOT NULL,
    reasons text NOT NULL,
    CONSTRAINT decision_reason_texts_digest_key UNIQUE (digest)
);
CREATE INDEX decision_reason_texts_trgm ON decision_reason_texts USING gin (reasons gin_trgm_ops);

INSERT INTO decision_reason_texts (digest, reasons)
SELECT sha256(convert_to(reasons, 'UTF8')), reasons
FROM (SELECT DISTINCT reasons FROM decision_logs) AS texts;

ALTER TABLE decision_logs ADD COLUMN reasons_id bigint;
UPDATE decision_logs AS d SET reasons_id = t.id
FROM decision_reason_texts AS t
WHERE t.digest = sha256(convert_to(d.reasons, 'UTF8'));
ALTER TABLE decision_logs ALTER COLUMN reasons_id SET NOT NULL;

CREATE INDEX decision_logs_reasons_ts ON decision_logs (reasons_id, ts DESC, decision_id DESC);
DROP INDEX decision_logs_reasons_trgm;

-- 2. `event` as `json`, not `jsonb`. Nothing queries inside the event: the audit views show it and
-- exports write it out. Ingest has already parsed and validated it (and stores it minified), so
-- converting it to jsonb's binary form on every insert was pure cost (~20 % of the insert).
-- `json` keeps the text as received (key order and duplicates included) and still checks syntax.
-- This rewrites decision_logs; on a large existing table, run it in a maintenance window.
ALTER TABLE decision_logs ALTER COLUMN event TYPE json USING event::json;
