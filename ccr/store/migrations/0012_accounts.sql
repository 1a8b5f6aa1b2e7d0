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

-- Self-service accounts (point 12).
-- Deleting an account erases the person (name, address, phone, password) but keeps the row,
-- so their tickets stay readable for the team; the row shows as "Deleted customer".
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
-- TOTP (RFC 6238): a secret being set up, the enabled one, and the last time step accepted,
-- so one code is never accepted twice.
ALTER TABLE users ADD COLUMN totp_pending_secret text;
ALTER TABLE users ADD COLUMN totp_secret text;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

CREATE TABLE recovery_codes (
    code_hash  bytea PRIMARY KEY,          -- HMAC of the code with SECRET_KEY
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);

-- A change of address waits for a link mailed to the new one (48 h).
CREATE TABLE email_changes (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    new_email  text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_changes_user_idx ON email_changes (user_id);

-- Every successful login, for the user's own export and for "a login from a new browser".
-- device_hash is the HMAC of a long-lived random cookie the browser keeps.
CREATE TABLE logins (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    device_hash bytea NOT NULL,
    ip          text NOT NULL,
    user_agent  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX logins_user_device_idx ON logins (user_id, device_hash);
