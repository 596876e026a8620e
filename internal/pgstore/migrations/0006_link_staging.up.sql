-- A link job's elements and doubly blinded values while it runs: this
-- party's rows (with the account, the element and, once known, the doubly
-- blinded value) and the other party's doubly blinded values. Matching is a
-- join on the values; a finished job's staging is deleted.
CREATE TABLE link_staging_own (
    job_id      text NOT NULL,
    seq         bigint NOT NULL,
    pos         integer NOT NULL,
    account_id  text NOT NULL,
    element     bytea NOT NULL,
    value       bytea,
    PRIMARY KEY (job_id, seq, pos)
) WITH (fillfactor = 50); -- room on each page to set the values in place
-- Matches are read in account order, each probing the other side's values;
-- the values of this side are not indexed, so setting them is a HOT update.
CREATE INDEX link_staging_own_account ON link_staging_own (job_id, account_id);

CREATE TABLE link_staging_theirs (
    job_id  text NOT NULL,
    seq     bigint NOT NULL,
    pos     integer NOT NULL,
    value   bytea NOT NULL,
    PRIMARY KEY (job_id, seq, pos)
);
CREATE INDEX link_staging_theirs_value ON link_staging_theirs (job_id, value);
