-- A channel tag (`prod`, `staging`) in one repository of one registry points at exactly one
-- revision: its publication row is retargeted when the channel moves, so a retried job for an
-- older move can never overwrite a newer one.
CREATE UNIQUE INDEX publications_channel_tag_key
    ON publications (registry, repository, tag) WHERE kind = 'channel';
