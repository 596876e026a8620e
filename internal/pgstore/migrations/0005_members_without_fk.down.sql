DELETE FROM audience_members m WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = m.account_id)
    OR NOT EXISTS (SELECT 1 FROM audiences d WHERE d.id = m.audience_id);
ALTER TABLE audience_members ADD FOREIGN KEY (audience_id) REFERENCES audiences (id) ON DELETE CASCADE;
ALTER TABLE audience_members ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
