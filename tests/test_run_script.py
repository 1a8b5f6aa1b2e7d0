"""scripts/run.sh installs only when the project's definition changed, so an unchanged
project starts at once and offline. Python and ccr are stand-ins here that record calls:
what is under test is the script's decision, not pip."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FAKE_PYTHON = """#!/usr/bin/env bash
echo "python $*" >> "$(dirname "$0")/../calls.log"
[ -f "$(dirname "$0")/../offline" ] && { echo "no network" >&2; exit 1; }
exit 0
"""
FAKE_CCR = """#!/usr/bin/env bash
echo "ccr $*" >> "$(dirname "$0")/../calls.log"
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, text in (("python", FAKE_PYTHON), ("ccr", FAKE_CCR)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return tmp_path


def run(root: Path) -> tuple[int, list[str]]:
    log = root / ".venv" / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", str(root / "scripts" / "run.sh"), "--port", "9000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, log.read_text().splitlines() if log.exists() else []


def test_run_installs_only_when_the_project_changed_and_works_offline(tmp_path: Path) -> None:
    root = project(tmp_path)
    code, calls = run(root)
    assert code == 0
    assert calls == ["python -m pip install -q --disable-pip-version-check -e .", "ccr serve --port 9000"]
    # Nothing changed: no install, even with no network.
    (root / ".venv" / "offline").touch()
    code, calls = run(root)
    assert (code, calls) == (0, ["ccr serve --port 9000"])
    # A changed pyproject.toml installs again (and, offline, fails loudly instead of serving stale).
    with (root / "pyproject.toml").open("a") as f:
        f.write("\n# a new dependency\n")
    code, calls = run(root)
    assert code != 0 and calls == ["python -m pip install -q --disable-pip-version-check -e ."]
    (root / ".venv" / "offline").unlink()
    code, calls = run(root)
    assert code == 0 and calls[0].startswith("python -m pip install")
    code, calls = run(root)
    assert calls == ["ccr serve --port 9000"]
