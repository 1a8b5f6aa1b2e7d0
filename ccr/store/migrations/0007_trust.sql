-- Trust (issue 9): emails the outbox gave up on are marked, not retried for ever.

ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
UPDATE outbox SET failed_at = now() WHERE sent_at IS NULL AND next_attempt_at = 'infinity';
CREATE INDEX outbox_failed_idx ON outbox (failed_at DESC) WHERE failed_at IS NOT NULL;
