ALTER TABLE upload_sessions DROP COLUMN started_at;
