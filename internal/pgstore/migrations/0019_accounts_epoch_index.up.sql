-- Link runs page through the accounts of one key epoch in id order: the
-- primary key serves that (the epoch is a filter, nearly always true), so
-- the (epoch, id) index only cost every imported row one more insert.
DROP INDEX accounts_epoch;
