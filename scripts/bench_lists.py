"""Moved to `python -m bench lists`; this wrapper runs it on DATABASE_URL as it is (seeded by
scripts/seed_demo.py, say; seeded with 100,000 tickets first if it does not exist) and keeps it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os

from bench.__main__ import main

if __name__ == "__main__":
    url = os.environ.get("DATABASE_URL")
    extra = ["--database-url", url, "--reuse", "--keep"] if url else []
    raise SystemExit(main(["lists", *extra, *sys.argv[1:]]))
