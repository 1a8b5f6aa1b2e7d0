-- The agent workspace: internal notes, priority, tags, channel, canned replies.

-- An internal note is a message in the ticket's seq order that only staff may see. A
-- customer's view skips its number: last_public_seq and public_activity_at are what a
-- customer is shown (ticket.last_seq, list order), so a note leaves no trace for them.
ALTER TABLE messages ADD COLUMN internal boolean NOT NULL DEFAULT false;
ALTER TABLE tickets ADD COLUMN last_public_seq int NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN public_activity_at timestamptz NOT NULL DEFAULT now();
UPDATE tickets SET last_public_seq = last_seq, public_activity_at = last_activity_at;
DROP INDEX tickets_customer_activity_idx;
CREATE INDEX tickets_customer_activity_idx ON tickets (customer_id, public_activity_at DESC, id DESC);

ALTER TABLE tickets ADD COLUMN priority text NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('low', 'normal', 'high', 'urgent'));
ALTER TABLE tickets ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
ALTER TABLE tickets ADD COLUMN channel text NOT NULL DEFAULT 'web' CHECK (channel IN ('web', 'email'));
CREATE INDEX tickets_tags_idx ON tickets USING gin (tags);
CREATE INDEX tickets_priority_activity_idx ON tickets (priority, last_activity_at DESC, id DESC);
-- The unassigned queue, oldest first.
CREATE INDEX tickets_unassigned_idx ON tickets (created_at, id) WHERE agent_id IS NULL AND status = 'open';

CREATE TABLE canned_replies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shortcut   text NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    created_by bigint REFERENCES users ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX canned_replies_shortcut_idx ON canned_replies (lower(shortcut));

-- The widened user object (contract v2): a phone number people manage themselves.
ALTER TABLE users ADD COLUMN phone text;
