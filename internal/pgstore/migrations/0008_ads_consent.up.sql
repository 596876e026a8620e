-- Whether the person consented to their ads data reaching the other
-- service: the policies ask it before an audience is extended there.
ALTER TABLE accounts ADD COLUMN ads_consent boolean NOT NULL DEFAULT false;
