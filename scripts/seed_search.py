"""Search data (100,000 tickets, 1,000,000 messages) into DATABASE_URL: moved to bench/search_seed.py.
`python -m bench search` makes its own database and seeds it; this wrapper is for a database of your own."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search_seed import main

if __name__ == "__main__":
    main()
