"""`ccr serve` with nothing configured: embedded PostgreSQL, .eml outbox, generated secret."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import time
from email.message import EmailMessage
from pathlib import Path

from tests.helpers import PASSWORD, CcrProcess, ccr_env, free_port, login, names, token_in


def running(pid: int) -> bool:
    """True while `pid` is a live process (a zombie is already dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and running(int(entry.name)):
            pids.append(int(entry.name))
    return pids


async def wait_for_eml(outbox: Path, to: str, timeout: float = 15) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if msg["To"] == to:
                assert isinstance(msg, EmailMessage)
                return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"no .eml to {to} in {outbox} within {timeout}s")
        await asyncio.sleep(0.1)


async def assert_postgres_stopped(data_dir: Path, postmaster_pid: int) -> None:
    deadline = time.monotonic() + 15
    while running(postmaster_pid) or processes_mentioning(str(data_dir / "pg")):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"PostgreSQL still running for {data_dir}: {processes_mentioning(str(data_dir))}"
            )
        await asyncio.sleep(0.1)


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


async def test_serve_with_nothing_configured(ccr_processes: list[CcrProcess], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Not even BASE_URL: unset, it is where `ccr serve` listens, so the link below uses our port.
    env = ccr_env(CCR_DATA_DIR=str(data_dir))
    assert not {"DATABASE_URL", "SMTP_URL", "REDIS_URL", "SECRET_KEY", "BASE_URL"} & set(env)

    first = CcrProcess(port, env, tmp_path / "serve1.log")
    ccr_processes.append(first)
    await first.start(timeout=120)
    async with first.client() as client:
        r = await client.post(
            "/auth/register", json={"email": "eve@example.com", "password": PASSWORD, **names("eve")}
        )
        assert r.status_code == 202
        msg = await wait_for_eml(data_dir / "outbox", "eve@example.com")
        token = token_in(msg, "/verify-email")
        assert f"{base_url}/verify-email?token={token}" in msg.get_body(("plain",)).get_content()
        r = await client.post("/auth/verify-email", json={"token": token})
        assert r.status_code == 204
        await login(client, "eve@example.com")
        cookie = client.cookies["ccr_session"]

    assert (data_dir / "secret_key").exists()
    secret = (data_dir / "secret_key").read_text()
    pid = postmaster_pid(data_dir)
    assert running(pid)
    assert await first.stop() == 0
    await assert_postgres_stopped(data_dir, pid)

    # Data, sessions and the secret key survive a restart.
    second = CcrProcess(port, env, tmp_path / "serve2.log")
    ccr_processes.append(second)
    await second.start(timeout=120)
    async with second.client() as client:
        client.cookies.set("ccr_session", cookie)
        r = await client.get("/me")
        assert r.status_code == 200
        assert r.json()["user"]["email"] == "eve@example.com"
    async with second.client() as client:
        await login(client, "eve@example.com")
    assert (data_dir / "secret_key").read_text() == secret
    pid = postmaster_pid(data_dir)
    assert await second.stop() == 0
    await assert_postgres_stopped(data_dir, pid)
