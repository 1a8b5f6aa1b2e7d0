-- Tickets, their chat messages, timeline events, read markers, ratings and feedback.

CREATE TABLE tickets (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id      bigint NOT NULL REFERENCES users,
    agent_id         bigint REFERENCES users,
    subject          text NOT NULL,
    description      text NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'assigned', 'closed')),
    last_seq         int NOT NULL DEFAULT 0,     -- seq of the newest message; messages are 1..last_seq
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    first_response_at timestamptz,               -- first agent message, for the overview
    closed_at        timestamptz
);
-- One index per way a list is read: everyone's lists are "most recent activity first".
CREATE INDEX tickets_activity_idx ON tickets (last_activity_at DESC, id DESC);
CREATE INDEX tickets_status_activity_idx ON tickets (status, last_activity_at DESC, id DESC);
CREATE INDEX tickets_customer_activity_idx ON tickets (customer_id, last_activity_at DESC, id DESC);
CREATE INDEX tickets_agent_activity_idx ON tickets (agent_id, last_activity_at DESC, id DESC)
    WHERE agent_id IS NOT NULL;
CREATE INDEX tickets_agent_open_idx ON tickets (agent_id) WHERE status <> 'closed';

CREATE TABLE messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    seq        int NOT NULL,
    sender_id  bigint NOT NULL REFERENCES users,
    body       text NOT NULL,
    client_id  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_id, seq),
    UNIQUE (ticket_id, sender_id, client_id)
);

CREATE TABLE ticket_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    actor_id   bigint REFERENCES users,
    kind       text NOT NULL,   -- created, assigned, closed, reopened, rated
    data       jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, id);

CREATE TABLE read_markers (
    user_id    bigint NOT NULL REFERENCES users ON DELETE CASCADE,
    ticket_id  bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    seq        int NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, ticket_id)
);

CREATE TABLE ratings (
    ticket_id  bigint PRIMARY KEY REFERENCES tickets ON DELETE CASCADE,
    score      smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_id  bigint NOT NULL REFERENCES users,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_created_idx ON feedback (created_at DESC, id DESC);
