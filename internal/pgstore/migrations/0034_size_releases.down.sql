DROP TABLE audience_releases;
DROP INDEX upload_batches_applied;
ALTER TABLE upload_batches DROP COLUMN applied;
DROP SEQUENCE upload_batch_order;
