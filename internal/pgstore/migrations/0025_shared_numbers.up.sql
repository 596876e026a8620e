-- A number that more than one account holds, on either side, links none
-- of them (linking/linkjob, "Numbers held twice"). The kept sets count the
-- other party's accounts that hold each of its values, and this party's
-- retired rows that held each retired value, so that an incremental run
-- can tell when a value comes to be held once again, or more than once.
ALTER TABLE link_theirs ADD COLUMN n integer NOT NULL DEFAULT 1 CHECK (n > 0);
ALTER TABLE link_retired ADD COLUMN n integer NOT NULL DEFAULT 1 CHECK (n > 0);
