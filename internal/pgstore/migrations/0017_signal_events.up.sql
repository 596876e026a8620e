-- News of received and revoked signals for the party's own account
-- system (the webhook), written with them and removed once sent.
-- (Migrations 9 to 16 are the job queue's, River's own.)
CREATE TABLE signal_events (
    seq         bigserial PRIMARY KEY,
    signal_id   text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,
    name        text NOT NULL
);
CREATE INDEX signal_events_signal ON signal_events (signal_id);
