DROP TABLE link_unkept;
