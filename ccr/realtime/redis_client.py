"""The Redis clients of the realtime layer, and the one timeout a whole call runs under.

redis-py (8.x) bounds each write of a command with `asyncio.wait_for(..., socket_timeout)` on
asyncio connections, which on Python 3.11 wraps the write in a new Task every time, and each
read in an `asyncio.timeout`. Our clients are made with `socket_timeout=None` (redis-py's
default is 5 s, so it must be said) and the caller puts the whole call, a pipeline of
publishes or a presence update, under one `asyncio.timeout(CALL_TIMEOUT)` instead: one timer
per call, no task per command. A call cut short by the timeout closes its connection
(redis-py disconnects on any exception mid-command), so a late reply is never read as the
answer to the next command.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

# As redis-py's own default socket timeout was: long enough for a busy Redis, short enough
# that a frozen one (no TCP reset) is given up on while a user still waits.
CALL_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0


def untimed(url: str, **kwargs: Any) -> Redis:
    """A client whose commands carry no timeout of their own: wrap every call in
    `asyncio.timeout(CALL_TIMEOUT)`. Connecting is still bounded by CONNECT_TIMEOUT."""
    return Redis.from_url(url, socket_timeout=None, socket_connect_timeout=CONNECT_TIMEOUT, **kwargs)
