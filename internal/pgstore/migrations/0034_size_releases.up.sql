-- Audience sizes are released under differential privacy (audience,
-- release.go). A release is answered again until the audience's content
-- changes: every applied batch takes the next number of upload_batch_order,
-- and an audience's content version is the sum of its batches' numbers.
CREATE SEQUENCE upload_batch_order;
ALTER TABLE upload_batches ADD COLUMN applied bigint NOT NULL DEFAULT nextval('upload_batch_order');
CREATE INDEX upload_batches_applied ON upload_batches (audience_id, applied);

CREATE TABLE audience_releases (
    audience_id  text PRIMARY KEY REFERENCES audiences (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('ready', 'too_small')),
    lower_bound  bigint NOT NULL,
    upper_bound  bigint NOT NULL,
    epsilon      bigint NOT NULL CHECK (epsilon > 0),  -- thousandths
    released_at  timestamptz NOT NULL
);
