DROP TABLE import_ids;
