"""Geometry for the overview's server-side SVG charts (the template draws them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH = 600
HEIGHT = 180
PAD = 40


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def paired_bars(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Opened and closed per day, side by side, scaled to the busiest day."""
    top = max([d["opened"] for d in days] + [d["closed"] for d in days] + [1])
    slot = (WIDTH - PAD) / max(len(days), 1)
    bar = max(slot / 2 - 1, 1)
    usable = HEIGHT - PAD
    opened: list[Bar] = []
    closed: list[Bar] = []
    for i, d in enumerate(days):
        x = PAD + i * slot
        for series, key, offset in ((opened, "opened", 0.0), (closed, "closed", bar)):
            h = usable * d[key] / top
            series.append(Bar(x + offset, usable - h, bar, h, d[key], f"{d['date']}: {d[key]} {key}"))
    return {
        "opened": opened,
        "closed": closed,
        "top": top,
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "first": days[0]["date"] if days else "",
        "last": days[-1]["date"] if days else "",
    }


def horizontal_bars(rows: list[tuple[str, int]]) -> dict[str, Any]:
    top = max([n for _, n in rows] + [1])
    return {"rows": [(name, n, 100 * n / top) for name, n in rows]}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


def attainment_bars(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """SLA attainment, one pair of bars (first response, resolution) per row, as percentages
    of 100; a target never decided shows as "–" with no bar."""
    out = []
    for name, attained in rows:
        pair = []
        for key in ("first_response", "resolution"):
            rate = attained[key]["rate"]
            pct = 100 * rate if rate is not None else 0.0
            text = f"{pct:.0f}%" if rate is not None else "–"
            pair.append((pct, text, f"{attained[key]['met']} of {attained[key]['total']}"))
        out.append((name, pair))
    decided = any(a[key]["total"] for _, a in rows for key in ("first_response", "resolution"))
    return {"rows": out, "height": 44 * max(len(out), 1), "decided": decided}
