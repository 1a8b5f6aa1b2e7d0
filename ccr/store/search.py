"""Full-text search over tickets and their messages, and the dictionary that corrects typos."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import asyncpg

from ccr.store import system_user, tickets
from ccr.store.tickets import Ticket

# Marks around highlighted words in a snippet: private-use characters, removed from the text
# first, so that no user text can forge or break a highlight.
MARK_START = "\ue000"
MARK_END = "\ue001"
# ts_headline drops whatever its parser takes for HTML tags or entities ("<b>", "&amp;"), so
# these characters stand in for <, > and & while it works; the caller maps them back. The
# hyphen of "ERR-4012" stands in too: the stored vectors read it as a space (0006_search.sql).
STAND_INS = {"<": "\ue002", ">": "\ue003", "&": "\ue004", "-": "\ue005"}
# How many of the newest matches of each kind (ticket text, messages) are ranked. A word that
# half the helpdesk uses would otherwise make every search rank hundreds of thousands of rows;
# for such words the newest matches are the ones people look for.
CANDIDATES = 300


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


# The query as a constant the planner can see: to_tsquery with a fixed configuration is
# immutable, so in a custom plan it is folded and the planner estimates from the words' real
# frequencies.
QUERY = "to_tsquery('english', $1::text)"
# The newest rows are searched first, in widening windows (counted in ids back from the newest),
# until CANDIDATES matches are found. A common word is then answered from the newest few
# thousand rows instead of fetching its hundred thousand matches from the heap only to keep the
# newest; a rare word costs a few cheap index look-ups more. The planner cannot do this itself:
# it guesses "calendar & sync" as rare (it assumes words independent) and fetches every match.
WINDOWS = (20_000, 200_000, None)


@dataclass(frozen=True)
class Candidate:
    ticket_id: int
    message_id: int | None
    matched: str
    rank: float
    at: datetime


def _ticket_candidates_sql(scope: Scope, args: list[object], since: str) -> str:
    where = ""
    if scope.customer_id is not None:
        args.append(scope.customer_id)
        where += f" AND t.customer_id = ${len(args)}"
    if scope.agent_id is not None:
        args.append(scope.agent_id)
        where += f" AND t.agent_id = ${len(args)}"
    return f"""
        SELECT c.id AS ticket_id, NULL::bigint AS message_id,
               CASE WHEN ts_filter(c.search, '{{a}}') @@ {QUERY} THEN 'subject' ELSE 'description' END
                   AS matched,
               ts_rank(c.search, {QUERY}) AS rank, c.last_activity_at AS at
        FROM (SELECT t.id, t.search, t.last_activity_at FROM tickets t
              WHERE t.search @@ {QUERY} AND t.id > {since}{where}
              ORDER BY t.id DESC LIMIT {CANDIDATES}) c
    """


def _message_candidates_sql(scope: Scope, args: list[object], since: str) -> str:
    where, join = "", ""
    if scope.customer_id is not None:
        args.append(scope.customer_id)
        join, where = " JOIN tickets t ON t.id = m.ticket_id", f" AND t.customer_id = ${len(args)}"
    if scope.agent_id is not None:
        args.append(scope.agent_id)
        where += f" AND m.ticket_agent_id = ${len(args)}"
    if not scope.notes:
        where += " AND NOT m.internal"
    # The automatic reply says the same on every ticket: it would match everyone's searches.
    where += f" AND m.sender_id NOT IN {system_user.IDS}"
    return f"""
        SELECT c.ticket_id, c.id AS message_id, CASE WHEN c.internal THEN 'note' ELSE 'message' END AS matched,
               ts_rank(c.search, {QUERY}) AS rank, c.created_at AS at
        FROM (SELECT m.id, m.ticket_id, m.internal, m.search, m.created_at FROM messages m{join}
              WHERE m.search @@ {QUERY} AND m.id > {since}{where}
              ORDER BY m.id DESC LIMIT {CANDIDATES}) c
    """


def _candidate(row: asyncpg.Record) -> Candidate:
    return Candidate(row["ticket_id"], row["message_id"], row["matched"], row["rank"], row["at"])


async def _candidates(conn: asyncpg.Connection, tsquery: str, scope: Scope) -> list[Candidate]:
    """The newest CANDIDATES matches among the tickets' texts and among the messages, ranked.

    Both kinds are asked in one statement, in the first window; a kind that comes back short
    is asked again over a wider one.
    """
    # A customer's few tickets are reached through their own index: no window needed. An
    # agent's messages are narrowed in the indexes (ticket_agent_id, id) and windowed too.
    scoped = scope.customer_id is not None
    windows: tuple[int | None, ...] = (None,) if scoped else WINDOWS
    newest = {"tickets": 0, "messages": 0}
    if not scoped:
        row = await conn.fetchrow(
            "SELECT (SELECT max(id) FROM tickets) AS t, (SELECT max(id) FROM messages) AS m"
        )
        newest = {"tickets": row["t"] or 0, "messages": row["m"] or 0}

    def since(table: str, window: int | None) -> int:
        return 0 if window is None else max(0, newest[table] - window)

    args: list[object] = [tsquery, since("tickets", windows[0]), since("messages", windows[0])]
    both = (
        f"SELECT 'tickets' AS kind, * FROM ({_ticket_candidates_sql(scope, args, '$2')}) a UNION ALL "
        f"SELECT 'messages', * FROM ({_message_candidates_sql(scope, args, '$3')}) b"
    )
    rows = await conn.fetch(both, *args)
    found = [_candidate(r) for r in rows]
    for table, build in (("tickets", _ticket_candidates_sql), ("messages", _message_candidates_sql)):
        short = sum(1 for r in rows if r["kind"] == table) < CANDIDATES
        if not short or since(table, windows[0]) == 0:
            continue
        found = [c for c in found if (c.message_id is None) != (table == "tickets")]
        args, more = [tsquery, 0], []
        sql = build(scope, args, "$2")
        for window in windows[1:]:
            args[1] = since(table, window)
            more = await conn.fetch(sql, *args)
            if len(more) >= CANDIDATES or args[1] == 0:
                break
        found += [_candidate(r) for r in more]
    return found


async def _custom_plan(conn: asyncpg.Connection) -> None:
    """A generic plan (asyncpg prepares statements) would guess the same for every word.

    Set for the session: the pool's release runs RESET ALL, and a connection kept longer only
    plans its other statements afresh.
    """
    await conn.execute("SET plan_cache_mode = force_custom_plan")


def _headline(column: str, options: str) -> str:
    # translate() drops the characters that have no stand-in: our marks.
    hyphen = STAND_INS["-"]
    source, target = "<>&" + MARK_START + MARK_END, STAND_INS["<"] + STAND_INS[">"] + STAND_INS["&"]
    clean = f"translate(regexp_replace({column}, '-([0-9])', '{hyphen}\\1', 'g'), '{source}', '{target}')"
    return f"ts_headline('english', {clean}, {QUERY}, 'StartSel={MARK_START}, StopSel={MARK_END}, {options}')"


# A subject is short: all of it, every match marked. Longer text: up to two fragments.
WHOLE = "HighlightAll=true"
FRAGMENTS = 'MaxWords=24, MinWords=10, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
SNIPPETS = f"""
    WITH found AS ({tickets.SELECT} WHERE t.id = ANY($2::bigint[]))
    SELECT found.*, top.matched,
           CASE top.matched
               WHEN 'subject' THEN {_headline("found.subject", WHOLE)}
               WHEN 'description' THEN {_headline("found.description", FRAGMENTS)}
               ELSE {_headline("m.body", FRAGMENTS)}
           END AS snippet
    FROM unnest($2::bigint[], $3::bigint[], $4::text[]) WITH ORDINALITY AS top(ticket_id, message_id, matched, n)
    JOIN found ON found.id = top.ticket_id
    LEFT JOIN messages m ON m.id = top.message_id
    ORDER BY top.n
"""
TICKET_FIELDS = [f.name for f in fields(Ticket)]


def best_per_ticket(candidates: list[Candidate], limit: int) -> list[Candidate]:
    """Each ticket's best match, best first: higher rank, then the more recent."""
    best: dict[int, Candidate] = {}
    for c in candidates:
        held = best.get(c.ticket_id)
        if held is None or (c.rank, c.at) > (held.rank, held.at):
            best[c.ticket_id] = c
    return sorted(best.values(), key=lambda c: (c.rank, c.at), reverse=True)[:limit]


async def search(conn: asyncpg.Connection, tsquery: str, scope: Scope, limit: int) -> list[Hit]:
    """The best `limit` tickets for the query, one hit each (its best match), best first.

    `tsquery` is to_tsquery('english') syntax that the caller built from checked words.
    """
    await _custom_plan(conn)
    top = best_per_ticket(await _candidates(conn, tsquery, scope), limit)
    if not top:
        return []
    rows = await conn.fetch(
        SNIPPETS,
        tsquery,
        [c.ticket_id for c in top],
        [c.message_id for c in top],
        [c.matched for c in top],
    )
    return [Hit(Ticket(**{k: r[k] for k in TICKET_FIELDS}), r["matched"], r["snippet"]) for r in rows]


async def matching_ticket_ids(conn: asyncpg.Connection, tsquery: str, scope: Scope) -> list[int]:
    """Ids of the tickets the query finds (among the newest CANDIDATES matches of each kind)."""
    await _custom_plan(conn)
    return list(dict.fromkeys(c.ticket_id for c in await _candidates(conn, tsquery, scope)))
