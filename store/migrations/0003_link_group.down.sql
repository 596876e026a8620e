-- The link elements stay X25519 ones: a linkd of before 0003 (which
-- links over ristretto255) needs the directory imported again.
DROP INDEX accounts_older_link_group;
ALTER TABLE accounts DROP COLUMN link_group;
