DROP INDEX decision_logs_reasons_trgm;
DROP INDEX decision_logs_persona_allow_ts;
DROP INDEX decision_logs_revision_ts;
DROP INDEX decision_logs_tool_ts;
DROP INDEX decision_logs_user_ts;
-- pg_trgm stays: other objects may use it, and keeping an extension is harmless.
