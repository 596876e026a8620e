ALTER TABLE audiences DROP COLUMN description, DROP COLUMN file_source;
