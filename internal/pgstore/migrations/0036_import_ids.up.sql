-- The account ids each directory import has read, so that an id that
-- appears twice in one import is a bad row (directory.Store.ClaimIDs).
-- Unlogged: an import that a crash interrupts is run again from the start.
CREATE UNLOGGED TABLE import_ids (
    run         text NOT NULL,
    account_id  text NOT NULL,
    line        bigint NOT NULL,
    PRIMARY KEY (run, account_id)
);
