ALTER TABLE decision_logs ALTER COLUMN event TYPE jsonb USING event::jsonb;
CREATE INDEX decision_logs_reasons_trgm ON decision_logs USING gin (reasons gin_trgm_ops);
DROP INDEX decision_logs_reasons_ts;
ALTER TABLE decision_logs DROP COLUMN reasons_id;
DROP TABLE decision_reason_texts;
