"""Moved to `python -m bench chat` (open-loop rate steps; the arguments are passed on)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main(["chat", *sys.argv[1:]]))
