-- linkd's schema. No column holds a phone number, a normalized number or a
-- hash of one: only pseudonyms under keys kept outside the database.
-- River's tables (the job queue of the signal relay) are River's own,
-- installed by its migrator after this file (see migrate.go).

-- The directory -----------------------------------------------------------

-- One row per account, with the pseudonyms of its number under one key
-- epoch (see linking/pseudonym).
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
-- and cheaper to maintain on bulk import than B-trees of random keys. Link
-- runs page through the accounts in id order, which the primary key serves.
CREATE INDEX accounts_index_digits ON accounts USING hash (index_digits);
CREATE INDEX accounts_index_e164 ON accounts USING hash (index_e164);
CREATE INDEX accounts_oprf ON accounts USING hash (oprf);

-- The consent ledger: per account and purpose, each consent granted or
-- withdrawn, with the version of the notice the person saw and when. The
-- entry with the latest time (then the latest seq) is the consent. An
-- import adds an entry when the directory's consent of an account changed
-- since its last one; an objection adds a withdrawal (request_id).
CREATE TABLE consents (
    seq         bigserial PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     text NOT NULL,
    granted     boolean NOT NULL,
    notice      text NOT NULL DEFAULT '',
    given_at    timestamptz NOT NULL,
    source      text NOT NULL CHECK (source IN ('directory', 'objection')),
    request_id  text
);
CREATE INDEX consents_latest ON consents (account_id, purpose, given_at DESC, seq DESC);

-- How many accounts the directory holds, kept by the statements that add
-- and delete them, so that a link run reads its set size from one row.
CREATE TABLE directory_size (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    accounts  bigint NOT NULL CHECK (accounts >= 0)
);
INSERT INTO directory_size (accounts) VALUES (0);

-- How many times a stored account changed its link element or was erased
-- (the link staging's Changes). A full link run that finds it as it was
-- when the run started keeps its staged rows without checking each one
-- against the accounts: none can have lost its element meanwhile.
CREATE TABLE directory_changes (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    changes  bigint NOT NULL
);
INSERT INTO directory_changes (changes) VALUES (1);

-- The account ids each directory import has read, so that an id that
-- appears twice in one import is a bad row. Unlogged: an import that a
-- crash interrupts is run again from the start.
CREATE UNLOGGED TABLE import_ids (
    run         text NOT NULL,
    account_id  text NOT NULL,
    line        bigint NOT NULL,
    PRIMARY KEY (run, account_id)
);

-- Links -------------------------------------------------------------------

-- Links found by PSI with the other party. A link's account is checked by
-- the store, not by a foreign key: PutLinks looks the batch's accounts up
-- under the lock that erasures take, and an erasure deletes the account's
-- link itself (a key's check would lock each referenced account row, a
-- write to accounts for every link written). Nothing reads links by their
-- creation time through an index: the retention purge scans, hourly.
CREATE TABLE links (
    account_id  text PRIMARY KEY,
    link_id     bytea NOT NULL UNIQUE,
    epoch       integer NOT NULL,
    created_at  timestamptz NOT NULL
);

-- How many links the party holds, kept by statement triggers on links
-- (every insert, copy, delete and truncation, whichever statement makes
-- it), so that a link run reads its matched count from one row. An
-- upsert's updated rows are not in its insert trigger's transition table:
-- they change no count.
CREATE TABLE links_count (
    one    boolean PRIMARY KEY DEFAULT true CHECK (one),
    links  bigint NOT NULL CHECK (links >= 0)
);
INSERT INTO links_count (links) VALUES (0);
CREATE FUNCTION links_counted() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE links_count SET links = links + (SELECT count(*) FROM new_links);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE links_count SET links = links - (SELECT count(*) FROM old_links);
    ELSE
        UPDATE links_count SET links = 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER links_inserted AFTER INSERT ON links
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION links_counted();
CREATE TRIGGER links_deleted AFTER DELETE ON links
    REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT EXECUTE FUNCTION links_counted();
CREATE TRIGGER links_truncated AFTER TRUNCATE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION links_counted();

-- When the last full run confirmed the links held when it started: their
-- retention counts from it (runs leave a link unchanged rather than
-- rewrite it). Logged, unlike the kept sets below.
CREATE TABLE link_confirmed (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    confirmed_at  timestamptz NOT NULL
);

-- What a party keeps between link runs, so that the next run exchanges
-- only what changed (linking/linkjob, "Incremental runs"). It is a cache
-- of the last run: with none of it, the next run is full and rebuilds all
-- of it. So these tables are unlogged: PostgreSQL writes none of their
-- rows to the write-ahead log, and after a crash, or on a standby
-- promoted, it empties them, link_kept included: no run is kept then.
--
-- link_kept: the run the kept sets are of; one row once a run was kept.
CREATE UNLOGGED TABLE link_kept (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    job_id      text NOT NULL,
    link_epoch  integer NOT NULL
);
-- link_own: each of this party's accounts that took part, with the link
-- element it sent and the doubly blinded value that came back, kept only
-- while the account holds that element: an import that changes the
-- number, and an erasure, move the value to link_retired (no foreign key:
-- erasure deletes the row itself, and a run's bulk insert checks the
-- accounts in its own join). A B-tree, which PostgreSQL builds by one
-- sort, where a hash index would take an insert per row.
CREATE UNLOGGED TABLE link_own (
    account_id  text PRIMARY KEY,
    element     bytea NOT NULL,
    value       bytea NOT NULL
);
CREATE INDEX link_own_value ON link_own (value);
-- link_theirs: the other party's doubly blinded values, one row for each
-- of its accounts, as they come: a value that two of its accounts hold
-- joins this party's row twice, which is how a run sees that it links
-- nobody ("Numbers held twice"). Only ever joined whole or scanned, so
-- not indexed.
CREATE UNLOGGED TABLE link_theirs (
    value  bytea NOT NULL
);
-- link_retired: values this party held and the other still has (numbers
-- changed or erased since the last run, no account with them), with how
-- many retired rows held each. The next run hands them to the other
-- party, which drops the links they made, and deletes them here.
CREATE UNLOGGED TABLE link_retired (
    value  bytea PRIMARY KEY,
    n      integer NOT NULL DEFAULT 1 CHECK (n > 0)
);
-- link_held: accounts of this party whose link the other party erased
-- (its account's erasure), since held_at. A link run that began before
-- then may still find them matched, in sets exchanged before the erasure:
-- it does not link them again. The first run that began after forgets
-- them.
CREATE TABLE link_held (
    account_id  text PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    held_at     timestamptz NOT NULL
);
-- link_unkept: the accounts whose link element has no kept row (new
-- accounts, changed numbers, a new key epoch). An incremental run reads
-- its new elements from here, in proportion to what changed. It may hold
-- an account that is kept (a run checks), never lack one that is not:
-- imports add to it, a run's Keep takes out what it kept.
CREATE UNLOGGED TABLE link_unkept (
    account_id  text PRIMARY KEY
);

-- A link job's elements and doubly blinded values while it runs: this
-- party's rows (with the account, the element and, once known, the doubly
-- blinded value) and the other party's values, read only by job. A cache
-- of the run under way, unlogged like the kept sets: a crash empties the
-- staging, and link_staging_jobs with it, where each job notes that its
-- staging started; a job resumed after a crash finds it not started and
-- fails on either party rather than finish without the batches its
-- checkpoints say were staged. reblinded counts what the job had this
-- party re-blind for the other (linkjob.Staging.StageReblinded).
CREATE UNLOGGED TABLE link_staging_jobs (
    job_id     text PRIMARY KEY,
    reblinded  bigint NOT NULL DEFAULT 0 CHECK (reblinded >= 0)
);
CREATE UNLOGGED TABLE link_staging_own (
    job_id      text NOT NULL,
    seq         bigint NOT NULL,
    pos         integer NOT NULL,
    account_id  text NOT NULL,
    element     bytea NOT NULL,
    value       bytea,
    PRIMARY KEY (job_id, seq, pos)
) WITH (fillfactor = 50); -- room on each page to set the values in place
CREATE UNLOGGED TABLE link_staging_theirs (
    job_id  text NOT NULL,
    seq     bigint NOT NULL,
    pos     integer NOT NULL,
    value   bytea NOT NULL,
    PRIMARY KEY (job_id, seq, pos)
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

-- Audiences ---------------------------------------------------------------

CREATE TABLE audiences (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    name        text NOT NULL,
    purpose     text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX audiences_tenant ON audiences (tenant, id);

-- Memberships are written many thousands at a time by every upload batch,
-- without foreign keys (a locking lookup per row in accounts and in
-- audiences): the store keeps the same guarantees with set-based
-- statements and table locks instead (see ApplyBatch, DeleteAudience and
-- EraseAccount). added_at is when an upload last added the membership,
-- which retention counts from; the purge scans, hourly.
CREATE TABLE audience_members (
    audience_id  text NOT NULL,
    account_id   text NOT NULL,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (audience_id, account_id)
);
CREATE INDEX audience_members_account ON audience_members (account_id);

-- Upload sessions and their applied batches. A replace session's last
-- batch removes the members not added or re-added since started_at. Every
-- applied batch takes the next number of upload_batch_order, and an
-- audience's content version is the sum of its batches' numbers.
CREATE TABLE upload_sessions (
    audience_id  text NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
    session_id   text NOT NULL,
    batches      bigint NOT NULL,
    complete     boolean NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (audience_id, session_id)
);
CREATE INDEX upload_sessions_updated ON upload_sessions (updated_at);
CREATE SEQUENCE upload_batch_order;
CREATE TABLE upload_batches (
    audience_id  text NOT NULL,
    session_id   text NOT NULL,
    seq          bigint NOT NULL,
    received     integer NOT NULL,
    invalid      integer NOT NULL,
    applied      bigint NOT NULL DEFAULT nextval('upload_batch_order'),
    PRIMARY KEY (audience_id, session_id, seq),
    FOREIGN KEY (audience_id, session_id) REFERENCES upload_sessions ON DELETE CASCADE
);
CREATE INDEX upload_batches_applied ON upload_batches (audience_id, applied);

-- Audience sizes released under differential privacy (audience,
-- release.go), answered again until the audience's content changes.
CREATE TABLE audience_releases (
    audience_id  text PRIMARY KEY REFERENCES audiences (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('ready', 'too_small')),
    lower_bound  bigint NOT NULL,
    upper_bound  bigint NOT NULL,
    epsilon      bigint NOT NULL CHECK (epsilon > 0),  -- thousandths
    released_at  timestamptz NOT NULL
);

-- Signals -----------------------------------------------------------------

-- Abuse signals, raised here (outbound) or received (inbound), with a
-- reviewer's decision on an inbound one: who, why and when.
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
    expires_at    timestamptz NOT NULL,
    decision      text NOT NULL DEFAULT '',
    reviewer      text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    decided_at    timestamptz,
    -- An outbound signal: whether it crosses to the other party, and if
    -- not why (below_confidence, not_linked_yet, policy_denied with the
    -- deciding rule, expired).
    crosses       boolean NOT NULL DEFAULT false,
    cross_reason  text NOT NULL DEFAULT '',
    cross_rule    text NOT NULL DEFAULT '',
    -- An outbound signal: the other party's latest decision on it.
    peer_outcome     text NOT NULL DEFAULT '',
    peer_decided_at  timestamptz,
    -- An inbound signal: when it arrived, and whether it went to
    -- quarantine rather than the open queue (its type's daily cap).
    received_at      timestamptz,
    quarantined      boolean NOT NULL DEFAULT false
);
CREATE INDEX signals_arrivals ON signals (type, received_at) WHERE direction = 'inbound' AND NOT quarantined;
-- Every decision on an inbound signal, in order: the signal's own
-- decision columns are the latest.
CREATE TABLE signal_decisions (
    seq         bigserial PRIMARY KEY,
    signal_id   text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    decision    text NOT NULL,
    reviewer    text NOT NULL,
    reason      text NOT NULL,
    decided_at  timestamptz NOT NULL
);
CREATE INDEX signal_decisions_signal ON signal_decisions (signal_id, seq);
CREATE INDEX signals_direction ON signals (direction, id);
CREATE INDEX signals_account ON signals (account_id);
CREATE INDEX signals_created ON signals (created_at);

-- The outbox of the relay to the other party.
CREATE TABLE signal_outbox (
    id          bigserial PRIMARY KEY,
    signal_id   text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    queued_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signal_outbox_signal ON signal_outbox (signal_id);

-- Flags raised here follow the links, in the transaction that changes
-- them: a flag in the outbox whose account no longer has the link it
-- names is taken out to wait for a link again, and an open flag waiting
-- for its account's link (one the policies let cross) goes into the
-- outbox with the link once the account has one, unless it has expired.
CREATE INDEX signals_waiting ON signals (account_id) WHERE cross_reason = 'not_linked_yet';
CREATE FUNCTION signals_follow_links() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    -- (its revocation, if queued too, goes with it: nothing of it crossed)
    WITH gone AS (
        DELETE FROM signal_outbox o USING signals s
        WHERE o.signal_id = s.id AND o.kind IN ('signal', 'revoke')
          AND EXISTS (SELECT 1 FROM signal_outbox q WHERE q.signal_id = s.id AND q.kind = 'signal')
          AND NOT EXISTS (SELECT 1 FROM links l WHERE l.account_id = s.account_id AND l.link_id = s.link_id)
        RETURNING s.id)
    UPDATE signals SET crosses = false, cross_reason = 'not_linked_yet', link_id = NULL
    WHERE id IN (SELECT id FROM gone);
    WITH released AS (
        UPDATE signals s SET crosses = true, cross_reason = '', link_id = l.link_id
        FROM links l
        WHERE s.cross_reason = 'not_linked_yet' AND l.account_id = s.account_id
          AND s.direction = 'outbound' AND s.status = 'open' AND s.expires_at > now()
        RETURNING s.id)
    INSERT INTO signal_outbox (signal_id, kind) SELECT id, 'signal' FROM released;
    RETURN NULL;
END $$;
CREATE TRIGGER links_signals AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON links
    FOR EACH STATEMENT EXECUTE FUNCTION signals_follow_links();

-- News of received and revoked signals for the party's own account system
-- (the webhook), written with them and removed once sent.
CREATE TABLE signal_events (
    seq         bigserial PRIMARY KEY,
    signal_id   text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    name        text NOT NULL
);
CREATE INDEX signal_events_signal ON signal_events (signal_id);

-- Access, usage, policies and audit ---------------------------------------

-- API keys: only a hash of each key.
CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    tenant      text NOT NULL,
    role        text NOT NULL,
    hash        bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- Data-subject requests, each kept as its receipt: what was asked for
-- which purpose, when, and when the other party acknowledged it. origin
-- says whether the person asked here or the other party relayed it (its
-- id is then the other party's). An objection names its account, and
-- stays in force: an import does not undo it, and a relayed objection
-- keeps the account out of mirrors of the other party's audiences of its
-- purpose. An erasure names no account: the account system that asked
-- keeps its id with the receipt's, and an erasure takes the account out
-- of the receipts of its earlier requests too. relayed says the request
-- went to the other party (the account had a link).
CREATE TABLE subject_requests (
    id               text PRIMARY KEY,
    account_id       text,
    kind             text NOT NULL CHECK (kind IN ('objection', 'erasure')),
    origin           text NOT NULL DEFAULT 'here' CHECK (origin IN ('here', 'peer')),
    purpose          text NOT NULL DEFAULT '',
    requested_at     timestamptz NOT NULL,
    relayed          boolean NOT NULL DEFAULT false,
    acknowledged_at  timestamptz,
    -- What the other party did with a request relayed from here: applied,
    -- duplicate, unlinked or refused.
    peer_outcome     text NOT NULL DEFAULT ''
);
CREATE INDEX subject_requests_account ON subject_requests (account_id, requested_at);

-- The outbox of the data-subject relay: requests made here for a linked
-- account, with the link they name, until the other party acknowledges
-- them. The link id is kept here alone, and only until then.
CREATE TABLE subject_outbox (
    seq         bigserial PRIMARY KEY,
    request_id  text NOT NULL REFERENCES subject_requests (id) ON DELETE CASCADE,
    link_id     bytea NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    queued_at   timestamptz NOT NULL DEFAULT now()
);

-- Console sessions: a person signed in with an API key. Only a hash of
-- the session's secret (the cookie) is kept; a session is over after its
-- idle limit, at the latest its maximum age, or with its key's revocation.
CREATE TABLE console_sessions (
    hash        bytea PRIMARY KEY,
    key_id      text NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (seen_at);

-- Usage counters for rate limits and budgets, per subject (an API key or a
-- tenant), counter and fixed window, shared by every replica.
CREATE TABLE usage_counters (
    subject       text NOT NULL,
    counter       text NOT NULL,
    window_start  timestamptz NOT NULL,
    used          bigint NOT NULL CHECK (used >= 0),
    PRIMARY KEY (subject, counter, window_start)
);

-- Every policy bundle a server has run under, by its hash, so a decision
-- in the audit log is explained under the rules it was taken under.
CREATE TABLE policy_bundles (
    hash        text PRIMARY KEY,
    files       jsonb NOT NULL,
    first_used  timestamptz NOT NULL
);

-- The audit log: append-only and hash-chained under a keyed chain (package
-- audit); each entry names the key epoch whose HMAC key hashed it, and
-- keeps the authorization request it decided, so it can be explained
-- later. UPDATE, DELETE and TRUNCATE are refused; the role linkd serves as
-- owns no table once `linkd migrate --app-role` ran and cannot disable the
-- triggers.
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
    request      text NOT NULL DEFAULT '',
    key_epoch    integer NOT NULL DEFAULT 0,
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
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
