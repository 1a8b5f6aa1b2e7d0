"""The email channel against a real Dovecot: the reader, parsing, threading, loops."""

from __future__ import annotations

from tests.imap_helpers import Account


def test_the_test_mailbox_takes_and_shows_mail(support_inbox: Account) -> None:
    support_inbox.append("From: a@example.com\nSubject: hello\n\nbody\n")
    [(raw, flags)] = support_inbox.folder("INBOX")
    assert b"Subject: hello" in raw and "\\Seen" not in flags
    assert support_inbox.folder("Processed") == []
