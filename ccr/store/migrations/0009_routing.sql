-- Routing, service levels and automatic replies (contract v2).

-- The helpdesk's settings: one row, written by admins from /settings. The shapes inside the
-- jsonb columns are checked by ccr.services.settings, the one owner of what is valid.
CREATE TABLE helpdesk_settings (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    routing        text NOT NULL DEFAULT 'manual' CHECK (routing IN ('manual', 'round_robin', 'queue')),
    agent_capacity int NOT NULL DEFAULT 10 CHECK (agent_capacity >= 1),
    business_hours jsonb,
    sla            jsonb,
    auto_reply     boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO helpdesk_settings DEFAULT VALUES;

-- Round robin's tie-break: among agents with equally few open tickets, the one whose last
-- assignment is oldest gets the next one.
ALTER TABLE users ADD COLUMN last_assigned_at timestamptz;

-- Service levels: when the first response and the resolution are due (NULL: no SLA).
ALTER TABLE tickets ADD COLUMN first_response_due timestamptz;
ALTER TABLE tickets ADD COLUMN resolution_due timestamptz;

-- The SLA scheduler's work: one row per alert a ticket may raise (a warning 15 minutes before
-- each due time, a breach when it passes). A row is leased with FOR UPDATE SKIP LOCKED and
-- marked sent in the transaction that queues its email, so each goes out exactly once across
-- processes and restarts; rows not yet sent are replaced when the due times change.
CREATE TABLE sla_alerts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    target    text NOT NULL CHECK (target IN ('first_response', 'resolution')),
    kind      text NOT NULL CHECK (kind IN ('sla_warning', 'sla_breached')),
    due_at    timestamptz NOT NULL,   -- when the alert fires
    sent_at   timestamptz,
    UNIQUE (ticket_id, target, kind)
);
CREATE INDEX sla_alerts_due_idx ON sla_alerts (due_at) WHERE sent_at IS NULL;
