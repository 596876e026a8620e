-- The audit chain is keyed (audit.Chain): each entry names the key epoch
-- whose HMAC key hashed it. Entries written before this migration were
-- hashed without a key (key_epoch 0), and linkd audit verify reports them
-- as not keyed. TRUNCATE is refused like UPDATE and DELETE; the role linkd
-- serves as owns no table and cannot disable the triggers (linkd migrate
-- --app-role).
ALTER TABLE audit_log ADD COLUMN key_epoch integer NOT NULL DEFAULT 0;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
