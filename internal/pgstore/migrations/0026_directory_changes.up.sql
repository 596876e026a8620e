-- How many times a stored account changed its link element or was erased
-- (linkjob.Staging.Changes). A full link run that finds it as it was when
-- the run started keeps its staged rows without checking each one
-- against the accounts: none can have lost its element meanwhile.
CREATE TABLE directory_changes (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    changes  bigint NOT NULL
);
INSERT INTO directory_changes (changes) VALUES (1);
