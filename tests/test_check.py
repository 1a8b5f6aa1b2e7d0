"""`ccr check` as a real subprocess against the real services."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Mailbox, ccr_env, free_port
from tests.imap_helpers import Account
from tests.test_cli import run_ccr


async def test_check_says_each_configured_service_answers(
    database_url: str, redis_url: str, smtp: Mailbox, support_inbox: Account, tmp_path: Path
) -> None:
    env = ccr_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SMTP_URL=smtp.url,
        IMAP_URL=support_inbox.url,
        CCR_DATA_DIR=str(tmp_path),
    )
    code, out, err = await run_ccr("check", env=env)
    assert code == 0, out + err
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()}
    assert lines == {"database": "ok", "redis": "ok", "smtp": "ok", "imap": "ok"}, out


async def test_check_fails_when_a_configured_service_does_not_answer(
    database_url: str, support_inbox: Account, tmp_path: Path
) -> None:
    dead_imap = support_inbox.url.replace(f":{support_inbox.port}/", f":{free_port()}/")
    wrong_password = support_inbox.url.replace(support_inbox.password, "not-the-password")
    for imap_url in (dead_imap, wrong_password):
        env = ccr_env(DATABASE_URL=database_url, IMAP_URL=imap_url, CCR_DATA_DIR=str(tmp_path))
        code, out, _ = await run_ccr("check", env=env)
        assert code == 1, out
        assert "imap      FAIL" in out and "database  ok" in out
        assert "redis     -" in out and "smtp      -" in out  # unset is not a failure


async def test_check_with_nothing_configured_succeeds(tmp_path: Path) -> None:
    code, out, _ = await run_ccr("check", env=ccr_env(CCR_DATA_DIR=str(tmp_path)))
    assert code == 0, out
    assert "imap      -     not set: no inbound email" in out
