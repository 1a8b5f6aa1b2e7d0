"""The email channel's settings and the signed ticket address (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.config import Settings
from ccr.mail import threading
from ccr.mail.inbound import ImapConfig


def test_imap_url_and_support_address_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "CCR_DATA_DIR": str(tmp_path),
        "IMAP_URL": "imaps://support%40example.com:p%3Ass@imap.example.com/Support",
        "CCR_SUPPORT_ADDRESS": "help@example.com",
    })  # fmt: skip
    config = ImapConfig.from_url(settings.imap_url or "")
    assert (config.host, config.port, config.tls) == ("imap.example.com", 993, True)
    assert (config.user, config.password, config.mailbox) == ("support@example.com", "p:ss", "Support")
    assert ImapConfig.from_url("imap://u:p@mail.local").port == 143
    assert ImapConfig.from_url("imap://u:p@mail.local").mailbox == "INBOX"
    assert settings.support_address == "help@example.com"


def test_the_support_address_defaults_to_care_at_the_sites_host(tmp_path: Path) -> None:
    settings = Settings.from_env({"CCR_DATA_DIR": str(tmp_path), "BASE_URL": "https://desk.example.org"})
    assert settings.imap_url is None
    assert threading.support_address(settings.support_address, settings.base_url) == "care@desk.example.org"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IMAP_URL", "pop3://u:p@mail.example.com"),
        ("IMAP_URL", "imaps://mail.example.com/INBOX"),
        ("CCR_SUPPORT_ADDRESS", "support"),
        ("CCR_SUPPORT_ADDRESS", "support+x@example.com"),
        ("CCR_SUPPORT_ADDRESS", "Support <support@example.com>"),
    ],
)
def test_a_wrong_email_setting_stops_the_start(name: str, value: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=name):
        Settings.from_env({"CCR_DATA_DIR": str(tmp_path), name: value})


def test_a_ticket_address_names_its_ticket_only_and_cannot_be_forged() -> None:
    address = threading.ticket_address("key", "support@example.com", 42)
    assert address.startswith("support+t42-") and address.endswith("@example.com")
    found = threading.ticket_from_addresses
    assert found("key", "support@example.com", [f"Support <{address}>"]) == 42
    assert found("key", "support@example.com", [address.upper()]) == 42  # some systems upper-case
    assert found("key", "support@example.com", [address.replace("t42-", "t43-")]) is None
    assert found("other-key", "support@example.com", [address]) is None
    assert found("key", "support@example.com", [address.replace("example.com", "evil.example")]) is None
    assert found("key", "support@example.com", ["support@example.com"]) is None
