"""Search over the JSON API and the results page: matching, typos, scoping, notes, safety, ranking."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest

from ccr.services.search import edit_distance, one_edit_variants, split_snippet, terms, to_tsquery
from ccr.store.search import MARK_END, MARK_START
from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import (
    Cast,
    Person,
    assign,
    expect_error,
    fetch,
    listed,
    make_cast,
    open_ticket,
    post,
)


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


async def search(who: Person, q: str, **params: Any) -> list[dict[str, Any]]:
    r = await who.client.get("/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def found(results: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["ticket"]["id"], r["matched"]) for r in results]


def marked(result: dict[str, Any]) -> list[str]:
    return [result["snippet"][s:e] for s, e in result["highlights"]]


async def add_note(database_url: str, ticket_id: str, author: Person, body: str) -> None:
    """An internal note as the schema stores one (the notes API is another part of issue 8)."""
    await fetch(
        database_url,
        """WITH bumped AS (UPDATE tickets SET last_seq = last_seq + 1, last_activity_at = now()
                           WHERE id = $1 RETURNING last_seq)
           INSERT INTO messages (ticket_id, seq, sender_id, body, client_id, internal)
           SELECT $1, last_seq, $2, $3, md5(random()::text), true FROM bumped RETURNING id""",
        int(ticket_id),
        int(author.id),
        body,
    )


# --- what is found, and where ------------------------------------------------------------------


async def test_finds_by_subject_description_and_message(cast: Cast) -> None:
    by_subject = await open_ticket(cast.alice, "Invoice shows the wrong currency", "Please fix it.")
    by_description = await open_ticket(cast.alice, "Billing question", "My invoice total is doubled.")
    by_message = await open_ticket(cast.alice, "Something odd", "See below.")
    await post(cast.alice, by_message["id"], "The invoices page keeps spinning", "c1")
    await open_ticket(cast.alice, "Unrelated", "Printer on fire.")

    results = await search(cast.admin, "invoice")
    assert found(results) == [
        (by_subject["id"], "subject"),
        (by_description["id"], "description"),
        (by_message["id"], "message"),
    ]
    assert results[0]["ticket"] == by_subject | {"updated_at": results[0]["ticket"]["updated_at"]}
    assert results[0]["snippet"] == "Invoice shows the wrong currency"
    assert marked(results[0]) == ["Invoice"]
    assert marked(results[1]) == ["invoice"]
    assert marked(results[2]) == ["invoices"]  # stemming: invoices ~ invoice
    assert "spinning" in results[2]["snippet"]

    assert await search(cast.admin, "nothing like this anywhere") == []


async def test_every_word_must_match_and_each_may_have_a_typo(cast: Cast) -> None:
    wanted = await open_ticket(cast.alice, "Password reset email never arrives", "I asked twice.")
    await open_ticket(cast.alice, "Password change", "How do I change my password?")
    await open_ticket(cast.alice, "Reset my router", "The router needs a reset.")

    assert found(await search(cast.alice, "password reset")) == [(wanted["id"], "subject")]
    # One typo in each word: a missing letter, an extra one, a swap, a wrong one.
    for q in ("pasword resett", "passwrod reset", "password rest", "passward reser", "PASWORD  Reset!"):
        results = await search(cast.alice, q)
        assert found(results) == [(wanted["id"], "subject")], q
        assert marked(results[0]) == ["Password", "reset"], q
    # Two typos in a short word are not forgiven.
    assert await search(cast.alice, "pasord reset") == []


async def test_short_words_and_codes(cast: Cast) -> None:
    ticket = await open_ticket(
        cast.alice, "App crashes with ERR-4012 on login", "Every time since the update."
    )
    assert found(await search(cast.alice, "err-4012")) == [(ticket["id"], "subject")]
    [by_number] = await search(cast.alice, "4012")
    assert (by_number["ticket"]["id"], by_number["matched"]) == (ticket["id"], "subject")
    assert by_number["snippet"] == "App crashes with ERR-4012 on login"
    assert marked(by_number) == ["4012"]
    assert found(await search(cast.alice, "lgoin")) == [(ticket["id"], "subject")]  # swapped letters
    assert found(await search(cast.alice, "updte")) == [(ticket["id"], "description")]
    # Stop words alone find nothing (and do not fail).
    assert await search(cast.alice, "the and of") == []
    # Operators of the query language are just text.
    for q in ("login & !crash", "'login'", "lo:gin*", "(login | x)", "\\ login", "<->", "--"):
        r = await cast.alice.client.get("/search", params={"q": q})
        assert r.status_code == 200, (q, r.text)


# --- who sees what -------------------------------------------------------------------------------


async def test_results_are_scoped_by_role(cast: Cast) -> None:
    mine = await open_ticket(cast.alice, "Refund for order", "The refund has not arrived.")
    theirs = await open_ticket(cast.bob, "Refund please", "I want a refund.")
    await post(cast.bob, theirs["id"], "Any news on my refund?", "c1")
    await assign(cast.admin, mine["id"], cast.agent1)

    assert {t for t, _ in found(await search(cast.alice, "refund"))} == {mine["id"]}
    assert {t for t, _ in found(await search(cast.bob, "refund"))} == {theirs["id"]}
    assert {t for t, _ in found(await search(cast.agent1, "refund"))} == {mine["id"]}
    assert await search(cast.agent2, "refund") == []
    assert {t for t, _ in found(await search(cast.admin, "refund"))} == {mine["id"], theirs["id"]}
    # Another customer's words, even misspelt, find nothing of theirs.
    assert await search(cast.alice, "any news") == []


async def test_an_agent_finds_messages_of_the_tickets_assigned_to_them_now(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice, "Printer", "It jams.")
    await post(cast.alice, ticket["id"], "The toner light blinks", "c1")  # before any agent
    await assign(cast.admin, ticket["id"], cast.agent1)
    await post(cast.agent1, ticket["id"], "Try a new toner cartridge", "c2")
    assert found(await search(cast.agent1, "toner")) == [(ticket["id"], "message")]
    assert await search(cast.agent2, "toner") == []

    await assign(cast.admin, ticket["id"], cast.agent2)
    assert await search(cast.agent1, "toner") == []
    assert found(await search(cast.agent2, "toner cartridge")) == [(ticket["id"], "message")]
    assert [t["id"] for t in await listed(cast.agent2, q="blinks")] == [ticket["id"]]


async def test_internal_notes_are_for_staff_only(cast: Cast, database_url: str) -> None:
    ticket = await open_ticket(cast.alice, "Charged twice", "I see two payments.")
    await assign(cast.admin, ticket["id"], cast.agent1)
    await post(cast.agent1, ticket["id"], "We will refund the duplicate payment.", "c1")
    await add_note(
        database_url, ticket["id"], cast.agent1, "Refund approved by finance, see Zanzibar ledger."
    )

    # The customer never matches the note, nor sees its words in a snippet.
    assert await search(cast.alice, "zanzibar") == []
    assert await search(cast.alice, "zanzibr") == []
    assert await search(cast.alice, "finance") == []
    refund = await search(cast.alice, "refund")
    assert found(refund) == [(ticket["id"], "message")]
    assert "finance" not in refund[0]["snippet"] and "Zanzibar" not in refund[0]["snippet"]
    assert await listed(cast.alice, q="zanzibar") == []

    # Staff who may see the ticket find it through the note, labelled as one.
    for staff in (cast.agent1, cast.admin):
        results = await search(staff, "zanzibar ledger")
        assert found(results) == [(ticket["id"], "note")]
        assert marked(results[0]) == ["Zanzibar", "ledger"]
    assert await search(cast.agent2, "zanzibar") == []


async def test_snippets_are_plain_text(cast: Cast, server: AppServer) -> None:
    evil = "Hello <script>alert(1)</script> <b>bold</b> password"
    ticket = await open_ticket(cast.alice, "Login trouble", evil + f" {MARK_START}fake{MARK_END} &amp;")
    [result] = await search(cast.alice, "password")
    assert result["matched"] == "description"
    assert "<script>alert(1)</script>" in result["snippet"]  # text, to be escaped by whoever shows it
    assert marked(result) == ["password"]
    assert MARK_START not in result["snippet"] and "fake" in result["snippet"]

    page = httpx.AsyncClient(base_url=server.url, cookies=cast.alice.client.cookies, timeout=30)
    server.clients.append(page)
    r = await page.get("/search", params={"q": "pasword"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in r.text and "<b>bold" not in r.text
    assert html.escape("<script>alert(1)</script>", quote=False) in r.text
    assert "<mark>password</mark>" in r.text
    assert f'href="/tickets/{ticket["id"]}"' in r.text


async def test_subject_matches_rank_above_message_matches(cast: Cast) -> None:
    in_subject = await open_ticket(cast.alice, "Shipping delay", "Where is my parcel?")
    in_message = await open_ticket(cast.alice, "Question", "About my order.")
    # Newer activity does not beat a better match; among equals the newest comes first.
    await post(cast.alice, in_message["id"], "Shipping shipping shipping is slow", "c1")
    in_description = await open_ticket(cast.alice, "Order", "Shipping to Norway?")
    older_subject = in_subject
    newer_subject = await open_ticket(cast.alice, "Shipping address", "Change it.")
    assert found(await search(cast.alice, "shipping")) == [
        (newer_subject["id"], "subject"),
        (older_subject["id"], "subject"),
        (in_description["id"], "description"),
        (in_message["id"], "message"),
    ]
    assert len(await search(cast.alice, "shipping", limit="2")) == 2


async def test_one_result_per_ticket_with_its_best_match(cast: Cast) -> None:
    ticket = await open_ticket(cast.alice, "Voucher not accepted", "The voucher code fails.")
    await post(cast.alice, ticket["id"], "voucher again", "c1")
    await post(cast.alice, ticket["id"], "and the voucher once more", "c2")
    assert found(await search(cast.alice, "voucher")) == [(ticket["id"], "subject")]


# --- input ---------------------------------------------------------------------------------------


async def test_query_validation(cast: Cast) -> None:
    c = cast.alice.client
    expect_error(await c.get("/search"), 422, "required", "q")
    expect_error(await c.get("/search", params={"q": "   "}), 422, "required", "q")
    expect_error(await c.get("/search", params={"q": "x" * 201}), 422, "too_long", "q")
    assert (await c.get("/search", params={"q": "x" * 200})).status_code == 200
    expect_error(await c.get("/search", params={"q": "a\x00b"}), 422, "bad_characters", "q")
    for bad in ("0", "51", "x", "-1"):
        r = await c.get("/search", params={"q": "a", "limit": bad})
        assert r.status_code == 422 and r.json()["error"]["field"] == "limit", (bad, r.text)
    expect_error(await cast.anon.get("/search", params={"q": "refund"}), 401, "not_authenticated")


async def test_q_filters_the_ticket_list(cast: Cast) -> None:
    a = await open_ticket(cast.alice, "Refund for order 1", "Please.")
    b = await open_ticket(cast.alice, "Refund for order 2", "Please.")
    await open_ticket(cast.alice, "Password reset", "Help.")
    await cast.alice.client.post(f"/tickets/{a['id']}/close")

    assert {t["id"] for t in await listed(cast.alice, q="refnud")} == {a["id"], b["id"]}
    assert [t["id"] for t in await listed(cast.alice, q="refund", status="open")] == [b["id"]]
    assert [t["id"] for t in await listed(cast.alice, q="refund", status="closed")] == [a["id"]]
    assert await listed(cast.alice, q="zebra") == []
    assert len(await listed(cast.alice)) == 3
    assert await listed(cast.bob, q="refund") == []
    expect_error(await cast.alice.client.get("/tickets", params={"q": "x" * 201}), 422, "too_long", "q")


# --- the pure parts ------------------------------------------------------------------------------


def test_edit_distance_counts_a_swap_as_one_typo() -> None:
    assert edit_distance("password", "password") == 0
    assert edit_distance("pasword", "password") == 1
    assert edit_distance("passwrod", "password") == 1
    assert edit_distance("teh", "the") == 1
    assert edit_distance("pasord", "password") == 2
    assert "the" in one_edit_variants("teh") and "teh" not in one_edit_variants("teh")


def test_terms_and_tsquery_text() -> None:
    assert terms("Pasword, RESET! err-4012 o'neil a@b.com __") == [
        "pasword",
        "reset",
        "err",
        "4012",
        "o'neil",
        "a@b.com",
    ]
    assert to_tsquery([["password"], ["o'neil", "oneil"]]) == "('password') & ('o''neil' | 'oneil')"


def test_split_snippet_gives_text_and_ranges() -> None:
    text, ranges = split_snippet(
        f"  the {MARK_START}Password{MARK_END}\n\n {MARK_START}reset{MARK_END} mail "
    )
    assert text == "the Password reset mail"
    assert [text[s:e] for s, e in ranges] == ["Password", "reset"]
