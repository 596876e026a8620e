DROP TABLE directory_size;
