-- Each value is kept once again, whatever the number of its holders.
ALTER TABLE link_theirs DROP COLUMN n;
ALTER TABLE link_retired DROP COLUMN n;
