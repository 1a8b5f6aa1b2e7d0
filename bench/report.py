"""How every scenario prints: a header saying when, where and by which command, then markdown."""

from __future__ import annotations

import math
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    return sorted_values[max(1, math.ceil(p / 100 * len(sorted_values))) - 1]


def command() -> str:
    """The command line that produced the figures, as it can be pasted again."""
    return "python -m bench " + shlex.join(sys.argv[1:])


def header(title: str) -> None:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except OSError:
        rev = "?"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n## {title}\n")
    print(f"    {command()}\n")
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}, commit {rev or '?'}, {os.cpu_count()} CPUs, load average {load}\n"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    def cell(v: object) -> str:
        if isinstance(v, float):
            if math.isnan(v):
                return "-"
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    print("| " + " | ".join(headers) + " |")
    print("| " + " | ".join("---" for _ in headers) + " |")
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")
    print(flush=True)


def note(text: str) -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    """Progress goes to stderr so stdout is the report only."""
    print(f"# {text}", file=sys.stderr, flush=True)
