-- What a party keeps between link runs, so that the next run exchanges
-- only what changed (linking/linkjob, "Incremental runs"):
--
-- link_own: each of this party's accounts that took part, with the link
-- element it sent and the doubly blinded value that came back. A row is
-- kept only while the account holds that element: an import that changes
-- the number, and an erasure, move the value to link_retired (no foreign
-- key: erasure deletes the row itself, and a run's bulk insert checks the
-- accounts in its own join).
CREATE TABLE link_own (
    account_id  text PRIMARY KEY,
    element     bytea NOT NULL,
    value       bytea NOT NULL
);
CREATE INDEX link_own_value ON link_own USING hash (value);

-- The other party's doubly blinded values: no account, nothing to look up
-- but equality.
CREATE TABLE link_theirs (
    value  bytea PRIMARY KEY
);

-- Values this party held and the other still has: numbers changed or
-- erased since the last run, no account with them. The next run hands
-- them to the other party, which drops the links they made, and deletes
-- them here.
CREATE TABLE link_retired (
    value  bytea PRIMARY KEY
);

-- The run the kept sets are of; one row once a run has been kept. The
-- links held when the last full run started and confirmed by it count
-- their retention from confirmed_at (runs leave a link unchanged rather
-- than rewrite it).
CREATE TABLE link_kept (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    job_id        text NOT NULL,
    link_epoch    integer NOT NULL,
    confirmed_at  timestamptz NOT NULL
);
