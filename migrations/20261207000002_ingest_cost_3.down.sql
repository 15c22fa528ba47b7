-- Back to the text-keyed indexes of migration 20261207000001.
DROP INDEX decision_logs_persona_key_allow_ts;
DROP INDEX decision_logs_agent_key_ts;
DROP INDEX decision_logs_user_key_ts;
DROP INDEX decision_logs_tool_key_ts;
DROP INDEX decision_logs_revision_key_ts;
CREATE INDEX decision_logs_persona_ts ON decision_logs (persona, ts, decision_id);
CREATE INDEX decision_logs_agent_ts ON decision_logs (agent_id, ts, decision_id);
CREATE INDEX decision_logs_user_ts ON decision_logs (user_id, ts, decision_id);
CREATE INDEX decision_logs_tool_ts ON decision_logs (tool, ts, decision_id);
CREATE INDEX decision_logs_revision_ts ON decision_logs (revision, ts, decision_id);
CREATE INDEX decision_logs_persona_allow_ts ON decision_logs (persona, allow, ts, decision_id);
