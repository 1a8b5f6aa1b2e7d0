-- Trust (issue 9): emails the outbox gave up on are marked, not retried for ever.

ALTER TABLE outbox ADD COLUMN failed_at timestamptz;
UPDATE outbox SET failed_at = now() WHERE sent_at IS NULL AND next_attempt_at = 'infinity';
CREATE INDEX outbox_failed_idx ON outbox (failed_at DESC) WHERE failed_at IS NOT NULL;

-- One way to compare addresses, the same in SQL and Python (ccr.store.users.email_key):
-- the address as email-validator normalised it (NFC, domain lower-cased), with ASCII letters
-- lower-cased and nothing else. lower() followed the collation, so 'İvan' matched 'ivan'
-- in SQL while Python's .lower() made it 'i̇van': a fresh set of login guesses per spelling,
-- and a registration that could capture another person's address. Non-ASCII letters are
-- now compared exactly, so two addresses that differ there are two different people.
ALTER TABLE users ADD COLUMN email_key text GENERATED ALWAYS AS (
    translate(email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
) STORED;
-- The old unique index (on lower(email)) was the broader rule, so no two rows can share a
-- key. Should a database have them anyway (restored or edited by hand), the migration stops
-- and names them, rather than guess which account to change: nothing is lost.
DO $$
DECLARE
    dup text;
BEGIN
    SELECT string_agg(DISTINCT email_key, ', ') INTO dup
    FROM (SELECT email_key FROM users GROUP BY email_key HAVING count(*) > 1) d;
    IF dup IS NOT NULL THEN
        RAISE EXCEPTION 'several accounts share the address(es) %: rename or merge them, then run ccr migrate again', dup;
    END IF;
END $$;
CREATE UNIQUE INDEX users_email_key_idx ON users (email_key);
DROP INDEX users_email_key;

-- First run in the browser: `ccr serve` with no admin yet prints a one-time link to /setup.
-- Each serving process may print its own; any one of them creates the first admin, once.
CREATE TABLE setup_tokens (
    token_hash  bytea PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
