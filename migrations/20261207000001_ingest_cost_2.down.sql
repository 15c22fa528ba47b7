-- Back to `json` events and the descending indexes of migrations 20261125000001, 20261127000003
-- and 20261128000001.
ALTER TABLE decision_logs ALTER COLUMN event TYPE json USING event::json;
DROP INDEX decision_logs_ts;
DROP INDEX decision_logs_persona_ts;
DROP INDEX decision_logs_agent_ts;
DROP INDEX decision_logs_user_ts;
DROP INDEX decision_logs_tool_ts;
DROP INDEX decision_logs_revision_ts;
DROP INDEX decision_logs_persona_allow_ts;
DROP INDEX decision_logs_reasons_ts;
CREATE INDEX decision_logs_ts ON decision_logs (ts DESC, decision_id DESC);
CREATE INDEX decision_logs_persona_ts ON decision_logs (persona, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_agent_ts ON decision_logs (agent_id, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_user_ts ON decision_logs (user_id, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_tool_ts ON decision_logs (tool, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_revision_ts ON decision_logs (revision, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_persona_allow_ts ON decision_logs (persona, allow, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_reasons_ts ON decision_logs (reasons_id, ts DESC, decision_id DESC);
