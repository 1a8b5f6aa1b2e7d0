-- Group commit (ccr/services/post_batch.py, ccr/store/message_batch.py): a batch of chat posts
-- written by one call of ccr_post_messages, in one round trip and one commit.
--
-- Why a VOLATILE plpgsql function and not one INSERT … SELECT: in READ COMMITTED each statement
-- of a volatile function takes a fresh snapshot. So once the first statement has locked the
-- batch's tickets (waiting for whoever held them), the next ones see every message committed
-- before that: the client_id lookup cannot miss an original, and last_seq, read under the lock,
-- cannot move until this transaction ends. One statement has one snapshot, taken before its
-- locks are granted, and could miss an original committed meanwhile (a duplicate, or a gap).
--
-- The rules mirror the single-post path (services/chat.post_message) exactly:
--   access.visible / can_see: a customer their own tickets, an agent the tickets assigned to
--     them, admins every ticket; an agent on an unassigned open ticket may see it in queue
--     mode (a setting): that request is handed back ('fallback') for the single path to decide;
--   then a repeated (ticket, sender, client_id) answers the original (created before the batch,
--     or the first request of the batch that creates it), whatever the rest of the request;
--   then chat.check_can_post: notes by staff only, admins write notes only, not on a closed
--     ticket ('refused': the caller raises check_can_post's own error);
--   an agent's public reply whose customer is not in the room (p_watch_*) would be emailed:
--     handed back ('fallback') as well;
--   messages.append's seq and activity bump, tickets.mark_read, messages.mark_first_response.

CREATE TYPE ccr_post_plan AS (
    i          int,      -- the request's place in the batch, from 1
    ticket_id  bigint,
    sender_id  bigint,
    role       text,
    body       text,
    client_id  text,
    internal   boolean,
    status     text,     -- created | repeat | not_found | refused | fallback
    seq        int       -- created: the seq it takes
);

-- PostgreSQL's CPU per chat message (bench/pg_post.py measures it): the per-row triggers of
-- 0006 on messages would do, for a batch of n messages, n calls of search_words_add and n
-- plpgsql lookups of the ticket's agent.
--
-- search_words: one call per INSERT statement, from a statement trigger that reads the
-- inserted rows (a transition table), so a multi-row insert adds its words once, sorted as
-- one set: the lock-order argument of 0006 (two transactions adding the same new words lock
-- them in the same order, so neither waits on the other in a circle) now holds for a whole
-- statement. An UPDATE of a body keeps the row trigger: transition tables are not allowed
-- beside a column list (UPDATE OF body), and edits are rare. (Skipping known words with NOT EXISTS before the
-- insert measured no cheaper than ON CONFLICT's own probe, and `word = w` is planned on the
-- trigram GiST index, not the primary key: search_words_add is left as it was.)
--
-- ticket_agent_id: the row trigger runs only for an insert that leaves it NULL. Every path
-- but ccr_post_messages leaves it out (NULL), so the trigger looks it up as before; the batch
-- sets it from the tickets it holds locked. NULL is also the right value for an unassigned
-- ticket: the trigger then looks it up again and finds NULL, which is correct, only not free.
-- An insert that sets it must set the ticket's agent as of its lock.

DROP TRIGGER messages_search_words ON messages;
CREATE TRIGGER messages_search_words_update AFTER UPDATE OF body ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_search_words();

CREATE FUNCTION messages_search_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM search_words_add(string_agg(body, ' ')) FROM new_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_search_words AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION messages_search_words_inserted();

DROP TRIGGER messages_ticket_agent ON messages;
CREATE TRIGGER messages_ticket_agent BEFORE INSERT ON messages
    FOR EACH ROW WHEN (NEW.ticket_agent_id IS NULL) EXECUTE FUNCTION messages_ticket_agent();

-- The session behind each chat post: sockets do not query their session per frame
-- (ccr/web/sockets.py sweeps them all at once), so without a check here a logout, password
-- reset or disable whose `session_ended` event was lost, or a timeout, would let a socket keep
-- storing messages until the next sweep, and activity credited only at sweep time would log
-- out a user who chatted in the last minute of the idle timeout.
--
-- So the batch checks each post's session itself, in the statement that judges it (no round
-- trip of its own): p_session holds, per request, the token hash of the posting socket's
-- session (store/sessions.py), or NULL for a post made without one (the HTTP API, which
-- authenticates every request). A post whose session is not alive (sessions.ALIVE: idle
-- timeout per side, p_idle_customer / p_idle_staff, and the absolute expires_at), is not its
-- sender's, or whose user is disabled gets `session_ended`: nothing is stored, and it is
-- nobody's creator for a repeated client_id. The sessions of accepted posts (created or
-- repeat) have their idle clock refreshed in one UPDATE, at most every p_touch_every
-- (sessions.TOUCH_EVERY, as sessions.user_for does), so the post itself is the activity.
-- Read in the batch's snapshot, after its ticket locks: a logout committed while the batch
-- runs may still see the batch's posts stored, as it could when the socket checked before
-- posting.

CREATE FUNCTION ccr_post_messages(
    p_ticket     bigint[],
    p_sender     bigint[],
    p_role       text[],
    p_body       text[],
    p_client     text[],
    p_internal   boolean[],
    p_watch_i    int[],     -- (request, user) pairs: who has a socket on the ticket, for each
    p_watch_user bigint[],  -- agent's public reply (its customer among them: no email is due)
    p_webhooks   boolean,   -- the caller queues message.created deliveries in this transaction
    -- each request's session (token hash), NULL for a post made without one; the
    -- session timeouts as store/sessions.Timeouts, and how stale an idle clock may get
    p_session         bytea[],
    p_idle_customer   interval,
    p_idle_staff      interval,
    p_touch_every     interval
) RETURNS TABLE (
    i int, status text, webhooks boolean,
    -- created or repeat: the message (a repeat's original)
    id bigint, seq int, sender_role text, sender_name text, body text, client_id text,
    created_at timestamptz, internal boolean, channel text,
    -- the ticket as locked, before this batch: columns and names as store/tickets.SELECT
    t_id bigint, t_subject text, t_description text, t_status text, t_customer_id bigint,
    t_customer_name text, t_agent_id bigint, t_agent_name text, t_created_at timestamptz,
    t_updated_at timestamptz, t_last_activity_at timestamptz, t_last_seq int, t_last_public_seq int,
    t_public_activity_at timestamptz, t_priority text, t_tags text[], t_channel text,
    t_first_response_at timestamptz, t_first_response_due timestamptz, t_resolution_due timestamptz,
    t_sla_breached text[]
) LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    wanted boolean := EXISTS (SELECT 1 FROM webhooks w WHERE 'message.created' = ANY(w.events));
    before tickets[];
    plan ccr_post_plan[];
BEGIN
    -- Webhook deliveries are written in the transaction of the message (services/webhook_events):
    -- a caller in autocommit cannot add them, so it must come back inside a transaction.
    IF wanted AND NOT p_webhooks AND false = ANY(p_internal) THEN
        RAISE EXCEPTION 'message.created webhooks exist: post this batch in a transaction'
            USING ERRCODE = 'CC001';
    END IF;

    -- Locked in id order, so two batches (or a batch and a single post, which locks one
    -- ticket) never wait on each other in a circle. NO KEY UPDATE: what the last_seq update
    -- takes anyway; it still excludes the single path's FOR UPDATE, but not the key-share
    -- locks of inserts that merely reference the ticket (a read marker).
    SELECT array_agg(t ORDER BY t.id) INTO before
    FROM (SELECT * FROM tickets WHERE tickets.id = ANY(p_ticket) ORDER BY tickets.id
          FOR NO KEY UPDATE) t;

    WITH req AS (
        SELECT * FROM unnest(p_ticket, p_sender, p_role, p_body, p_client, p_internal, p_session)
            WITH ORDINALITY AS r(ticket_id, sender_id, role, body, client_id, internal, session, i)
    ), judged AS (
        SELECT req.*, t.customer_id, t.last_seq,
            CASE
                WHEN req.session IS NOT NULL AND live.alive IS NULL THEN 'session_ended'
                WHEN t.id IS NULL THEN 'not_found'
                WHEN req.role = 'admin' THEN 'ok'
                WHEN req.role = 'agent' THEN CASE
                    WHEN t.agent_id = req.sender_id THEN 'ok'
                    WHEN t.agent_id IS NULL AND t.status = 'open' THEN 'fallback'
                    ELSE 'not_found' END
                WHEN t.customer_id = req.sender_id THEN 'ok'
                ELSE 'not_found'
            END AS access,
            st.found IS NOT NULL AS stored,
            NOT (req.internal AND req.role NOT IN ('agent', 'admin'))
                AND NOT (req.role = 'admin' AND NOT req.internal)
                AND t.status <> 'closed' AS may_post,
            req.role = 'agent' AND NOT req.internal AND NOT EXISTS (
                SELECT 1 FROM unnest(p_watch_i, p_watch_user) AS w(i, user_id)
                WHERE w.i = req.i AND w.user_id = t.customer_id) AS emails
        FROM req LEFT JOIN unnest(before) t ON t.id = req.ticket_id
            -- the request's session if still alive (sessions.ALIVE), of an enabled user
            LEFT JOIN LATERAL (SELECT true AS alive FROM sessions s JOIN users u ON u.id = s.user_id
                    WHERE s.token_hash = req.session AND s.user_id = req.sender_id
                    AND s.expires_at > now()
                    AND s.last_seen_at > now() - CASE WHEN u.role = 'customer' THEN p_idle_customer
                                                      ELSE p_idle_staff END
                    AND u.disabled_at IS NULL
                    LIMIT 1) live ON true
            LEFT JOIN LATERAL (SELECT true AS found FROM messages m WHERE m.ticket_id = req.ticket_id
                    AND m.sender_id = req.sender_id AND m.client_id = req.client_id LIMIT 1) st ON true
    ), keyed AS (
        -- The request that creates each (ticket, sender, client_id): the first that may.
        SELECT judged.*, min(judged.i) FILTER (WHERE access = 'ok' AND NOT stored AND may_post)
            OVER (PARTITION BY ticket_id, sender_id, client_id) AS creator
        FROM judged
    ), decided AS (
        SELECT keyed.*, CASE
                WHEN access <> 'ok' THEN access
                WHEN stored THEN 'repeat'
                -- its creator's fate: a creator handed back takes its repeats with it
                WHEN creator < keyed.i THEN CASE WHEN bool_or(emails) FILTER (WHERE keyed.i = creator)
                    OVER (PARTITION BY ticket_id, sender_id, client_id) THEN 'fallback' ELSE 'repeat' END
                WHEN NOT may_post THEN 'refused'
                WHEN emails THEN 'fallback'
                ELSE 'created'
            END AS status
        FROM keyed
    ), numbered AS (
        -- seq without gaps: the ticket's last_seq, read under its lock, then 1, 2, 3…
        SELECT decided.*, CASE WHEN status = 'created' THEN last_seq + row_number() OVER (
                PARTITION BY ticket_id, status = 'created' ORDER BY decided.i) END AS seq
        FROM decided
    )
    SELECT array_agg(ROW(n.i::int, n.ticket_id, n.sender_id, n.role, n.body, n.client_id, n.internal,
            n.status, n.seq::int)::ccr_post_plan ORDER BY n.i) INTO plan
    FROM numbered n;

    -- The batch's words reach search_words from the insert's statement trigger, all of them
    -- in one sorted call. ticket_agent_id is the locked ticket's agent: it cannot
    -- change before this transaction ends (a ticket update waits on the lock), so the row
    -- trigger need not look it up again (it still does for an unassigned ticket's NULL).
    INSERT INTO messages (ticket_id, seq, sender_id, body, client_id, internal, ticket_agent_id)
    SELECT p.ticket_id, p.seq, p.sender_id, p.body, p.client_id, p.internal, t.agent_id
    FROM unnest(plan) p JOIN unnest(before) t ON t.id = p.ticket_id
    WHERE p.status = 'created' ORDER BY p.ticket_id, p.seq;

    -- messages.append, n times over; a note moves only the staff's view of the ticket.
    UPDATE tickets t SET
        last_seq = t.last_seq + c.n,
        last_activity_at = now(),
        updated_at = CASE WHEN c.public_top IS NULL THEN t.updated_at ELSE now() END,
        last_public_seq = coalesce(c.public_top, t.last_public_seq),
        public_activity_at = CASE WHEN c.public_top IS NULL THEN t.public_activity_at ELSE now() END,
        first_response_at = CASE WHEN c.replied THEN coalesce(t.first_response_at, now())
                                 ELSE t.first_response_at END
    FROM (SELECT p.ticket_id, count(*) AS n, max(p.seq) FILTER (WHERE NOT p.internal) AS public_top,
                 bool_or(p.role = 'agent' AND NOT p.internal) AS replied
          FROM unnest(plan) p WHERE p.status = 'created' GROUP BY p.ticket_id) c
    WHERE t.id = c.ticket_id AND t.id = ANY(p_ticket);  -- the second: probes of the batch's tickets

    INSERT INTO read_markers (user_id, ticket_id, seq)
    SELECT p.sender_id, p.ticket_id, max(p.seq) FROM unnest(plan) p WHERE p.status = 'created'
    GROUP BY p.sender_id, p.ticket_id ORDER BY p.sender_id, p.ticket_id
    ON CONFLICT (user_id, ticket_id) DO UPDATE
    SET seq = greatest(read_markers.seq, excluded.seq), updated_at = now();

    -- the posts are the sessions' activity (their sockets are in use): the idle clock
    -- of each accepted post's session starts again, if it is older than p_touch_every.
    UPDATE sessions s SET last_seen_at = now()
    FROM (SELECT DISTINCT r.session FROM unnest(plan) p
          JOIN unnest(p_session) WITH ORDINALITY AS r(session, i) ON r.i = p.i
          WHERE p.status IN ('created', 'repeat') AND r.session IS NOT NULL) a
    WHERE s.token_hash = a.session AND s.token_hash = ANY(p_session)  -- (the same: probes)
        AND s.last_seen_at < now() - p_touch_every;

    RETURN QUERY
    SELECT p.i, p.status, wanted,
        m.id, m.seq, u.role, trim(u.first_name || ' ' || u.last_name), m.body, m.client_id,
        m.created_at, m.internal, m.channel,
        t.id, t.subject, t.description, t.status, t.customer_id,
        trim(c.first_name || ' ' || c.last_name), t.agent_id, trim(a.first_name || ' ' || a.last_name),
        t.created_at, t.updated_at, t.last_activity_at, t.last_seq, t.last_public_seq,
        t.public_activity_at, t.priority, t.tags, t.channel, t.first_response_at,
        t.first_response_due, t.resolution_due,
        array_remove(ARRAY[
            CASE WHEN t.first_response_due < coalesce(t.first_response_at, now()) THEN 'first_response' END,
            CASE WHEN t.resolution_due < coalesce(t.closed_at, now()) THEN 'resolution' END], NULL)
    FROM unnest(plan) p
    LEFT JOIN LATERAL (SELECT * FROM messages m WHERE p.status IN ('created', 'repeat')
        AND m.ticket_id = p.ticket_id AND m.sender_id = p.sender_id AND m.client_id = p.client_id
        LIMIT 1) m ON true
    LEFT JOIN LATERAL (SELECT * FROM users WHERE users.id = m.sender_id LIMIT 1) u ON true
    LEFT JOIN unnest(before) t ON t.id = p.ticket_id
    LEFT JOIN LATERAL (SELECT * FROM users WHERE users.id = t.customer_id LIMIT 1) c ON true
    LEFT JOIN LATERAL (SELECT * FROM users WHERE users.id = t.agent_id LIMIT 1) a ON true
    ORDER BY p.i;
END $$;

-- ccr_post_messages plans its statements once per pooled connection (plpgsql's cached generic
-- plans), with the planner told to use indexes and nested loops only. Planning afresh on every
-- call (custom plans) took about half of PostgreSQL's CPU per call (perf on a backend during
-- `python -m bench.pg_post --batch 2`). A generic plan is made at a connection's first call,
-- on a new install while every table is nearly empty, and kept while the tables grow: left to
-- the statistics it hashed all of `messages`, or walked every user and their sessions, on
-- every batch. So every lookup above is an index probe by the request's own values, whatever
-- the statistics said: LATERAL ... LIMIT 1 (which cannot be pulled up into a join the planner
-- may turn around), or `= ANY(p_ticket)` / `= ANY(p_session)` beside a join condition; and
-- seqscans, hash and merge joins are disabled. tests/test_post_batch_plans.py makes the plans
-- on near-empty tables, grows them, and checks auto_explain's plans touch a handful of rows.
-- JIT stays off: the disabled paths' nominal cost would otherwise cross its thresholds and
-- compile on every call. `python -m bench.pg_post`: --batch 2, 1.5-1.9 -> 0.54-0.67 ms of
-- PostgreSQL CPU per message (flat over 30,000 messages); --batch 20, 0.51 -> 0.21-0.31 ms.
ALTER FUNCTION ccr_post_messages SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION ccr_post_messages SET enable_seqscan = off;
ALTER FUNCTION ccr_post_messages SET enable_hashjoin = off;
ALTER FUNCTION ccr_post_messages SET enable_mergejoin = off;
ALTER FUNCTION ccr_post_messages SET jit = off;
ALTER FUNCTION ccr_post_messages SET max_parallel_workers_per_gather = 0;

-- search_words_add was a LANGUAGE sql function that is not inlined (it is called from
-- triggers): PostgreSQL parsed and planned its INSERT on every call. In plpgsql the plan is
-- cached per connection. Same statement.
CREATE OR REPLACE FUNCTION search_words_add(body text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Sorted, so two transactions adding the same new words lock them in the same order.
    INSERT INTO search_words (word)
    SELECT DISTINCT w FROM regexp_split_to_table(lower(body), '[^[:alpha:]]+') AS w
    WHERE length(w) BETWEEN 3 AND 40
    ORDER BY w
    ON CONFLICT DO NOTHING;
END $$;
