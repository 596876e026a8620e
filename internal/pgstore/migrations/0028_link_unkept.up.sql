-- The accounts whose link element has no kept row (link_own): new
-- accounts, changed numbers, a new key epoch. An incremental link run
-- reads its new elements from here, in proportion to what changed,
-- instead of comparing every account with the kept rows. It may hold an
-- account that is kept (a run checks), never lack one that is not:
-- imports add to it, a run's Keep takes out what it kept.
CREATE TABLE link_unkept (
    account_id  text PRIMARY KEY
);
INSERT INTO link_unkept (account_id)
    SELECT a.id FROM accounts a
    WHERE NOT EXISTS (SELECT 1 FROM link_own o WHERE o.account_id = a.id AND o.element = a.link_element);
