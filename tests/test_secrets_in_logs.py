"""Live tokens stay out of logs: the access log redacts them, file-mode email logs its links
only at debug level, and the token pages also take the token from the link's #fragment."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from ccr.mail.sender import FileSender
from ccr.store.outbox import Email
from ccr.web.access_log import redact
from tests.helpers import CcrProcess, ccr_env, free_port


def test_redact_replaces_every_token_value() -> None:
    assert redact("/reset-password?token=abc-DEF_123") == "/reset-password?token=[redacted]"
    assert redact("/verify-email?x=1&token=abc&y=2") == "/verify-email?x=1&token=[redacted]&y=2"
    assert redact("/confirm-email?TOKEN=abc") == "/confirm-email?TOKEN=[redacted]"
    assert redact("/setup?setup_token=abc") == "/setup?setup_token=[redacted]"
    assert redact("/tickets?status=open") == "/tickets?status=open"


async def test_the_access_log_never_holds_a_live_token(
    database_url: str, tmp_path: Path, ccr_processes: list[CcrProcess]
) -> None:
    env = ccr_env(DATABASE_URL=database_url, SECRET_KEY="s", CCR_DATA_DIR=str(tmp_path / "data"))
    env["CCR_LOG_LEVEL"] = "info"  # the access log is on at info
    process = CcrProcess(free_port(), env, tmp_path / "serve.log")
    ccr_processes.append(process)
    await process.start()
    async with httpx.AsyncClient(base_url=process.url) as client:
        await client.get("/reset-password?token=LIVE-RESET-SECRET")
        await client.get("/verify-email?token=LIVE-VERIFY-SECRET")
        await client.get("/reset-password?next=1&token=LIVE-THIRD-SECRET")
    await process.stop()
    log = process.log()
    assert "GET /reset-password?token=[redacted]" in log  # the request is still logged
    assert "SECRET" not in log


@pytest.mark.parametrize("level", [logging.INFO, logging.DEBUG])
async def test_file_mode_email_logs_links_only_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    link = "http://127.0.0.1:8000/reset-password?token=LIVE-LINK-SECRET"
    email = Email(1, "u@example.com", "Reset your password", f"Open {link}\n", None, "<m@test>", 1)
    with caplog.at_level(level, logger="ccr.mail.sender"):
        await FileSender(tmp_path / "outbox", "care@example.com").send(email)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "u@example.com" in logged  # that an email was written is still said
    assert (link in logged) == (level == logging.DEBUG)
    assert link in (tmp_path / "outbox" / "00000001.eml").read_text()
