-- Rollouts and pins (DESIGN decision 5): what each agent of a channel should run.
--
-- A rollout gives `candidate_id` to `percentage`% of a channel's agents, chosen by
-- bucket = first 8 bytes of SHA-256(`<rollout id>:<agent id>`) as a big-endian u64, mod 100;
-- an agent is in while bucket < percentage. At most one rollout per channel is active; an
-- ended rollout stays as history (who started it, how it ended).
CREATE TABLE rollouts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id   bigint NOT NULL REFERENCES channels (id),
    candidate_id bigint NOT NULL REFERENCES revisions (id),
    -- The channel's revision when the rollout started (what the rest of the fleet runs).
    base_id      bigint REFERENCES revisions (id),
    percentage   integer NOT NULL,
    state        text NOT NULL DEFAULT 'active',
    reason       text NOT NULL DEFAULT '',
    started_by   text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    ended_by     text,
    ended_at     timestamptz,
    CONSTRAINT rollouts_percentage_check CHECK (percentage BETWEEN 1 AND 100),
    CONSTRAINT rollouts_state_check
        CHECK (state IN ('active', 'promoted', 'aborted', 'rolled_back')),
    CONSTRAINT rollouts_ended_check CHECK ((state = 'active') = (ended_at IS NULL))
);
CREATE UNIQUE INDEX rollouts_one_active ON rollouts (channel_id) WHERE state = 'active';

-- One agent of a persona pinned to one revision, whatever its channel or rollouts say.
-- `channel` is the channel the pin was made through (a frozen channel refuses pins).
CREATE TABLE agent_pins (
    persona_id  bigint NOT NULL REFERENCES personas (id),
    agent_id    text NOT NULL,
    channel     text NOT NULL,
    revision_id bigint NOT NULL REFERENCES revisions (id),
    reason      text NOT NULL DEFAULT '',
    pinned_by   text NOT NULL,
    pinned_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_pins_pkey PRIMARY KEY (persona_id, agent_id),
    CONSTRAINT agent_pins_agent_check CHECK (length(agent_id) BETWEEN 1 AND 256)
);

-- The event log is read newest first per persona and channel.
CREATE INDEX rollout_events_persona_id ON rollout_events (persona_id, id DESC);

-- Who froze a channel and why, for the 409 that refuses changes while it is frozen.
ALTER TABLE channels
    ADD COLUMN frozen_by     text,
    ADD COLUMN frozen_at     timestamptz,
    ADD COLUMN frozen_reason text NOT NULL DEFAULT '';
