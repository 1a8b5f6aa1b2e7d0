-- Help centre: articles admins write in Markdown, searched like tickets; and the `system`
-- sender of the automatic reply.

-- The automatic reply is a chat message like any other (seq, sockets, history), so its sender
-- is a user row: one account with role 'system', created on first use (ccr/store/system_user.py:
-- a migration's row would not survive a restore without it). No password, disabled: no log-in.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('customer', 'agent', 'admin', 'system'));

CREATE TABLE articles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text NOT NULL,
    body        text NOT NULL,              -- Markdown; rendered and sanitised on the way out
    published   boolean NOT NULL DEFAULT false,
    created_by  bigint REFERENCES users ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- As tickets.search (0006_search.sql): a title hit (A) outranks a body hit (B), and the
    -- hyphen of an error code before a digit reads as a space.
    search      tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', regexp_replace(title, '-([0-9])', ' \1', 'g')), 'A')
        || setweight(to_tsvector('english', regexp_replace(body, '-([0-9])', ' \1', 'g')), 'B')
    ) STORED
);
CREATE INDEX articles_search_idx ON articles USING gin (search);
CREATE INDEX articles_updated_idx ON articles (updated_at DESC, id DESC);

-- Article words join the search dictionary, so that a typo in a help search (or a subject
-- being typed) is corrected to a word an article uses.
CREATE FUNCTION articles_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.title IS DISTINCT FROM OLD.title OR NEW.body IS DISTINCT FROM OLD.body THEN
        PERFORM search_words_add(NEW.title || ' ' || NEW.body);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER articles_search_words AFTER INSERT OR UPDATE OF title, body ON articles
    FOR EACH ROW EXECUTE FUNCTION articles_search_words();

-- system_user.IDS: where an automatic reply must not count as a staff answer.
CREATE INDEX users_system_idx ON users (id) WHERE role = 'system';
