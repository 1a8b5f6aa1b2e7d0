-- Search: full-text vectors on tickets and messages, and a dictionary of known words with a
-- trigram index so that a misspelt query word can be corrected to the words we hold.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Weights carry the ranking: a subject hit (A) outranks a description hit (B), which outranks
-- a chat message (no weight given, so D). 'english' stems, so "printing" finds "printer".
-- The parser reads "ERR-4012" as "err" and the negative number "-4012"; error codes are what
-- people search for, so a hyphen before a digit is read as a space (the app does the same to
-- queries).
ALTER TABLE tickets ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', regexp_replace(subject, '-([0-9])', ' \1', 'g')), 'A')
    || setweight(to_tsvector('english', regexp_replace(description, '-([0-9])', ' \1', 'g')), 'B')
) STORED;
CREATE INDEX tickets_search_idx ON tickets USING gin (search);

ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('english', regexp_replace(body, '-([0-9])', ' \1', 'g'))
) STORED;
CREATE INDEX messages_search_idx ON messages USING gin (search);

-- A copy of the ticket's agent on each of its messages, kept by the triggers below, so that an
-- agent's search narrows the messages in the indexes (a BitmapAnd with the GIN index) instead
-- of fetching every matching message of every ticket and dropping the others' afterwards.
ALTER TABLE messages ADD COLUMN ticket_agent_id bigint;
UPDATE messages m SET ticket_agent_id = t.agent_id FROM tickets t WHERE t.id = m.ticket_id AND t.agent_id IS NOT NULL;
-- With id: an agent's newest messages first (the search's windows, ccr/store/search.py).
CREATE INDEX messages_ticket_agent_idx ON messages (ticket_agent_id, id) WHERE ticket_agent_id IS NOT NULL;

CREATE FUNCTION messages_ticket_agent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ticket_agent_id := (SELECT agent_id FROM tickets WHERE id = NEW.ticket_id);
    RETURN NEW;
END $$;
CREATE TRIGGER messages_ticket_agent BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_ticket_agent();

CREATE FUNCTION tickets_agent_to_messages() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE messages SET ticket_agent_id = NEW.agent_id
    WHERE ticket_id = NEW.id AND ticket_agent_id IS DISTINCT FROM NEW.agent_id;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_agent_to_messages AFTER UPDATE OF agent_id ON tickets
    FOR EACH ROW WHEN (NEW.agent_id IS DISTINCT FROM OLD.agent_id)
    EXECUTE FUNCTION tickets_agent_to_messages();

-- Every word (letters only, 3 to 40 of them, lower-cased, unstemmed) that appears in any
-- subject, description or message. It only grows: a word someone once typed stays a valid
-- correction target, and no counter is kept so that busy words never become a hot row.
CREATE TABLE search_words (
    word text PRIMARY KEY
);
-- GiST rather than GIN: it answers "the nearest words" (ORDER BY word <-> 'pasword') directly.
CREATE INDEX search_words_trgm_idx ON search_words USING gist (word gist_trgm_ops);

CREATE FUNCTION search_words_add(body text) RETURNS void LANGUAGE sql AS $$
    -- Sorted, so two transactions adding the same new words lock them in the same order.
    INSERT INTO search_words (word)
    SELECT DISTINCT w FROM regexp_split_to_table(lower(body), '[^[:alpha:]]+') AS w
    WHERE length(w) BETWEEN 3 AND 40
    ORDER BY w
    ON CONFLICT DO NOTHING;
$$;

CREATE FUNCTION tickets_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.subject IS DISTINCT FROM OLD.subject
       OR NEW.description IS DISTINCT FROM OLD.description THEN
        PERFORM search_words_add(NEW.subject || ' ' || NEW.description);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tickets_search_words AFTER INSERT OR UPDATE OF subject, description ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_search_words();

CREATE FUNCTION messages_search_words() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_words_add(NEW.body);
    RETURN NULL;
END $$;
CREATE TRIGGER messages_search_words AFTER INSERT OR UPDATE OF body ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_search_words();

SELECT search_words_add(subject || ' ' || description) FROM tickets;
SELECT search_words_add(body) FROM messages;
