-- linkd's schema. No column holds a phone number, a normalized number or a
-- hash of one: only pseudonyms under keys kept outside the database.

-- The directory: one row per account, with the pseudonyms of its number
-- under one key epoch (see linking/pseudonym).
CREATE TABLE accounts (
    id                  text PRIMARY KEY,
    country             text NOT NULL,
    ad_opt_out          boolean NOT NULL DEFAULT false,
    blocked_businesses  text[] NOT NULL DEFAULT '{}',
    epoch               integer NOT NULL,
    index_digits        bytea NOT NULL,  -- HMAC(k_idx, SHA-256(digits))
    index_e164          bytea NOT NULL,  -- HMAC(k_idx, SHA-256(e164))
    oprf                bytea NOT NULL,  -- RFC 9497 F(k_oprf, e164)
    link_element        bytea NOT NULL,  -- k_link * H(e164)
    updated_at          timestamptz NOT NULL
);
-- Pseudonyms are only ever looked up by equality: hash indexes are smaller
-- and cheaper to maintain on bulk import than B-trees of random keys.
CREATE INDEX accounts_index_digits ON accounts USING hash (index_digits);
CREATE INDEX accounts_index_e164 ON accounts USING hash (index_e164);
CREATE INDEX accounts_oprf ON accounts USING hash (oprf);
CREATE INDEX accounts_epoch ON accounts (epoch, id);

-- Links found by PSI with the other party.
CREATE TABLE links (
    account_id  text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    link_id     bytea NOT NULL UNIQUE,
    epoch       integer NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Audiences and their matched members; upload sessions and applied batches.
CREATE TABLE audiences (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    name        text NOT NULL,
    purpose     text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX audiences_tenant ON audiences (tenant, id);

CREATE TABLE audience_members (
    audience_id  text NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    account_id   text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (audience_id, account_id)
);
CREATE INDEX audience_members_account ON audience_members (account_id);

CREATE TABLE upload_sessions (
    audience_id  text NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    session_id   text NOT NULL,
    batches      bigint NOT NULL,
    complete     boolean NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (audience_id, session_id)
);

CREATE TABLE upload_batches (
    audience_id  text NOT NULL,
    session_id   text NOT NULL,
    seq          bigint NOT NULL,
    received     integer NOT NULL,
    invalid      integer NOT NULL,
    PRIMARY KEY (audience_id, session_id, seq),
    FOREIGN KEY (audience_id, session_id) REFERENCES upload_sessions ON DELETE CASCADE
);

-- Abuse signals, raised here (outbound) or received (inbound), and the
-- outbox of their relay to the peer.
CREATE TABLE signals (
    id            text PRIMARY KEY,
    direction     text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    account_id    text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    link_id       bytea,
    type          text NOT NULL,
    confidence    double precision NOT NULL,
    evidence_ref  text NOT NULL,
    note          text NOT NULL,
    status        text NOT NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX signals_direction ON signals (direction, id);
CREATE INDEX signals_account ON signals (account_id);

CREATE TABLE signal_outbox (
    id          bigserial PRIMARY KEY,
    signal_id   text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0
);
CREATE INDEX signal_outbox_signal ON signal_outbox (signal_id);

-- The audit log: append-only and hash-chained (see package audit).
CREATE TABLE audit_log (
    seq          bigint PRIMARY KEY,
    time         timestamptz NOT NULL,
    actor        text NOT NULL,
    tenant       text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    resource     text NOT NULL,
    decision     text NOT NULL,
    rule         text NOT NULL,
    bundle_hash  text NOT NULL,
    request_id   text NOT NULL,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- API keys: only a hash of each key.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    role        text NOT NULL,
    hash        bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- Long-running jobs and their checkpoints.
CREATE TABLE jobs (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    state       text NOT NULL,
    params      bytea NOT NULL,
    progress    bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE job_checkpoints (
    job_id  text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step    text NOT NULL,
    seq     bigint NOT NULL,
    data    bytea NOT NULL,
    PRIMARY KEY (job_id, step, seq)
);
