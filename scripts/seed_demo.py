"""Demo data for a database of your own: moved to bench/demo.py (python -m bench.demo); kept so
`python scripts/seed_demo.py --tickets 100000` works as documented in the README."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.demo import main

if __name__ == "__main__":
    main()
