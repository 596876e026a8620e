-- A link's account is checked by the store, not by a foreign key: PutLinks
-- looks the batch's accounts up under the lock that erasures take
-- (lockKept), and EraseAccount deletes the account's link itself. The
-- key's check locked each referenced account row (a write to the accounts
-- table for every link inserted), which at a million a side doubled the
-- cost of writing a full run's links.
ALTER TABLE links DROP CONSTRAINT links_account_id_fkey;
