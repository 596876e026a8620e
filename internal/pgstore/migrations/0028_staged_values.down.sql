DROP VIEW link_staged_own;
UPDATE link_staging_own o SET value = v.value FROM link_staging_values v
    WHERE v.job_id = o.job_id AND v.seq = o.seq AND v.pos = o.pos;
DROP TABLE link_staging_values;
ALTER TABLE link_staging_own SET (fillfactor = 50);
