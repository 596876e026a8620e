-- The doubly blinded values of the rows a party served the other to
-- re-blind come back after the rows were staged: they are copied into a
-- table of their own, by position, instead of updating each staged row in
-- place (a million updates cost a full run more of the two cores than the
-- copy and the join that reads them back). link_staged_own is the staging
-- as it is read: each row with its value, wherever it was written.
CREATE TABLE link_staging_values (
    job_id  text NOT NULL,
    seq     bigint NOT NULL,
    pos     integer NOT NULL,
    value   bytea NOT NULL,
    PRIMARY KEY (job_id, seq, pos)
);
ALTER TABLE link_staging_own SET (fillfactor = 100);
CREATE VIEW link_staged_own AS
    SELECT o.job_id, o.seq, o.pos, o.account_id, o.element, coalesce(o.value, v.value) AS value
    FROM link_staging_own o
    LEFT JOIN link_staging_values v ON v.job_id = o.job_id AND v.seq = o.seq AND v.pos = o.pos;
