-- The other party's values are kept as they come, one row for each of its
-- accounts, not counted: a value that two of its accounts hold joins this
-- party's row twice, which is how a run sees that it links nobody.
-- (Counting them cost every full run an aggregate of the other's values.)
ALTER TABLE link_theirs DROP CONSTRAINT link_theirs_pkey;
INSERT INTO link_theirs (value, n) SELECT t.value, 1 FROM link_theirs t, generate_series(2, t.n);
ALTER TABLE link_theirs DROP COLUMN n;
CREATE INDEX link_theirs_value ON link_theirs (value);
