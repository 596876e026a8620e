CREATE INDEX link_theirs_value ON link_theirs (value);
