ALTER TABLE signals DROP COLUMN decision, DROP COLUMN reviewer, DROP COLUMN reason, DROP COLUMN decided_at;
