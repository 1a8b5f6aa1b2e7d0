"""Browser fixtures: Debian's Chromium driven by Playwright, axe-core from npm, screenshots.

Chromium is launched once per test: Playwright's objects belong to the event loop that
started them, and every test runs in a loop of its own (pytest-asyncio, function scope).
A launch costs well under a second, so that stays cheap.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TESTS = Path(__file__).resolve().parent.parent
AXE_DIR = TESTS / ".axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# Live updates cross processes and Redis: give expect() a little more room than 5 s.
expect.set_options(timeout=10_000)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)"
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """axe-core's axe.min.js, installed with npm into tests/.axe/ on first use."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install axe-core for the accessibility tests"
        subprocess.run(
            [npm, "install", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--silent", "axe-core@4"],
            check=True,
            timeout=300,
        )
    assert AXE_JS.exists(), f"npm did not install {AXE_JS}"
    return AXE_JS


# --- the accessibility table, printed at the end of the run ----------------------------------

AXE_TABLE: list[tuple[str, dict[str, int], list[str]]] = []
IMPACTS = ("critical", "serious", "moderate", "minor")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not AXE_TABLE:
        return
    write = terminalreporter.write_line
    terminalreporter.section("axe-core: violations by impact, per page")
    width = max(len(page) for page, _, _ in AXE_TABLE)
    write(f"{'page':<{width}}  " + "  ".join(f"{i:>8}" for i in IMPACTS))
    for page, counts, rules in AXE_TABLE:
        write(f"{page:<{width}}  " + "  ".join(f"{counts.get(i, 0):>8}" for i in IMPACTS))
        for rule in rules:
            write(f"{'':<{width}}    - {rule}")
