-- What an advertiser says of an audience: a description, and (for
-- audiences created through the Graph-style routes) where the customer
-- list came from, as the Marketing API's customer_file_source names it.
ALTER TABLE audiences
    ADD COLUMN description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    ADD COLUMN file_source text NOT NULL DEFAULT '';
