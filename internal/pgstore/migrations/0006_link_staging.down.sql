DROP TABLE link_staging_theirs;
DROP TABLE link_staging_own;
