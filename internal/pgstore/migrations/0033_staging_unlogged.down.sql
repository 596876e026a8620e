ALTER TABLE link_staging_theirs SET LOGGED;
ALTER TABLE link_staging_own SET LOGGED;
DROP TABLE link_staging_jobs;
