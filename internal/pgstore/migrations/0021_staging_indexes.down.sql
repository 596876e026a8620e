CREATE INDEX link_staging_own_account ON link_staging_own (job_id, account_id);
CREATE INDEX link_staging_theirs_value ON link_staging_theirs (job_id, value);
