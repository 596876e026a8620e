DROP TRIGGER links_truncated ON links;
DROP TRIGGER links_deleted ON links;
DROP TRIGGER links_inserted ON links;
DROP FUNCTION links_counted();
DROP TABLE links_count;
