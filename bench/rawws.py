"""A minimal RFC 6455 client on an asyncio Protocol, for the load generator only.

The generator's own cost per frame decides how many deliveries one Python process can count:
the `websockets` client spends tens of microseconds per frame in its reader task, which at
50,000 board frames/s is more than a core. Here a frame is parsed inside data_received (the
server's frames are unmasked: a length and a slice) and handed to a callback, with no task or
queue per socket. Text frames only, no extensions (CCR turns permessage-deflate off), pings
answered, fragmented messages reassembled. Frames we send are masked with a zero key (legal:
the mask only has to be present; it is there against cache poisoning by in-path proxies, of
which loopback has none), so sending costs no XOR over the payload.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

ZERO_MASK = b"\x00\x00\x00\x00"


class HandshakeError(Exception):
    def __init__(self, status: int, head: str) -> None:
        super().__init__(f"handshake refused: HTTP {status}: {head[:200]}")
        self.status = status


class RawWS(asyncio.Protocol):
    def __init__(self, on_text: Callable[[bytes], None], on_close: Callable[[int | None], None]) -> None:
        self.on_text = on_text
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.fragments: list[bytes] = []
        self.close_code: int | None = None
        self.closed = False

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1")
            del self.buf[: end + 4]
            try:
                status = int(head.split(" ", 2)[1])
            except (IndexError, ValueError):
                status = 0
            if status != 101:
                self.upgraded.set_exception(HandshakeError(status, head))
                if self.transport is not None:
                    self.transport.close()
                return
            self.upgraded.set_result(None)
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.closed:
            self.closed = True
            self.on_close(self.close_code)

    # -- frames ------------------------------------------------------------------------------
    def _frames(self) -> None:
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            i = pos + 2
            if length == 126:
                if n - i < 2:
                    break
                (length,) = struct.unpack_from("!H", buf, i)
                i += 2
            elif length == 127:
                if n - i < 8:
                    break
                (length,) = struct.unpack_from("!Q", buf, i)
                i += 8
            mask = None
            if b1 & 0x80:  # a server must not mask, but be lenient
                if n - i < 4:
                    break
                mask = bytes(buf[i : i + 4])
                i += 4
            if n - i < length:
                break
            payload = bytes(buf[i : i + length])
            if mask is not None:
                payload = bytes(c ^ mask[k % 4] for k, c in enumerate(payload))
            pos = i + length
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == 0x1 or opcode == 0x0:
                if fin and not self.fragments:
                    self.on_text(payload)
                else:
                    self.fragments.append(payload)
                    if fin:
                        whole = b"".join(self.fragments)
                        self.fragments.clear()
                        self.on_text(whole)
            elif opcode == 0x8:
                self.close_code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else 1005
                self._send(0x8, payload[:2])
                if self.transport is not None:
                    self.transport.close()
            elif opcode == 0x9:
                self._send(0xA, payload)
        del buf[:pos]

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.transport.write(head + ZERO_MASK + payload)

    def send_text(self, text: str) -> bool:
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        self._send(0x1, text.encode())
        return True

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, struct.pack("!H", 1000))
            self.transport.close()


async def connect(
    url: str,
    headers: dict[str, str],
    on_text: Callable[[bytes], None],
    on_close: Callable[[int | None], None],
) -> RawWS:
    """Open ws://host:port/path with these headers; returns once the server said 101."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: RawWS(on_text, on_close), parts.hostname or "127.0.0.1", parts.port or 80
    )
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    assert proto.transport is not None
    proto.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        await proto.upgraded
    except BaseException:
        proto.transport.close()
        raise
    return proto
