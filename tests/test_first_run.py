"""First run: `ccr serve` with no admin prints a one-time /setup link that creates the first
admin from the browser; `ccr create-admin` from a folder without the data refuses clearly."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx

from tests.helpers import CCR, PASSWORD, CcrProcess, ccr_env, free_port

SETUP_LINK = re.compile(r"(http://\S+/setup\?token=[\w-]+)")


async def test_serve_prints_a_one_time_setup_link_that_creates_the_first_admin(
    database_url: str, tmp_path: Path, ccr_processes: list[CcrProcess]
) -> None:
    env = ccr_env(DATABASE_URL=database_url, SECRET_KEY="s", CCR_DATA_DIR=str(tmp_path / "data"))
    process = CcrProcess(free_port(), env, tmp_path / "serve.log")
    ccr_processes.append(process)
    await process.start()
    found = SETUP_LINK.search(process.log())
    assert found, process.log()
    link = found.group(1)
    assert link.startswith(process.url + "/setup?token=")
    async with httpx.AsyncClient(base_url=process.url) as browser:
        page = await browser.get(link)
        assert page.status_code == 200 and 'action="/setup"' in page.text
        token = link.partition("token=")[2]
        r = await browser.post(
            "/setup", data={"token": "wrong", "email": "x@example.com", "password": PASSWORD}
        )
        assert r.status_code == 422
        form = {"token": token, "email": "boss@example.com", "first_name": "Bo", "last_name": "Ss"}
        r = await browser.post("/setup", data={**form, "password": "password"})
        assert r.status_code == 422 and "too common" in r.text  # the usual password rules
        r = await browser.post("/setup", data={**form, "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/login?notice=admin-created"
        r = await browser.post("/api/v1/auth/login", json={"email": "boss@example.com", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
        # The link worked once; with an admin, /setup is gone.
        r = await browser.post("/setup", data={**form, "email": "second@example.com", "password": PASSWORD})
        assert r.status_code == 404
        assert (await browser.get(link)).status_code == 404
    # A restart with an admin prints no link.
    await process.stop()
    await process.start()
    assert len(SETUP_LINK.findall(process.log())) == 1


async def test_create_admin_from_another_folder_refuses_instead_of_making_a_second_database(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = await asyncio.create_subprocess_exec(
        str(CCR), "create-admin", "--email", "a@example.com", "--password", PASSWORD,
        env=ccr_env(), cwd=elsewhere,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    message = err.decode()
    assert "ccr serve" in message and "CCR_DATA_DIR" in message and "DATABASE_URL" in message
    assert not (elsewhere / ".ccr").exists()
