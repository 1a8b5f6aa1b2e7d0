-- The email channel (issue 10): mail read from the support mailbox, threads both ways.

-- How a message travelled: typed on the site, or came in / went out by email.
ALTER TABLE messages ADD COLUMN channel text NOT NULL DEFAULT 'web' CHECK (channel IN ('web', 'email'));

-- Every email the reader took from the mailbox, once: message_key is its Message-ID (or a
-- hash of its headers when it has none), and the unique index is what makes "never twice"
-- hold across restarts, crashes and several processes. Ignored and failed mail is kept
-- here too, so an admin sees what happened to each one.
CREATE TABLE inbound_emails (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_key text NOT NULL,
    from_addr   text NOT NULL DEFAULT '',
    subject     text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('ticket', 'reply', 'ignored', 'failed')),
    reason      text,
    ticket_id   bigint REFERENCES tickets ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX inbound_emails_key_idx ON inbound_emails (message_key);
CREATE INDEX inbound_emails_created_idx ON inbound_emails (created_at DESC, id DESC);
-- The flood rule counts the tickets one sender opened in the last hour.
CREATE INDEX inbound_emails_sender_idx ON inbound_emails (from_addr, created_at) WHERE outcome = 'ticket';

-- The Message-IDs of a ticket's thread, the ones we sent and the ones we received: a reply's
-- In-Reply-To/References finds its ticket here, and our emails' References start at the first.
CREATE TABLE ticket_emails (
    message_id  text PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    -- clock time, not the transaction's: the emails one action queues keep their order.
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ticket_emails_ticket_idx ON ticket_emails (ticket_id, created_at, message_id);

-- Threading headers for an outgoing email (In-Reply-To, References, Reply-To).
ALTER TABLE outbox ADD COLUMN headers jsonb NOT NULL DEFAULT '{}';
