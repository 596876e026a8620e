ALTER TABLE link_unkept SET LOGGED;
ALTER TABLE link_retired SET LOGGED;
ALTER TABLE link_theirs SET LOGGED;
ALTER TABLE link_own SET LOGGED;
ALTER TABLE link_kept SET LOGGED;
ALTER TABLE link_kept ADD COLUMN confirmed_at timestamptz;
UPDATE link_kept SET confirmed_at = (SELECT confirmed_at FROM link_confirmed);
-- A run kept without a confirmation cannot be: it is dropped, and the
-- next run is full.
DELETE FROM link_kept WHERE confirmed_at IS NULL;
ALTER TABLE link_kept ALTER COLUMN confirmed_at SET NOT NULL;
DROP TABLE link_confirmed;
