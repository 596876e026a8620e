DROP INDEX link_own_value;
CREATE INDEX link_own_value ON link_own USING hash (value);
