CREATE INDEX links_created ON links (created_at);
