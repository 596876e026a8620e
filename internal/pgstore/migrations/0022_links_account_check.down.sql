DELETE FROM links l WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = l.account_id);
ALTER TABLE links ADD CONSTRAINT links_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
