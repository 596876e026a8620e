-- When each membership was added or last re-added by an upload, so the
-- janitor can purge what the catalogue's retention says has expired; and
-- indexes for the janitor's range deletes.
ALTER TABLE audience_members ADD COLUMN added_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX audience_members_added ON audience_members (added_at);
CREATE INDEX upload_sessions_updated ON upload_sessions (updated_at);
CREATE INDEX signals_created ON signals (created_at);
CREATE INDEX links_created ON links (created_at);
