"""Attachment rows: a file's name, type and size on a ticket, and the blobs holding its bytes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Attachment:
    id: int
    ticket_id: int
    message_id: int | None
    uploader_id: int
    name: str
    content_type: str
    size: int
    blob_key: str
    thumbnail_key: str | None
    created_at: datetime

    @property
    def url(self) -> str:
        return f"/api/v1/attachments/{self.id}"

    def public(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "url": self.url,
            "thumbnail_url": f"{self.url}/thumbnail" if self.thumbnail_key else None,
        }


@dataclass(frozen=True)
class Located:
    """An attachment with what deciding who may open it needs: its message's visibility."""

    attachment: Attachment
    internal: bool
    """Posted on an internal note: staff only."""


COLUMNS = (
    "a.id, a.ticket_id, a.message_id, a.uploader_id, a.name, a.content_type, a.size,"
    " a.blob_key, a.thumbnail_key, a.created_at"
)


async def insert(
    conn: asyncpg.Connection,
    *,
    ticket_id: int,
    uploader_id: int,
    name: str,
    content_type: str,
    size: int,
    blob_key: str,
    thumbnail_key: str | None,
) -> Attachment:
    row = await conn.fetchrow(
        f"""INSERT INTO attachments AS a
                (ticket_id, uploader_id, name, content_type, size, blob_key, thumbnail_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}""",
        ticket_id,
        uploader_id,
        name,
        content_type,
        size,
        blob_key,
        thumbnail_key,
    )
    return Attachment(**dict(row))


async def locate(conn: asyncpg.Connection, attachment_id: int) -> Located | None:
    row = await conn.fetchrow(
        f"""SELECT {COLUMNS}, coalesce(m.internal, false) AS internal
            FROM attachments a LEFT JOIN messages m ON m.id = a.message_id WHERE a.id = $1""",
        attachment_id,
    )
    if row is None:
        return None
    values = dict(row)
    internal = values.pop("internal")
    return Located(Attachment(**values), internal)


async def claim(
    conn: asyncpg.Connection, ids: Sequence[int], *, ticket_id: int, uploader_id: int, message_id: int
) -> list[Attachment]:
    """Tie the uploader's unposted files on this ticket to a message; ids that are not such
    files are left alone (the caller compares the counts)."""
    rows = await conn.fetch(
        f"""UPDATE attachments a SET message_id = $4
            WHERE a.id = ANY($1::bigint[]) AND a.ticket_id = $2 AND a.uploader_id = $3
              AND a.message_id IS NULL
            RETURNING {COLUMNS}""",
        list(ids),
        ticket_id,
        uploader_id,
        message_id,
    )
    return sorted((Attachment(**dict(r)) for r in rows), key=lambda a: a.id)


async def of_messages(conn: asyncpg.Connection, message_ids: Sequence[int]) -> dict[int, list[Attachment]]:
    """Each message's attachments, in the order they were posted."""
    found: dict[int, list[Attachment]] = {}
    if not message_ids:
        return found
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM attachments a WHERE a.message_id = ANY($1::bigint[]) ORDER BY a.id",
        list(message_ids),
    )
    for row in rows:
        attachment = Attachment(**dict(row))
        assert attachment.message_id is not None
        found.setdefault(attachment.message_id, []).append(attachment)
    return found
