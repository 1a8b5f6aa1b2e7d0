"""Server-rendered pages (work without JavaScript)."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []
