"""JSON in and out of the API: the request's object, and the answers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ccr.errors import Malformed


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what was wrong with it."""
    raw = await request.body()
    if not raw.strip():
        raise Malformed("Send a JSON object as the request body.", code="empty_body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Malformed("The request body is not valid JSON.", code="malformed_json") from None
    if not isinstance(data, dict):
        raise Malformed("The request body must be a JSON object.", code="malformed_json")
    return data


def no_content() -> Response:
    return Response(status_code=204)
