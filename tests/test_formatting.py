"""ccr/web/formatting.py: links in what people write are safe; times read as people say them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ccr.web.formatting import ago, linkify, waited

REL = 'rel="noopener noreferrer nofollow" target="_blank"'


def link(url: str) -> str:
    return f'<a href="{url}" {REL}>{url}</a>'


def test_http_https_and_mailto_become_links() -> None:
    assert linkify("see https://example.com/a?b=1&c=2 now") == (
        f"see {link('https://example.com/a?b=1&amp;c=2')} now"
    )
    assert linkify("http://x.test") == link("http://x.test")
    assert linkify("write to mailto:help@example.com") == f"write to {link('mailto:help@example.com')}"
    assert linkify("HTTPS://EXAMPLE.COM") == link("HTTPS://EXAMPLE.COM")


def test_other_schemes_stay_text() -> None:
    for text in ("javascript:alert(1)", "data:text/html,<b>x</b>", "vbscript:msgbox", "file:///etc/passwd"):
        out = linkify(text)
        assert "<a" not in out, out
    assert linkify("javascript:alert(1)") == "javascript:alert(1)"
    assert linkify("data:text/html,<b>x</b>") == "data:text/html,&lt;b&gt;x&lt;/b&gt;"
    # A link hidden after a script scheme links only the http part.
    assert linkify("javascript:alert(1)//http://x.test") == f"javascript:alert(1)//{link('http://x.test')}"
    assert linkify("https:// alone") == "https:// alone"


def test_quotes_and_markup_cannot_escape_the_attribute() -> None:
    out = linkify('https://x.test/"onmouseover="alert(1)')
    assert out == f"{link('https://x.test/')}&#34;onmouseover=&#34;alert(1)"
    out = linkify("https://x.test/'><script>alert(1)</script>")
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert out.startswith(link("https://x.test/"))
    assert linkify("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert linkify("a & b") == "a &amp; b"


def test_trailing_punctuation_is_not_part_of_the_link() -> None:
    assert linkify("Go to https://x.test/page.") == f"Go to {link('https://x.test/page')}."
    assert linkify("(see https://x.test/a)") == f"(see {link('https://x.test/a')})"
    assert linkify("https://en.wikipedia.org/wiki/Foo_(bar)") == link(
        "https://en.wikipedia.org/wiki/Foo_(bar)"
    )
    assert linkify("https://x.test/?q=1, then") == f"{link('https://x.test/?q=1')}, then"
    assert linkify("Really? https://x.test!?") == f"Really? {link('https://x.test')}!?"


def test_empty_text() -> None:
    assert linkify("") == "" and linkify(None) == ""


def test_relative_times() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=3), now) == "3 min ago"
    assert ago(now - timedelta(hours=5), now) == "5 h ago"
    assert ago(now - timedelta(hours=30), now) == "yesterday"
    assert ago(now - timedelta(days=3), now) == "3 days ago"
    assert ago(now - timedelta(days=40), now) == "22 Oct 2026"
    assert ago(None) == ""
    assert waited(now - timedelta(seconds=5), now) == "1 min"
    assert waited(now - timedelta(minutes=12), now) == "12 min"
    assert waited(now - timedelta(hours=3, minutes=5), now) == "3 h"
    assert waited(now - timedelta(days=2), now) == "2 d"
