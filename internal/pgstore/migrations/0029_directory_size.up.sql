-- How many accounts the directory holds, kept by the statements that add
-- and delete them, so that a link run reads its set size from one row
-- instead of counting every account (a scan of the whole table, which an
-- incremental run at a million accounts waited 0.6 s for).
CREATE TABLE directory_size (
    one       boolean PRIMARY KEY DEFAULT true CHECK (one),
    accounts  bigint NOT NULL CHECK (accounts >= 0)
);
INSERT INTO directory_size (accounts) SELECT count(*) FROM accounts;
