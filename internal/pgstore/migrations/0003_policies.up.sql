-- Each audit entry keeps the authorization request it decided (role,
-- tenant, action, resource, flow context) so it can be explained later.
ALTER TABLE audit_log ADD COLUMN request text NOT NULL DEFAULT '';

-- Every policy bundle a server has run under, by its hash, so a decision
-- in the audit log is explained under the rules it was taken under.
CREATE TABLE policy_bundles (
    hash       text PRIMARY KEY,
    files      jsonb NOT NULL,
    first_used timestamptz NOT NULL
);
