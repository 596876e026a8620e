DROP TABLE policy_bundles;
ALTER TABLE audit_log DROP COLUMN request;
