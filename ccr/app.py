"""create_app(settings): the routes and the lifespan; the only place things are wired."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from ccr.config import Settings
from ccr.errors import DomainError
from ccr.mail.sender import FileSender, Sender, SmtpSender
from ccr.mail.worker import OutboxWorker
from ccr.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from ccr.realtime.bus import create_bus
from ccr.realtime.presence import MemoryPresence, Presence, RedisPresence
from ccr.services.context import Context
from ccr.services.sla import SlaScheduler
from ccr.store.blobs import PostgresBlobStore
from ccr.store.db import create_pool, migrate
from ccr.web import access_log, api, inbox, pages, queue, settings_page, ws
from ccr.web import articles as article_api
from ccr.web import attachments as attachment_api
from ccr.web import help as help_pages
from ccr.web.errors import domain_error, http_error, server_error
from ccr.web.middleware import BodyLimit, LoopbackAlias, SameOrigin, SecurityHeaders, SessionCookieName

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def create_sender(settings: Settings) -> Sender:
    if settings.smtp_url:
        return SmtpSender(settings.smtp_url, settings.mail_from)
    return FileSender(settings.data_dir / "outbox", settings.mail_from)


class App(Starlette):
    """Starlette with the security headers outside its error handling.

    Starlette's ServerErrorMiddleware is the outermost layer, so a middleware listed in
    `middleware=` never sees the 500 it sends; wrapping the whole stack puts the headers
    on every response, the 500s included.
    """

    def __init__(self, *, security_headers: str, **kwargs: Any) -> None:
        self.security_origin = security_headers
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), origin=self.security_origin)


def create_app(settings: Settings) -> Starlette:
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is not set (ccr serve starts an embedded PostgreSQL for you)")
    database_url = settings.database_url
    access_log.install()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(database_url)
        pool = await create_pool(database_url)
        bus = create_bus(settings.redis_url, settings.redis_prefix)
        await bus.start()
        redis: Redis | None = None
        limiter: Limiter
        presence: Presence
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
            limiter = RedisLimiter(redis, settings.redis_prefix)
            presence = RedisPresence(redis, settings.redis_prefix)
        else:
            limiter = MemoryLimiter()
            presence = MemoryPresence()
        await presence.start()
        bus.on_reconnect(presence.refresh)  # Redis may have come back empty
        worker = OutboxWorker(pool, create_sender(settings), settings.outbox_poll_seconds)
        app.state.ctx = Context(
            settings=settings,
            pool=pool,
            bus=bus,
            limiter=limiter,
            presence=presence,
            mail_queued=worker.poke,
            blobs=PostgresBlobStore(pool),
        )
        app.state.rooms = ws.create_rooms(app.state.ctx)
        worker.start()
        scheduler = SlaScheduler(app.state.ctx, settings.sla_poll_seconds)
        scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await worker.stop()
            await presence.stop()
            await bus.stop()
            if redis is not None:
                await redis.aclose()
            await pool.close()

    app = App(
        security_headers=settings.origin,
        routes=[
            # No trailing-slash redirects: Starlette builds them from the Host header.
            Mount("/api/v1", app=Router([*api.routes, *article_api.routes], redirect_slashes=False)),
            Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
            *ws.routes,
            *pages.routes,
            *inbox.routes,
            *help_pages.routes,
            *settings_page.routes,
            *queue.routes,
        ],
        middleware=[
            Middleware(SessionCookieName, secure=settings.secure_cookies),
            Middleware(LoopbackAlias, base_url=settings.base_url),
            Middleware(
                BodyLimit,
                upload_paths=attachment_api.UPLOAD_PATHS,
                upload_limit=settings.max_upload + attachment_api.MULTIPART_OVERHEAD,
            ),
            Middleware(SameOrigin, allowed=settings.origin),
        ],
        exception_handlers={
            DomainError: domain_error,
            HTTPException: http_error,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.settings = settings
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn workers call: settings come from the environment ccr serve set up."""
    return create_app(Settings.from_env())
