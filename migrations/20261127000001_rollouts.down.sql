ALTER TABLE channels DROP COLUMN IF EXISTS frozen_reason, DROP COLUMN IF EXISTS frozen_at,
    DROP COLUMN IF EXISTS frozen_by;
DROP INDEX IF EXISTS rollout_events_persona_id;
DROP TABLE IF EXISTS agent_pins;
DROP TABLE IF EXISTS rollouts;
