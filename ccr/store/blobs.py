"""File contents by content hash, behind a small interface.

`BlobStore` is what the rest of the code sees: `put(data) -> key`, `get(key)`. The key is the
sha256 of the bytes, so identical files are stored once and a key never names other bytes.
`PostgresBlobStore` keeps them in the `blobs` table, which every app replica already shares;
an S3-compatible store would implement the same two methods (and be chosen in app.py).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import asyncpg


def key_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    async def put(self, data: bytes) -> str:
        """Store the bytes (once, however often they are put); returns their key."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes stored under key, or None."""
        ...


class PostgresBlobStore:
    """Blobs as bytea rows; `INSERT … ON CONFLICT DO NOTHING` makes put idempotent and race-free."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(self, data: bytes) -> str:
        key = key_of(data)
        async with self.pool.acquire() as conn:
            # Ask first: a repeated upload (the same screenshot twice) need not cross the wire again.
            if not await conn.fetchval("SELECT 1 FROM blobs WHERE key = $1", key):
                await conn.execute(
                    "INSERT INTO blobs (key, data, size) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
                    key,
                    data,
                    len(data),
                )
        return key

    async def get(self, key: str) -> bytes | None:
        async with self.pool.acquire() as conn:
            data: bytes | None = await conn.fetchval("SELECT data FROM blobs WHERE key = $1", key)
        return data
