-- The other party's values are only ever joined whole or scanned: a full
-- run hashes them against this party's kept rows, an incremental run
-- hashes the few values it touched and scans them once (the planner
-- chose that scan over the index already), and the values an incremental
-- run retires from them (at most a batch) are found by one scan. The
-- index cost every full run a build of a million entries at its end
-- (2.0 s a party on two cores shared with the other party), and every
-- incremental run a random insert per value it received, each a page of
-- an index too large to stay cached (0.4-0.5 s for 10,000).
DROP INDEX link_theirs_value;
