-- When an upload session's first batch was applied: a replace session's
-- last batch removes the members not added or re-added since.
ALTER TABLE upload_sessions ADD COLUMN started_at timestamptz NOT NULL DEFAULT now();
