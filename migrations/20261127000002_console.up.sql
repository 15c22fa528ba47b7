-- The web console: user accounts (besides API tokens) and signed-in sessions.
-- A session is the SHA-256 of a random 32-byte cookie value; the cookie itself is never stored.

CREATE TABLE console_users (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL,
    -- `scrypt$<log_n>$<r>$<p>$<salt b64>$<hash b64>`: parameters travel with the hash so they can
    -- be raised later without invalidating existing accounts.
    password_hash text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    CONSTRAINT console_users_name_key UNIQUE (name),
    CONSTRAINT console_users_name_check CHECK (name ~ '^[a-z][a-z0-9._-]{0,62}$'),
    -- Agent identities never sign in to the console.
    CONSTRAINT console_users_role_check CHECK (role IN ('admin', 'publisher', 'auditor'))
);

-- Exactly one of `user_id` / `token_id`: who signed in. The role is read from the user or token
-- on every request, so disabling a user or revoking a token ends its sessions at once.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      uuid REFERENCES console_users (id) ON DELETE CASCADE,
    token_id     uuid REFERENCES api_tokens (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- Absolute end of the session, whatever the activity.
    expires_at   timestamptz NOT NULL,
    CONSTRAINT console_sessions_one_principal CHECK ((user_id IS NULL) <> (token_id IS NULL))
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_user ON console_sessions (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX console_sessions_token ON console_sessions (token_id) WHERE token_id IS NOT NULL;
