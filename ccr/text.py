"""Which characters may stand in one line of text that can reach an email header.

One rule set, used where input is validated (ccr.services.validate) and again where an
email is composed (ccr.mail.compose), so what passes validation always builds a header.
"""

from __future__ import annotations

import re

# Everything str.splitlines() breaks on (\n \r \v \f \x1c-\x1e \x85 \u2028 \u2029) is in
# here, because Python's email package refuses a header containing any of them; plus the
# other C0 and C1 controls, DEL, and the bidirectional overrides and isolates that make a
# name or subject display differently from what it is ("Trojan source" spoofing).
NOT_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# In multi-line text (message bodies) line feeds, carriage returns and tabs are fine.
NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def one_line(text: str) -> bool:
    return NOT_IN_A_LINE.search(text) is None


def flatten(text: str, limit: int) -> str:
    """Collapse every character a header may not hold into a space (for text stored before
    validation was this strict), then trim."""
    return " ".join(NOT_IN_A_LINE.sub(" ", text).split())[:limit]
