DROP INDEX links_created;
DROP INDEX signals_created;
DROP INDEX upload_sessions_updated;
DROP INDEX audience_members_added;
ALTER TABLE audience_members DROP COLUMN added_at;
