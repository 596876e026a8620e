DROP INDEX accounts_older_link_group;
ALTER TABLE accounts DROP COLUMN link_group;
