"""Attachments over HTTP: upload (multipart), download and thumbnail, with the serving rules.

Every file is answered with `X-Content-Type-Options: nosniff` and `Content-Security-Policy:
sandbox`, so even a page that slipped through as a download cannot run script on our origin
if opened; only images and PDF are `inline`, everything else `attachment`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ccr.errors import Invalid, NotFound
from ccr.services import attachments, chat
from ccr.services.context import Context
from ccr.store.users import User
from ccr.web.auth import context, current_user, require_user
from ccr.web.bodies import JSON

# Bodies on these paths may be as large as CCR_MAX_UPLOAD plus the multipart framing around
# the file (boundaries, part headers, the other form fields); everything else keeps 1 MB.
UPLOAD_PATHS = re.compile(r"^/api/v1/tickets/[^/]+/attachments$|^/tickets/new$|^/tickets/[^/]+/messages$")
MULTIPART_OVERHEAD = 64 * 1024
# The bytes behind an attachment id never change (content-hashed), so a browser may keep them;
# `private`: never in a shared cache, the file is only for those who may see the ticket.
CACHE = "private, max-age=31536000, immutable"


async def file_field(request: Request, name: str = "file") -> tuple[str, bytes] | None:
    """The (filename, bytes) of a multipart file field, or None when no file was chosen."""
    limit = context(request).settings.max_upload
    form = await request.form(max_files=attachments.PER_MESSAGE_MAX, max_fields=20)
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or (not upload.filename and not upload.size):
        return None
    # One byte over the limit is enough to know it is too large.
    return upload.filename or "", await upload.read(limit + 1)


async def files_field(request: Request, name: str = "file") -> list[tuple[str, bytes]]:
    """Every file in a multipart field that may repeat (a form's `<input type=file multiple>`)."""
    limit = context(request).settings.max_upload
    form = await request.form(max_files=attachments.PER_MESSAGE_MAX, max_fields=20)
    found = []
    for upload in form.getlist(name):
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            found.append((upload.filename or "", await upload.read(limit + 1)))
    return found


async def post_files(
    ctx: Context, user: User, ticket_id: str, values: Mapping[str, object], chosen: list[tuple[str, bytes]]
) -> None:
    """A form's message with its files: each is checked, uploaded, then posted together.
    Without files this is an ordinary post; with files the text may be empty."""
    attachments.check_files(ctx, [data for _, data in chosen])
    ids = [str((await attachments.upload(ctx, user, ticket_id, name, data)).id) for name, data in chosen]
    await chat.post_message(ctx, user, ticket_id, {**values, "attachment_ids": ids})


def file_label(name: str) -> str:
    """The short label on a file card's icon: its extension (PDF, ZIP, LOG…) or FILE."""
    ext = name.rpartition(".")[2] if "." in name else ""
    return ext.upper() if ext.isalnum() and len(ext) <= 4 else "FILE"


async def upload(request: Request) -> Response:
    user = await require_user(request)
    chosen = await file_field(request)
    if chosen is None:
        raise Invalid("Choose a file to upload (multipart field “file”).", code="required", field="file")
    name, data = chosen
    attachment = await attachments.upload(context(request), user, request.path_params["id"], name, data)
    return JSON({"attachment": attachment.public()}, status_code=201)


async def download(request: Request) -> Response:
    return await _serve(request, thumbnail=False)


async def thumbnail(request: Request) -> Response:
    return await _serve(request, thumbnail=True)


async def _serve(request: Request, *, thumbnail: bool) -> Response:
    user = await current_user(request)
    if user is None:  # nobody: the same 404 as for a file that does not exist
        raise NotFound("No such attachment.")
    found = await attachments.open_file(
        context(request), user, request.path_params["id"], thumbnail=thumbnail
    )
    headers = {
        "content-disposition": attachments.files.disposition(found.name, as_download=not found.inline),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox",
        "cross-origin-resource-policy": "same-origin",
        "cache-control": CACHE,
        "etag": f'"{found.etag}"',
    }
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    media_type = found.content_type
    if media_type == "text/plain":
        media_type += "; charset=utf-8"
    return Response(found.data, media_type=media_type, headers=headers)


routes = [
    Route("/tickets/{id}/attachments", upload, methods=["POST"]),
    Route("/attachments/{id}", download, methods=["GET"]),
    Route("/attachments/{id}/thumbnail", thumbnail, methods=["GET"]),
]
