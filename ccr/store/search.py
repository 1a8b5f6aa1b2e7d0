"""Full-text search over tickets and their messages, and the dictionary that corrects typos."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ccr.store import tickets
from ccr.store.tickets import Ticket

# Marks around highlighted words in a snippet: private-use characters, removed from the text
# first, so that no user text can forge or break a highlight.
MARK_START = "\ue000"
MARK_END = "\ue001"
# ts_headline drops whatever its parser takes for HTML tags or entities ("<b>", "&amp;"), so
# these three characters stand in for <, > and & while it works; the caller maps them back.
STAND_INS = {"<": "\ue002", ">": "\ue003", "&": "\ue004"}
# How many of the newest matches of each kind (ticket text, messages) are ranked. A word that
# half the helpdesk uses would otherwise make every search rank hundreds of thousands of rows;
# for such words the newest matches are the ones people look for.
CANDIDATES = 1000


@dataclass(frozen=True)
class Scope:
    """Which tickets a search may look at: one customer's, one agent's, or all (None, None)."""

    customer_id: int | None
    agent_id: int | None
    notes: bool  # whether internal notes are searched


@dataclass(frozen=True)
class Hit:
    ticket: Ticket
    matched: str  # subject | description | message | note
    snippet: str  # plain text with MARK_START/MARK_END around the matched words


NEAREST = """
    SELECT q.word AS query, n.word AS known
    FROM unnest($1::text[]) AS q(word)
    CROSS JOIN LATERAL (
        SELECT w.word FROM search_words w ORDER BY w.word <-> q.word LIMIT $2
    ) n
"""


async def nearest_words(conn: asyncpg.Connection, words: list[str], per_word: int) -> dict[str, list[str]]:
    """For each word, the known words closest to it by trigrams, nearest first (itself if known)."""
    found: dict[str, list[str]] = {word: [] for word in words}
    for row in await conn.fetch(NEAREST, words, per_word):
        found[row["query"]].append(row["known"])
    return found


async def known_words(conn: asyncpg.Connection, words: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT word FROM search_words WHERE word = ANY($1::text[])", words)
    return {r["word"] for r in rows}


def _scope_sql(scope: Scope, args: list[object]) -> str:
    where = []
    if scope.customer_id is not None:
        args.append(scope.customer_id)
        where.append(f"t.customer_id = ${len(args)}")
    if scope.agent_id is not None:
        args.append(scope.agent_id)
        where.append(f"t.agent_id = ${len(args)}")
    return "".join(f" AND {w}" for w in where)


def _hits_sql(scope: Scope, args: list[object]) -> str:
    """Candidates (ticket id, where, rank, when, the matched message) for the tsquery in $1."""
    in_scope = _scope_sql(scope, args)
    notes = "" if scope.notes else " AND NOT m.internal"
    args.append(CANDIDATES)
    cap = f"${len(args)}"
    return f"""
        (SELECT c.id AS ticket_id, NULL::bigint AS message_id,
                CASE WHEN ts_filter(c.search, '{{a}}') @@ query.q THEN 'subject' ELSE 'description' END
                    AS matched,
                ts_rank(c.search, query.q) AS rank, c.last_activity_at AS at
         FROM query, LATERAL (
             SELECT t.id, t.search, t.last_activity_at FROM tickets t
             WHERE t.search @@ query.q{in_scope}
             ORDER BY t.last_activity_at DESC LIMIT {cap}) c)
        UNION ALL
        (SELECT c.ticket_id, c.id, CASE WHEN c.internal THEN 'note' ELSE 'message' END,
                ts_rank(c.search, query.q), c.created_at
         FROM query, LATERAL (
             SELECT m.id, m.ticket_id, m.internal, m.search, m.created_at
             FROM messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE m.search @@ query.q{notes}{in_scope}
             ORDER BY m.id DESC LIMIT {cap}) c)
    """


def _headline(column: str, options: str) -> str:
    # translate() drops the characters that have no stand-in: our marks.
    source, target = "".join(STAND_INS) + MARK_START + MARK_END, "".join(STAND_INS.values())
    clean = f"translate({column}, '{source}', '{target}')"
    return f"ts_headline('english', {clean}, query.q, 'StartSel={MARK_START}, StopSel={MARK_END}, {options}')"


# A subject is short: all of it, every match marked. Longer text: up to two fragments.
WHOLE = "HighlightAll=true"
FRAGMENTS = 'MaxWords=24, MinWords=10, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'


async def search(conn: asyncpg.Connection, tsquery: str, scope: Scope, limit: int) -> list[Hit]:
    """The best `limit` tickets for the query, one hit each (its best match), best first.

    `tsquery` is to_tsquery('english') syntax that the caller built from checked words.
    """
    args: list[object] = [tsquery]
    hits = _hits_sql(scope, args)
    args.append(limit)
    sql = f"""
        WITH query AS (SELECT to_tsquery('english', $1) AS q),
        best AS (
            SELECT DISTINCT ON (ticket_id) * FROM ({hits}) h
            ORDER BY ticket_id, rank DESC, at DESC
        ),
        top AS (SELECT * FROM best ORDER BY rank DESC, at DESC LIMIT ${len(args)})
        SELECT top.ticket_id, top.matched,
               CASE top.matched
                   WHEN 'subject' THEN {_headline("t.subject", WHOLE)}
                   WHEN 'description' THEN {_headline("t.description", FRAGMENTS)}
                   ELSE {_headline("m.body", FRAGMENTS)}
               END AS snippet
        FROM top CROSS JOIN query
        JOIN tickets t ON t.id = top.ticket_id
        LEFT JOIN messages m ON m.id = top.message_id
        ORDER BY top.rank DESC, top.at DESC
    """
    rows = await conn.fetch(sql, *args)
    if not rows:
        return []
    found = {
        r["id"]: Ticket(**dict(r))
        for r in await conn.fetch(
            tickets.SELECT + " WHERE t.id = ANY($1::bigint[])", [r["ticket_id"] for r in rows]
        )
    }
    return [Hit(found[r["ticket_id"]], r["matched"], r["snippet"]) for r in rows if r["ticket_id"] in found]


async def matching_ticket_ids(conn: asyncpg.Connection, tsquery: str, scope: Scope) -> list[int]:
    """Ids of the tickets the query finds (among the newest CANDIDATES matches of each kind)."""
    args: list[object] = [tsquery]
    hits = _hits_sql(scope, args)
    rows = await conn.fetch(
        f"WITH query AS (SELECT to_tsquery('english', $1) AS q) SELECT DISTINCT ticket_id FROM ({hits}) h",
        *args,
    )
    return [r["ticket_id"] for r in rows]
