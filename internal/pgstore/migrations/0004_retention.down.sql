DROP INDEX links_created;
DROP INDEX signals_created;
DROP INDEX upload_sessions_updated;
ALTER TABLE audience_members DROP COLUMN added_at;
