-- A reviewer's decision on an inbound signal: who, why and when.
ALTER TABLE signals
    ADD COLUMN decision text NOT NULL DEFAULT '',
    ADD COLUMN reviewer text NOT NULL DEFAULT '',
    ADD COLUMN reason text NOT NULL DEFAULT '',
    ADD COLUMN decided_at timestamptz;
