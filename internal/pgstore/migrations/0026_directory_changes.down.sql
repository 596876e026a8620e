DROP TABLE directory_changes;
