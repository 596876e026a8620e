-- A link job's staging is a cache of the run under way, as the kept sets
-- (0032) are of the last one: unlogged, PostgreSQL writes none of the two
-- million rows a party stages in a run of a million a side to the
-- write-ahead log (the run's CPU 6 core-seconds less, its wall time 3 s).
-- A crash empties the staging, and link_staging_jobs with it, where each
-- job notes that its staging started (linkjob.Staging.StartStaging): a
-- job resumed after a crash finds its staging not started and fails
-- (linkjob.ErrLost), on either party, rather than finish without the
-- batches its checkpoints say were staged; the next run starts afresh.
CREATE UNLOGGED TABLE link_staging_jobs (
    job_id  text PRIMARY KEY
);
-- The jobs under way have their staging whole (it was logged until now).
INSERT INTO link_staging_jobs (job_id)
    SELECT id FROM jobs WHERE kind = 'link' AND state IN ('running', 'failed');
ALTER TABLE link_staging_own SET UNLOGGED;
ALTER TABLE link_staging_theirs SET UNLOGGED;
