"""Search: find the tickets a user may see by their words, forgiving one typo per word."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from ccr.services import validate
from ccr.services.access import seen_by
from ccr.services.context import Context
from ccr.store import search as store
from ccr.store.search import MARK_END, MARK_START, STAND_INS, Scope
from ccr.store.tickets import Ticket
from ccr.store.users import User

QUERY_MAX = 200
LIMIT_DEFAULT = 20
LIMIT_MAX = 50
# More words than anyone types into a search box; the rest are ignored rather than refused.
TERMS_MAX = 12
# Known words looked at per misspelt word, and how many of them the search then tries.
NEIGHBOURS = 8
ALTERNATIVES = 3
# Trigrams say little about short words ("teh" shares one with "the"), so for those every
# one-edit variant is looked up as well.
SHORT_WORD = 6
_TOKEN = re.compile(r"[^\W_]+(?:['.@+\-][^\W_]+)*")
_SPACE = re.compile(r"\s+")
_CODE_HYPHEN = re.compile(r"-(?=[0-9])")
_ORIGINALS = str.maketrans({stand_in: char for char, stand_in in STAND_INS.items()})


@dataclass(frozen=True)
class Result:
    ticket: Ticket
    matched: str
    snippet: str
    highlights: list[tuple[int, int]]  # [start, end) offsets in snippet, in characters

    def public(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.public(),
            "matched": self.matched,
            "snippet": self.snippet,
            "highlights": [list(h) for h in self.highlights],
        }

    def parts(self) -> list[tuple[str, bool]]:
        """The snippet as (text, highlighted) pieces, for templates to escape and mark up."""
        pieces, at = [], 0
        for start, end in self.highlights:
            if start > at:
                pieces.append((self.snippet[at:start], False))
            pieces.append((self.snippet[start:end], True))
            at = end
        if at < len(self.snippet):
            pieces.append((self.snippet[at:], False))
        return pieces


def scope_of(user: User) -> Scope:
    """What a user may search: the same tickets tickets.can_see lets them open."""
    if user.role == "admin":
        return Scope(customer_id=None, agent_id=None, notes=True)
    if user.role == "agent":
        return Scope(customer_id=None, agent_id=user.id, notes=True)
    return Scope(customer_id=user.id, agent_id=None, notes=False)


def query_text(value: object) -> str:
    return validate.text(value, "q", max_len=QUERY_MAX)


def terms(query: str) -> list[str]:
    # "err-4012" is two terms, as the migration reads it in stored text.
    return _TOKEN.findall(_CODE_HYPHEN.sub(" ", query.lower()))[:TERMS_MAX]


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment): a swap of neighbours is one typo."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def typos_allowed(word: str) -> int:
    return 2 if len(word) >= 9 else 1


def one_edit_variants(word: str) -> set[str]:
    letters = set("abcdefghijklmnopqrstuvwxyz") | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    variants = {a + b[1:] for a, b in splits if b}
    variants |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    variants |= {a + c + b[1:] for a, b in splits if b for c in letters}
    variants |= {a + c + b for a, b in splits for c in letters}
    variants.discard(word)
    return variants


async def corrections(conn: asyncpg.Connection, words: list[str]) -> dict[str, list[str]]:
    """Each word, or the known words within a typo of it (closest first) when it is unknown."""
    checkable = sorted({w for w in words if w.isalpha() and len(w) >= 3})
    nearest = await store.nearest_words(conn, checkable, NEIGHBOURS) if checkable else {}
    unknown = [w for w in checkable if nearest[w][:1] != [w]]
    short = [w for w in unknown if len(w) <= SHORT_WORD]
    variants = {w: one_edit_variants(w) for w in short}
    known = await store.known_words(conn, sorted(set().union(*variants.values()))) if short else set()
    fixed: dict[str, list[str]] = {w: [w] for w in words}
    for word in unknown:
        candidates = dict.fromkeys(nearest[word] + sorted(variants.get(word, set()) & known))
        close = [c for c in candidates if edit_distance(word, c) <= typos_allowed(word)]
        close.sort(key=lambda c: edit_distance(word, c))  # stable: trigram order among equals
        if close:
            fixed[word] = close[:ALTERNATIVES]
    return fixed


def to_tsquery(alternatives: list[list[str]]) -> str:
    """to_tsquery syntax: every term must match, each through any of its spellings.

    Every operand is quoted, and the words come from _TOKEN, so the text cannot be misread
    as operators.
    """

    def quoted(word: str) -> str:
        return "'" + word.replace("'", "''") + "'"

    return " & ".join("(" + " | ".join(quoted(w) for w in words) + ")" for words in alternatives)


async def build_query(conn: asyncpg.Connection, query: str) -> str | None:
    words = terms(query)
    if not words:
        return None
    fixed = await corrections(conn, words)
    return to_tsquery([fixed[w] for w in dict.fromkeys(words)])


def split_snippet(marked: str) -> tuple[str, list[tuple[int, int]]]:
    """ts_headline's output (with our marks) as plain text and the highlighted ranges."""
    pieces: list[tuple[str, bool]] = []
    for i, chunk in enumerate(marked.split(MARK_START)):
        if i == 0:
            pieces.append((chunk, False))
            continue
        inside, _, after = chunk.partition(MARK_END)
        pieces += [(inside, True), (after, False)]
    text, highlights = "", []
    for piece, marked_piece in pieces:
        piece = _SPACE.sub(" ", piece).translate(_ORIGINALS)
        if not text:
            piece = piece.lstrip()
        if marked_piece and piece:
            highlights.append((len(text), len(text) + len(piece)))
        text += piece
    stripped = text.rstrip()
    return stripped, [(s, min(e, len(stripped))) for s, e in highlights if s < len(stripped)]


async def search(ctx: Context, user: User, params: Mapping[str, object]) -> list[Result]:
    """The tickets the user may see that match `q`, best first, one result per ticket."""
    query = query_text(params.get("q"))
    limit = LIMIT_DEFAULT
    if params.get("limit") not in (None, ""):
        limit = validate.integer(params["limit"], "limit", low=1, high=LIMIT_MAX)
    async with ctx.pool.acquire() as conn:
        tsquery = await build_query(conn, query)
        if tsquery is None:
            return []
        hits = await store.search(conn, tsquery, scope_of(user), limit)
    return [Result(seen_by(user, h.ticket), h.matched, *split_snippet(h.snippet)) for h in hits]


async def matching_ticket_ids(conn: asyncpg.Connection, user: User, query: object) -> list[int]:
    """The ids of the tickets `q` finds for this user (for filtering a ticket list)."""
    tsquery = await build_query(conn, query_text(query))
    if tsquery is None:
        return []
    return await store.matching_ticket_ids(conn, tsquery, scope_of(user))
