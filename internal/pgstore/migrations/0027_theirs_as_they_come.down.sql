-- One row for each value again, with the number of the other's accounts
-- that hold it.
DROP INDEX link_theirs_value;
CREATE TEMP TABLE theirs_counted ON COMMIT DROP AS
    SELECT value, count(*)::integer AS n FROM link_theirs GROUP BY value;
TRUNCATE link_theirs;
ALTER TABLE link_theirs ADD COLUMN n integer NOT NULL DEFAULT 1 CHECK (n > 0);
INSERT INTO link_theirs (value, n) SELECT value, n FROM theirs_counted;
ALTER TABLE link_theirs ADD CONSTRAINT link_theirs_pkey PRIMARY KEY (value);
