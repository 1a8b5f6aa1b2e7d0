-- Accounts people control (issue 9, points 4 and 12).

-- A registration for an address that already has an account is remembered for as long as a
-- confirmation link lives (48 h): whoever made it and then logs in with the password they
-- chose gets exactly what a fresh, unconfirmed registration gets (403 email_unverified), so
-- register + login no longer tells a stranger whether the address was taken.
CREATE TABLE register_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_key     text NOT NULL,            -- users.email_key of the taken address
    password_hash text NOT NULL,            -- argon2id of the password the stranger chose
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX register_attempts_key_idx ON register_attempts (email_key, expires_at);
