-- The link group an account's link element was computed in (see
-- crypto/psi): the elements stored before this version are ristretto255
-- ones, which a link run over X25519 cannot use. A link run refuses to
-- start while any are left; the next import of the directory replaces
-- them. The partial index finds them without reading the table: it is
-- empty once the directory has been imported again.
ALTER TABLE accounts ADD COLUMN link_group text NOT NULL DEFAULT 'ristretto255';
ALTER TABLE accounts ALTER COLUMN link_group DROP DEFAULT;
CREATE INDEX accounts_older_link_group ON accounts (link_group) WHERE link_group <> 'x25519-ell2';
