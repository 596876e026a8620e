-- The kept sets (0020) are what link runs join now: the staging tables are
-- read only by job (their primary keys' prefix), and the secondary indexes
-- cost every staged element one more random index insert.
DROP INDEX link_staging_own_account;
DROP INDEX link_staging_theirs_value;
