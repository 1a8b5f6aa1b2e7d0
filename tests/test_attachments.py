"""Attachments: upload, who may open them, how they are served, and posting them in chat."""

from __future__ import annotations

import hashlib
import io
import secrets
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import AppServer, MakeAppServer
from tests.helpers import Mailbox
from tests.ticket_helpers import Cast, Person, assign, customer, expect_error, fetch, make_cast, open_ticket
from tests.ws_helpers import Endpoint
from tests.ws_helpers import Person as WsPerson

HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.domain)</script><rect width='10' height='10'/></svg>"
)


def png(width: int = 640, height: int = 480, color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 1200, height: int = 800) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A small, well-formed PNG whose header announces 2.5 gigapixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * 1024)  # a start: decoding never gets this far
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


async def upload(
    who: Person | httpx.AsyncClient, ticket_id: str, name: str, data: bytes, content_type: str = "image/png"
) -> httpx.Response:
    client = who.client if isinstance(who, Person) else who
    return await client.post(f"/tickets/{ticket_id}/attachments", files={"file": (name, data, content_type)})


async def raw_upload(who: Person, ticket_id: str, filename: str) -> httpx.Response:
    """A multipart upload whose filename is sent byte for byte (HTTP clients would
    percent-encode control characters and quotes themselves)."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: text/plain\r\n\r\nplain text\r\n--{boundary}--\r\n"
    ).encode()
    return await who.client.post(
        f"/tickets/{ticket_id}/attachments",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )


async def uploaded(who: Person, ticket_id: str, name: str, data: bytes, **kw: Any) -> dict[str, Any]:
    r = await upload(who, ticket_id, name, data, **kw)
    assert r.status_code == 201, r.text
    return r.json()["attachment"]


async def post_with(
    who: Person, ticket_id: str, ids: list[str], body: str = "", **extra: Any
) -> httpx.Response:
    return await who.client.post(
        f"/tickets/{ticket_id}/messages",
        json={"body": body, "client_id": secrets.token_hex(8), "attachment_ids": ids, **extra},
    )


async def get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    # Attachment URLs are site paths (/api/v1/…); the clients' base URL already ends in /api/v1.
    return await client.get(url.removeprefix("/api/v1"))


@pytest.fixture
async def cast(server: AppServer, smtp: Mailbox, database_url: str) -> Cast:
    return await make_cast(server, smtp, database_url)


@pytest.fixture
async def ticket(cast: Cast) -> dict[str, Any]:
    """Alice's ticket, assigned to agent1."""
    opened = await open_ticket(cast.alice)
    return await assign(cast.admin, opened["id"], cast.agent1)


def assert_served(r: httpx.Response, *, inline: bool) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "sandbox"
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("inline;" if inline else "attachment;"), disposition
    assert "private" in r.headers["cache-control"] and "immutable" in r.headers["cache-control"]


async def test_upload_answers_the_attachment_and_the_bytes_come_back(cast: Cast, ticket: dict) -> None:
    photo = png()
    a = await uploaded(cast.alice, ticket["id"], "screen shot.png", photo)
    assert set(a) == {"id", "name", "content_type", "size", "url", "thumbnail_url"}
    assert (a["name"], a["content_type"], a["size"]) == ("screen shot.png", "image/png", len(photo))
    assert a["url"] == f"/api/v1/attachments/{a['id']}"
    assert a["thumbnail_url"] == f"/api/v1/attachments/{a['id']}/thumbnail"
    r = await get(cast.alice.client, a["url"])
    assert_served(r, inline=True)
    assert r.headers["content-type"] == "image/png"
    assert r.content == photo
    # An agent uploads too, and the type comes from the bytes, not the header or the name.
    b = await uploaded(
        cast.agent1,
        ticket["id"],
        "report",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
        content_type="text/html",
    )
    assert b["content_type"] == "application/pdf"


async def test_serving_rules_per_type(cast: Cast, ticket: dict) -> None:
    """Images and PDF inline, everything else a download; nosniff and sandbox always."""
    cases = [
        ("photo.jpg", jpeg(), "image/jpeg", True),
        ("anim.gif", _gif(), "image/gif", True),
        ("pic.webp", _webp(), "image/webp", True),
        ("manual.pdf", b"%PDF-1.7\n1 0 obj << >> endobj\n", "application/pdf", True),
        ("notes.txt", "naïve café\n".encode(), "text/plain", False),
        ("page.html", HTML, "text/plain", False),
        ("archive.zip", _zip(), "application/zip", False),
        ("data.bin", bytes(range(256)) * 4, "application/octet-stream", False),
    ]
    for name, data, kind, inline in cases:
        a = await uploaded(cast.alice, ticket["id"], name, data, content_type="application/octet-stream")
        assert a["content_type"] == kind, (name, a)
        r = await post_with(cast.alice, ticket["id"], [a["id"]])
        assert r.status_code == 201, r.text
        for who in (cast.alice, cast.agent1, cast.admin):
            served = await get(who.client, a["url"])
            assert_served(served, inline=inline)
            assert served.content == data
            assert served.headers["content-type"].split(";")[0] == kind


async def test_html_named_png_is_not_an_image(cast: Cast, ticket: dict) -> None:
    a = await uploaded(cast.alice, ticket["id"], "cute-cat.png", HTML, content_type="image/png")
    assert a["content_type"] == "text/plain"
    assert a["thumbnail_url"] is None
    r = await get(cast.alice.client, a["url"])
    assert_served(r, inline=False)
    assert not r.headers["content-type"].startswith(("image/", "text/html"))


async def test_svg_with_script_is_a_sandboxed_download(cast: Cast, ticket: dict) -> None:
    a = await uploaded(cast.alice, ticket["id"], "logo.svg", SVG, content_type="image/svg+xml")
    assert a["content_type"] != "image/svg+xml"
    assert a["thumbnail_url"] is None
    r = await get(cast.alice.client, a["url"])
    assert_served(r, inline=False)
    assert "svg" not in r.headers["content-type"]
    assert r.headers["content-disposition"].endswith("filename*=UTF-8''logo.svg")


async def test_names_are_sanitised_and_sent_with_rfc_6266_filename(cast: Cast, ticket: dict) -> None:
    r = await raw_upload(cast.alice, ticket["id"], "..\\..\\etc/pass\x1bwd\u202egpj.exe")
    assert r.status_code == 201, r.text
    assert r.json()["attachment"]["name"] == "passwdgpj.exe"
    long = await uploaded(cast.alice, ticket["id"], "x" * 300 + ".txt", b"plain text")
    assert len(long["name"]) == 200 and long["name"].endswith(".txt")
    named = await raw_upload(cast.alice, ticket["id"], 'Rechnung \\"März\\".txt')
    assert named.json()["attachment"]["name"] == 'Rechnung "März".txt'
    r = await get(cast.alice.client, named.json()["attachment"]["url"])
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"Rechnung _M_rz_.txt\"; filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22.txt"
    )


async def test_who_may_open_an_attachment(cast: Cast, ticket: dict, database_url: str) -> None:
    """Its ticket's people; everyone else gets the very same 404 as for no such file."""
    a = await uploaded(cast.alice, ticket["id"], "shot.png", png())
    # Before it is posted, only its uploader sees it.
    assert (await get(cast.agent1.client, a["url"])).status_code == 404
    assert (await post_with(cast.alice, ticket["id"], [a["id"]])).status_code == 201
    missing = await get(cast.alice.client, "/api/v1/attachments/999999")
    assert missing.status_code == 404
    for url in (a["url"], a["thumbnail_url"]):
        for who in (cast.alice.client, cast.agent1.client, cast.admin.client):
            assert (await get(who, url)).status_code == 200
        for who in (cast.bob.client, cast.agent2.client, cast.anon):
            r = await get(who, url)
            assert (r.status_code, r.content) == (404, missing.content), url
    assert (await get(cast.alice.client, "/api/v1/attachments/nonsense")).content == missing.content

    # A file on an internal note is for staff. (Notes are written by the workspace's note
    # feature; here the message is turned into one in the database.)
    note = await uploaded(cast.agent1, ticket["id"], "internal.png", png(color=(1, 2, 3)))
    r = await post_with(cast.agent1, ticket["id"], [note["id"]], body="for the team")
    assert r.status_code == 201, r.text
    await fetch(
        database_url, "UPDATE messages SET internal = true WHERE id = $1", int(r.json()["message"]["id"])
    )
    for url in (note["url"], note["thumbnail_url"]):
        assert (await get(cast.agent1.client, url)).status_code == 200
        assert (await get(cast.admin.client, url)).status_code == 200
        r = await get(cast.alice.client, url)
        assert (r.status_code, r.content) == (404, missing.content)


async def test_upload_access_and_validation(cast: Cast, ticket: dict) -> None:
    tid = ticket["id"]
    for who in (cast.bob, cast.agent2):
        expect_error(await upload(who, tid, "a.png", png()), 404, "not_found")
    expect_error(await upload(cast.anon, tid, "a.png", png()), 401, "not_authenticated")
    expect_error(await upload(cast.alice, tid, "empty.txt", b""), 422, "empty_file", "file")
    r = await cast.alice.client.post(f"/tickets/{tid}/attachments", data={"other": "x"})
    expect_error(r, 422, "required", "file")
    # Admins attach files to internal notes.
    assert (await upload(cast.admin, tid, "a.png", png())).status_code == 201


async def test_uploads_over_the_limit_are_413(
    make_app_server: MakeAppServer, smtp: Mailbox, database_url: str
) -> None:
    server = await make_app_server(max_upload=2000)
    big = await customer(server, smtp, "big@example.com")  # not in the module's cast
    tid = (await open_ticket(big))["id"]
    assert (await upload(big, tid, "fits.bin", b"x" * 2000)).status_code == 201
    # Just over: the body fits the multipart allowance, the file does not.
    expect_error(await upload(big, tid, "over.bin", b"x" * 2001), 413, "file_too_large", "file")
    # Far over: refused on Content-Length before the body is read.
    expect_error(await upload(big, tid, "huge.bin", b"x" * 300_000), 413, "too_large")

    # Far over without a Content-Length (chunked): counted as it streams, refused the same way.
    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n\r\n'
        for _ in range(40):
            yield b"x" * 10_000
        yield b"\r\n--b0undary--\r\n"

    r = await big.client.post(
        f"/tickets/{tid}/attachments",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=b0undary"},
    )
    expect_error(r, 413, "too_large")
    # The upload allowance is for uploads only: other requests keep the 1 MB limit.
    r = await big.client.post("/tickets", content=b"{" + b" " * (1024 * 1024 + 10) + b"}")
    expect_error(r, 413, "too_large")


async def test_identical_files_share_one_blob(cast: Cast, ticket: dict, database_url: str) -> None:
    data = png(color=(9, 9, 9))
    first = await uploaded(cast.alice, ticket["id"], "one.png", data)
    second = await uploaded(cast.agent1, ticket["id"], "two.png", data)
    assert first["id"] != second["id"]
    rows = await fetch(
        database_url,
        "SELECT blob_key, thumbnail_key FROM attachments WHERE id = ANY($1::bigint[]) ORDER BY id",
        [int(first["id"]), int(second["id"])],
    )
    assert rows[0]["blob_key"] == rows[1]["blob_key"] and rows[0]["thumbnail_key"] == rows[1]["thumbnail_key"]
    assert rows[0]["blob_key"] == hashlib.sha256(data).hexdigest()
    blobs = await fetch(
        database_url,
        "SELECT count(*) AS n FROM blobs WHERE key = ANY($1::text[])",
        [rows[0]["blob_key"], rows[0]["thumbnail_key"]],
    )
    assert blobs[0]["n"] == 2  # the file and its thumbnail, once each


async def test_thumbnails_for_real_images(cast: Cast, ticket: dict) -> None:
    for name, data, size in (
        ("wide.png", png(1600, 400), (320, 80)),
        ("photo.jpg", jpeg(800, 1200), (213, 320)),
    ):
        a = await uploaded(cast.alice, ticket["id"], name, data)
        r = await get(cast.alice.client, a["thumbnail_url"])
        assert_served(r, inline=True)
        assert r.headers["content-type"].startswith("image/")
        with Image.open(io.BytesIO(r.content)) as thumb:
            assert thumb.size == size
    text = await uploaded(cast.alice, ticket["id"], "a.txt", b"words")
    assert text["thumbnail_url"] is None
    r = await get(cast.alice.client, f"/api/v1/attachments/{text['id']}/thumbnail")
    expect_error(r, 404, "not_found")


async def test_a_decompression_bomb_is_kept_without_a_thumbnail(cast: Cast, ticket: dict) -> None:
    """Chosen: the upload stands (201) with no thumbnail, and it is a download, not inline."""
    bomb = png_bomb()
    a = await uploaded(cast.alice, ticket["id"], "bomb.png", bomb)
    assert (a["content_type"], a["thumbnail_url"]) == ("image/png", None)
    r = await get(cast.alice.client, a["url"])
    assert_served(r, inline=False)
    assert r.content == bomb


async def test_attachment_ids_are_checked(cast: Cast, ticket: dict, server: AppServer) -> None:
    tid = ticket["id"]
    mine = await uploaded(cast.alice, tid, "mine.png", png())
    theirs = await uploaded(cast.agent1, tid, "theirs.png", png())
    other_ticket = (await open_ticket(cast.alice, subject="Another"))["id"]
    elsewhere = await uploaded(cast.alice, other_ticket, "elsewhere.png", png())
    for ids in ([theirs["id"]], [elsewhere["id"]], ["999999"], [mine["id"], theirs["id"]]):
        expect_error(await post_with(cast.alice, tid, ids), 422, "invalid_attachment", "attachment_ids")
    expect_error(await post_with(cast.alice, tid, ["x"]), 422, "wrong_type", "attachment_ids")
    expect_error(
        await post_with(cast.alice, tid, [str(i) for i in range(1, 12)]), 422, "too_many", "attachment_ids"
    )
    expect_error(await post_with(cast.alice, tid, "1"), 422, "wrong_type", "attachment_ids")  # type: ignore[arg-type]
    # Nothing was stored by the failed posts; the file is still free to send.
    r = await post_with(cast.alice, tid, [mine["id"]])
    assert r.status_code == 201, r.text
    message = r.json()["message"]
    assert message["body"] == "" and [a["id"] for a in message["attachments"]] == [mine["id"]]
    assert message["seq"] == 1
    # Used already.
    expect_error(await post_with(cast.alice, tid, [mine["id"]]), 422, "invalid_attachment", "attachment_ids")
    # Without attachments a body is still required.
    expect_error(await post_with(cast.alice, tid, []), 422, "required", "body")
    # The history carries the attachments too.
    r = await cast.agent1.client.get(f"/tickets/{tid}/messages")
    assert [m["attachments"] for m in r.json()["messages"]] == [[mine]]


async def test_messages_with_attachments_over_the_websocket(
    cast: Cast, ticket: dict, server: AppServer
) -> None:
    site = Endpoint(server.url, server.settings.origin)
    try:
        alice = WsPerson(cast.alice.user, cast.alice.email, cast.alice.client)
        agent = WsPerson(cast.agent1.user, cast.agent1.email, cast.agent1.client)
        agent_room = await site.room(agent, ticket["id"])
        alice_room = await site.room(alice, ticket["id"])
        shot = await uploaded(cast.alice, ticket["id"], "shot.png", png())
        await alice_room.send(
            {"type": "message", "client_id": "c1", "body": "", "attachment_ids": [shot["id"]]}
        )
        ack = await alice_room.recv_until("ack")
        assert ack["client_id"] == "c1"
        frame = await agent_room.recv_until("message")
        assert frame["message"]["attachments"] == [shot]
        assert frame["message"]["body"] == ""
        # A bad id over the socket is an error frame; the socket stays open.
        await alice_room.send({"type": "message", "client_id": "c2", "body": "x", "attachment_ids": ["999"]})
        error = await alice_room.recv_until("error")
        assert (error["code"], error["client_id"]) == ("invalid_attachment", "c2")
        # A socket that resumes from the start gets the attachments in the backfill.
        late = await site.room(agent, ticket["id"], after=0)
        backfilled = await late.recv_until("message")
        assert backfilled["message"]["attachments"] == [shot]
    finally:
        await site.aclose()


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (40, 30), 3).save(out, "GIF")
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (5, 90, 10)).save(out, "WEBP")
    return out.getvalue()


def _zip() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("a.txt", "hello")
    return out.getvalue()


async def test_pages_without_javascript(cast: Cast, server: AppServer) -> None:
    """The new-ticket form and the chat composer post files themselves (multipart), and the
    page shows thumbnails and cards as plain links, names escaped."""
    pages = httpx.AsyncClient(base_url=server.url, cookies=cast.alice.client.cookies, timeout=30)
    try:
        r = await pages.post(
            "/tickets/new",
            data={"subject": "Broken screen", "description": "See the photo."},
            files={"file": ("photo.png", png(), "image/png")},
        )
        assert r.status_code == 303, r.text
        page_path = r.headers["location"]
        ticket_id = page_path.rsplit("/", 1)[1]
        r = await pages.post(
            f"{page_path}/messages",
            data={"body": "", "client_id": "no-js-1"},
            files={"file": ("<em>log.txt", b"line one\n" * 300, "text/plain")},
        )
        assert r.status_code == 303, r.text
        history = (await cast.alice.client.get(f"/tickets/{ticket_id}/messages")).json()["messages"]
        photo, log = history[0]["attachments"][0], history[1]["attachments"][0]
        html = (await pages.get(page_path)).text
        assert f'<a class="att-thumb" href="{photo["url"]}"' in html
        assert f'<img src="{photo["thumbnail_url"]}" alt="photo.png"' in html
        assert f'<a class="att-card" href="{log["url"]}">' in html
        assert "&lt;em&gt;log.txt" in html and "<em>log" not in html
        assert '<span class="att-size">2.6 KB</span>' in html
        # An empty file chosen on the form is an error shown on the page, and nothing is posted.
        r = await pages.post(
            f"{page_path}/messages",
            data={"body": "hi", "client_id": "no-js-2"},
            files={"file": ("e.txt", b"")},
        )
        assert r.status_code == 422 and "The file is empty." in r.text
        # Neither text nor a file: the message is refused as before.
        r = await pages.post(f"{page_path}/messages", data={"body": "", "client_id": "no-js-3"})
        assert r.status_code == 422, r.status_code
        assert len((await cast.alice.client.get(f"/tickets/{ticket_id}/messages")).json()["messages"]) == 2
    finally:
        await pages.aclose()
