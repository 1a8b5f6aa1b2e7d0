"""Frames written straight to uvicorn's transport, for the sockets' fast path.

Sending through Starlette costs a state check, the exception middleware's send wrapper,
uvicorn's `send` coroutine (which waits on its `writable` event) and websockets' framing,
for every frame and every socket. A bus frame going to hundreds of sockets is the same bytes
for each of them: it is framed once (`text_frame`) and written with one `transport.write`
per socket.

Only where it is known to be safe: uvicorn's websockets-sansio protocol (what `ccr serve`
runs: uvicorn picks it when websockets is installed), reached through nothing but Starlette's
exception wrapper (which only watches `http.response.start`), without compression, while the
connection is open, no close has been sent and the transport is not paused. Anything else
(another server, another protocol, a closing or slow socket) takes the ordinary path, and the
caller keeps order by writing directly only while nothing else is pending.
"""

from __future__ import annotations

import struct
from types import CodeType, SimpleNamespace
from typing import Any

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.websockets import WebSocket

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.protocol import State
except ImportError:  # pragma: no cover - another server: every frame takes the ordinary path
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

USED = (
    "transport",
    "conn",
    "handshake_complete",
    "close_sent",
    "disconnected",
    "writable",
    "request",
    "response",
)
"""The protocol's attributes this module reads or writes: private to uvicorn (checked with
pyproject's range, `uvicorn>=0.44,<0.55`), so a socket whose protocol lacks one of them takes
the ordinary path rather than failing on it."""
CONN_USED = ("extensions", "state")
"""The same, of the protocol's websockets connection (`conn`)."""

TEXT_FIN = 0x81  # FIN + opcode 1 (text); a server's frames are never masked (RFC 6455 5.1)


def text_frame(payload: bytes) -> bytes:
    """One whole, unmasked text frame carrying `payload` (UTF-8)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", TEXT_FIN, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", TEXT_FIN, 126, n)
    else:
        head = struct.pack("!BBQ", TEXT_FIN, 127, n)
    return head + payload


def _starlette_sender() -> tuple[CodeType, int] | None:
    """The code of Starlette's send wrapper (`sender` in wrap_app_handling_exceptions), and
    which of its closure's cells holds the `send` it wraps."""
    wrapped = wrap_app_handling_exceptions(None, SimpleNamespace(scope={}))  # type: ignore[arg-type]
    for const in wrapped.__code__.co_consts:
        if isinstance(const, CodeType) and const.co_name == "sender" and "send" in const.co_freevars:
            return const, const.co_freevars.index("send")
    return None


_SENDER = _starlette_sender()


def connection(websocket: WebSocket) -> Any | None:
    """uvicorn's connection under this (accepted) socket, if frames may be written to its
    transport directly; else None."""
    if WebSocketsSansIOProtocol is None:
        return None
    send: Any = websocket._send
    if _SENDER is not None and getattr(send, "__code__", None) is _SENDER[0] and send.__closure__:
        send = send.__closure__[_SENDER[1]].cell_contents
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol or send.__func__ is not WebSocketsSansIOProtocol.send:
        return None
    if not all(hasattr(protocol, name) for name in USED) or not all(
        hasattr(protocol.conn, name) for name in CONN_USED
    ):  # another uvicorn than the one this was written for
        return None
    if protocol.conn.extensions:  # compressed frames are not ours to build
        return None
    # The parsed handshake request and response (headers twice over, a few KB per socket)
    # are read only before the handshake completes; an idle socket need not carry them.
    if protocol.handshake_complete:
        protocol.request = protocol.response = None  # type: ignore[assignment]
    return protocol


def write(protocol: Any, frame: bytes) -> bool:
    """Write a whole frame now if the connection is open and keeping up; False: it was not."""
    if (
        protocol.close_sent
        or protocol.disconnected
        or not protocol.writable.is_set()
        or protocol.conn.state is not State.OPEN
    ):
        return False
    transport = protocol.transport
    if transport.is_closing():
        return False
    transport.write(frame)
    return True
