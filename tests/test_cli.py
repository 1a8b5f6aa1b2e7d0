"""The `ccr` command as a real subprocess: create-admin, migrate, serve."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import argon2
import asyncpg
import pytest

from ccr.store.db import MIGRATIONS
from tests.conftest import AppServer, create_database, drop_database
from tests.helpers import CCR, PASSWORD, ccr_env, free_port, login


async def run_ccr(*args: str, env: dict[str, str], timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(CCR), *args, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"ccr {' '.join(args)} still running after {timeout}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_help_names_the_commands(tmp_path: Path) -> None:
    code, out, _ = await run_ccr("--help", env=ccr_env(CCR_DATA_DIR=str(tmp_path)))
    assert code == 0
    for command in ("serve", "migrate", "create-admin"):
        assert command in out


async def test_create_admin_then_the_same_email_again(
    server: AppServer, database_url: str, tmp_path: Path
) -> None:
    env = ccr_env(DATABASE_URL=database_url, CCR_DATA_DIR=str(tmp_path))
    code, out, err = await run_ccr(
        "create-admin", "--email", "boss@example.com", "--password", PASSWORD, env=env
    )
    assert code == 0, err
    assert "boss@example.com" in out

    client = server.client()
    user = await login(client, "boss@example.com", PASSWORD)
    assert user["role"] == "admin"
    # Hashed by a process of its own, with the real argon2id cost (the in-process test
    # apps use a cheap one: tests/conftest.py).
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE email = 'boss@example.com'")
    finally:
        await conn.close()
    real = argon2.profiles.RFC_9106_LOW_MEMORY
    assert stored.startswith(f"$argon2id$v=19$m={real.memory_cost},t={real.time_cost},p={real.parallelism}$")

    code, out, err = await run_ccr(
        "create-admin", "--email", "Boss@Example.com", "--password", "another passphrase", env=env
    )
    assert code != 0
    assert "already exists" in err
    assert "boss@example.com" in err.lower()
    assert "Traceback" not in err
    await login(server.client(), "boss@example.com", PASSWORD)  # the first admin is untouched


async def test_create_admin_reads_the_password_from_the_environment(
    server: AppServer, database_url: str, tmp_path: Path
) -> None:
    env = ccr_env(DATABASE_URL=database_url, CCR_DATA_DIR=str(tmp_path), CCR_ADMIN_PASSWORD=PASSWORD)
    code, _, err = await run_ccr("create-admin", "--email", "env@example.com", env=env)
    assert code == 0, err
    await login(server.client(), "env@example.com", PASSWORD)


async def test_create_admin_without_a_password_and_no_terminal_fails_clearly(
    database_url: str, tmp_path: Path
) -> None:
    env = ccr_env(DATABASE_URL=database_url, CCR_DATA_DIR=str(tmp_path))
    code, _, err = await run_ccr("create-admin", "--email", "nopw@example.com", env=env)
    assert code != 0
    assert "--password" in err and "CCR_ADMIN_PASSWORD" in err


async def test_create_admin_refuses_a_weak_password(database_url: str, tmp_path: Path) -> None:
    env = ccr_env(DATABASE_URL=database_url, CCR_DATA_DIR=str(tmp_path))
    code, _, err = await run_ccr(
        "create-admin", "--email", "weak@example.com", "--password", "password1", env=env
    )
    assert code != 0
    assert "common" in err
    assert "Traceback" not in err


async def test_serve_with_several_workers_needs_redis_url(database_url: str, tmp_path: Path) -> None:
    env = ccr_env(DATABASE_URL=database_url, CCR_DATA_DIR=str(tmp_path))
    code, _, err = await run_ccr("serve", "--workers", "2", "--port", str(free_port()), env=env, timeout=30)
    assert code != 0
    assert "REDIS_URL" in err


@pytest.fixture
async def scratch_database_url() -> AsyncIterator[str]:
    """An empty database of this test's own (the session's one is already migrated)."""
    name = f"ccr_test_scratch_{secrets.token_hex(4)}"
    url = await create_database(name)
    yield url
    await drop_database(name)


async def test_migrate_is_idempotent(scratch_database_url: str, tmp_path: Path) -> None:
    env = ccr_env(DATABASE_URL=scratch_database_url, CCR_DATA_DIR=str(tmp_path))
    versions = sorted(p.stem for p in MIGRATIONS.glob("*.sql"))
    assert versions

    code, out, err = await run_ccr("migrate", env=env)
    assert code == 0, err
    assert f"applied {len(versions)} migration(s)" in out
    code, out, err = await run_ccr("migrate", env=env)
    assert code == 0, err
    assert "up to date" in out

    conn = await asyncpg.connect(scratch_database_url)
    try:
        applied = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    finally:
        await conn.close()
    assert applied == versions
    assert {"users", "sessions", "tokens", "outbox"} <= tables


async def test_concurrent_migrations_wait_for_each_other(scratch_database_url: str, tmp_path: Path) -> None:
    env = ccr_env(DATABASE_URL=scratch_database_url, CCR_DATA_DIR=str(tmp_path))
    results = await asyncio.gather(*(run_ccr("migrate", env=env) for _ in range(3)))
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert sum("applied" in out for _, out, _ in results) == 1
