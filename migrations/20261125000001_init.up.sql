-- Regent's schema. Postgres is the source of truth: personas, immutable revisions, signing keys,
-- channels, OCI publications, agents and their status, decision logs, rollout events, tokens.
-- Constraint names are stable: the store maps them to 404/409/422.

CREATE TABLE personas (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personas_name_key UNIQUE (name),
    CONSTRAINT personas_name_check CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$')
);

-- Public halves of the signing keys; private keys never enter the database.
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    algorithm      text NOT NULL,
    public_key_pem text NOT NULL,
    fingerprint    text NOT NULL,
    state          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    retired_at     timestamptz,
    CONSTRAINT signing_keys_algorithm_check CHECK (algorithm IN ('ES256', 'RS256')),
    CONSTRAINT signing_keys_state_check CHECK (state IN ('active', 'verify_only', 'retired'))
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((true)) WHERE state = 'active';

-- Immutable revisions. `sequence` strictly increases per persona and is stamped into the signed
-- manifest; a rollback re-issues old content under a new, higher sequence (`reissue_of`).
CREATE TABLE revisions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    persona_id     bigint NOT NULL REFERENCES personas (id),
    sequence       bigint NOT NULL,
    revision       text NOT NULL,
    content_digest text NOT NULL,
    bundle_digest  text NOT NULL,
    bundle         bytea NOT NULL,
    size_bytes     bigint NOT NULL,
    manifest       jsonb NOT NULL,
    signature_kid  text REFERENCES signing_keys (kid),
    test_report    jsonb NOT NULL,
    source         jsonb NOT NULL DEFAULT '{}',
    reissue_of     bigint REFERENCES revisions (id),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT revisions_sequence_check CHECK (sequence > 0),
    CONSTRAINT revisions_persona_sequence_key UNIQUE (persona_id, sequence),
    CONSTRAINT revisions_revision_key UNIQUE (revision)
);
-- Pushing identical content is a no-op: at most one original revision per content digest.
CREATE UNIQUE INDEX revisions_persona_content_key
    ON revisions (persona_id, content_digest) WHERE reissue_of IS NULL;

-- Revisions are immutable once stored.
CREATE FUNCTION regent_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER revisions_immutable BEFORE UPDATE OR DELETE ON revisions
    FOR EACH ROW EXECUTE FUNCTION regent_refuse_change();

CREATE TABLE channels (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    persona_id  bigint NOT NULL REFERENCES personas (id),
    name        text NOT NULL,
    revision_id bigint REFERENCES revisions (id),
    frozen      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channels_persona_name_key UNIQUE (persona_id, name),
    CONSTRAINT channels_name_check CHECK (name ~ '^[a-z][a-z0-9-]{0,30}$')
);

-- OCI publication jobs. A row is `published` only after the registry accepted the manifest and
-- its cosign signature; workers lease rows (`locked_until`) so a killed worker's job is retried.
CREATE TABLE publications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    revision_id     bigint NOT NULL REFERENCES revisions (id),
    registry        text NOT NULL,
    repository      text NOT NULL,
    tag             text NOT NULL,
    kind            text NOT NULL,
    state           text NOT NULL DEFAULT 'pending',
    manifest_digest text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT publications_kind_check CHECK (kind IN ('revision', 'channel')),
    CONSTRAINT publications_state_check CHECK (state IN ('pending', 'published', 'failed')),
    CONSTRAINT publications_published_check CHECK (state <> 'published' OR manifest_digest IS NOT NULL),
    CONSTRAINT publications_target_key UNIQUE (revision_id, registry, tag)
);
CREATE INDEX publications_due ON publications (next_attempt_at) WHERE state = 'pending';

CREATE TABLE agents (
    id              text PRIMARY KEY,
    persona_id      bigint REFERENCES personas (id),
    channel         text,
    labels          jsonb NOT NULL DEFAULT '{}',
    active_revision text,
    active_sequence bigint,
    last_error      text,
    last_status     jsonb NOT NULL DEFAULT '{}',
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_persona ON agents (persona_id, last_seen_at DESC);

CREATE TABLE agent_status_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (id),
    received_at timestamptz NOT NULL DEFAULT now(),
    status      jsonb NOT NULL
);
CREATE INDEX agent_status_history_agent ON agent_status_history (agent_id, received_at DESC);

-- Decision logs, range-partitioned by the event's own timestamp (monthly partitions are created
-- on demand; the default partition catches the rest). A retried event carries the same
-- decision_id and timestamp, so the primary key deduplicates resends.
CREATE TABLE decision_logs (
    decision_id uuid NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    persona     text,
    agent_id    text,
    user_id     text,
    tool        text,
    allow       boolean,
    revision    text,
    sequence    bigint,
    path        text,
    reasons     text NOT NULL DEFAULT '',
    event       jsonb NOT NULL,
    CONSTRAINT decision_logs_pkey PRIMARY KEY (decision_id, ts)
) PARTITION BY RANGE (ts);
CREATE TABLE decision_logs_default PARTITION OF decision_logs DEFAULT;
CREATE INDEX decision_logs_ts ON decision_logs (ts DESC, decision_id DESC);
CREATE INDEX decision_logs_persona_ts ON decision_logs (persona, ts DESC, decision_id DESC);
CREATE INDEX decision_logs_agent_ts ON decision_logs (agent_id, ts DESC, decision_id DESC);

-- Append-only record of every change to what runs where.
CREATE TABLE rollout_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    persona_id    bigint NOT NULL REFERENCES personas (id),
    channel       text,
    kind          text NOT NULL,
    actor         text NOT NULL,
    from_revision text,
    to_revision   text,
    percentage    integer,
    reason        text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollout_events_persona ON rollout_events (persona_id, created_at DESC);
CREATE TRIGGER rollout_events_append_only BEFORE UPDATE OR DELETE ON rollout_events
    FOR EACH ROW EXECUTE FUNCTION regent_refuse_change();

-- Bearer tokens, stored as SHA-256 of the secret; `prefix` identifies a token in lists and logs.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL,
    role         text NOT NULL,
    persona_id   bigint REFERENCES personas (id),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash),
    CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'publisher', 'auditor', 'agent')),
    CONSTRAINT api_tokens_agent_persona_check CHECK ((role = 'agent') = (persona_id IS NOT NULL))
);
