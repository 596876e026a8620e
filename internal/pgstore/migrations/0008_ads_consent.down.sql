ALTER TABLE accounts DROP COLUMN ads_consent;
