-- When each membership was added or last re-added by an upload, so the
-- janitor can purge what the catalogue's retention says has expired; and
-- indexes for the janitor's range deletes. Memberships have none: they are
-- written by every upload batch and purged once an hour, so the purge scans.
ALTER TABLE audience_members ADD COLUMN added_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX upload_sessions_updated ON upload_sessions (updated_at);
CREATE INDEX signals_created ON signals (created_at);
CREATE INDEX links_created ON links (created_at);
