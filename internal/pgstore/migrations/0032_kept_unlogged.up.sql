-- What a party keeps between link runs is a cache of the last run: with
-- none of it, the next run is full and rebuilds all of it. So the kept
-- sets are unlogged: PostgreSQL writes none of their rows or index pages
-- to the write-ahead log (a full run's end at a million rows: its kept
-- rows in 1.9-2.0 s against 3.2 s, the other's values in 1.0-1.2 s
-- against 2.3 s), and after a crash, or on a standby promoted, it empties
-- them, link_kept included: no run is kept then, and the next one is full.
-- What must outlive a crash stays logged: the links, the staging of a job
-- under way (its checkpoints say what the other party has), and when the
-- last full run confirmed the links, which their retention counts from
-- and which moves to a table of its own.
CREATE TABLE link_confirmed (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    confirmed_at  timestamptz NOT NULL
);
INSERT INTO link_confirmed (confirmed_at) SELECT confirmed_at FROM link_kept;
ALTER TABLE link_kept DROP COLUMN confirmed_at;
ALTER TABLE link_kept SET UNLOGGED;
ALTER TABLE link_own SET UNLOGGED;
ALTER TABLE link_theirs SET UNLOGGED;
ALTER TABLE link_retired SET UNLOGGED;
ALTER TABLE link_unkept SET UNLOGGED;
