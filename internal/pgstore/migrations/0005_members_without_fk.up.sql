-- Memberships are written 10,000 at a time by every upload batch; a foreign
-- key check per row (a locking lookup in accounts and in audiences) cost
-- more than the rest of the insert. The store keeps the same guarantees
-- with set-based statements and table locks instead (see pgstore's
-- ApplyBatch, DeleteAudience and EraseAccount): a membership is only
-- inserted for accounts and an audience that exist when it commits, and
-- erasing an account or deleting an audience removes its memberships.
ALTER TABLE audience_members DROP CONSTRAINT audience_members_account_id_fkey;
ALTER TABLE audience_members DROP CONSTRAINT audience_members_audience_id_fkey;
