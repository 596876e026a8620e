DROP TABLE link_kept;
DROP TABLE link_retired;
DROP TABLE link_theirs;
DROP TABLE link_own;
