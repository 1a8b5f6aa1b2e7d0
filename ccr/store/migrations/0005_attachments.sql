-- Attachments: files uploaded to a ticket, then posted with a message.

-- File contents, keyed by their sha256: identical files are stored once however many
-- attachments name them. Kept in PostgreSQL so every app replica reads the same bytes with
-- nothing else to run or back up (Zammad's default); ccr/store/blobs.py is the interface an
-- object store (S3) can implement instead.
CREATE TABLE blobs (
    key        text PRIMARY KEY,            -- lower-case hex sha256 of data
    data       bytea NOT NULL,
    size       bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Contents are already compressed (images, archives) or small: TOAST's compression only costs CPU.
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;

CREATE TABLE attachments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id      bigint NOT NULL REFERENCES tickets ON DELETE CASCADE,
    message_id     bigint REFERENCES messages ON DELETE CASCADE,  -- null until posted
    uploader_id    bigint NOT NULL REFERENCES users,
    name           text NOT NULL,
    content_type   text NOT NULL,           -- read from the bytes, never from the client
    size           bigint NOT NULL,
    blob_key       text NOT NULL REFERENCES blobs,
    thumbnail_key  text REFERENCES blobs,   -- images only; null when none could be made
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message_idx ON attachments (message_id, id) WHERE message_id IS NOT NULL;
-- An uploader's files not yet posted on a ticket (claimed by the next message).
CREATE INDEX attachments_unposted_idx ON attachments (ticket_id, uploader_id) WHERE message_id IS NULL;
