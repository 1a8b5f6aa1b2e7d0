"""create_app(settings): the routes and the lifespan; the only place things are wired."""

from __future__ import annotations

import contextlib
import functools
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
from ccr.mail.inbound import ImapConfig, MailboxReader
from ccr.mail.sender import FileSender, Sender, SmtpSender
from ccr.mail.worker import OutboxWorker
from ccr.metrics import Metrics, RequestLatency
from ccr.ratelimit import Limiter, MemoryLimiter, RedisLimiter
from ccr.realtime.bus import create_bus
from ccr.realtime.presence import MemoryPresence, Presence, RedisPresence
from ccr.realtime.redis_client import untimed
from ccr.services import inbound
from ccr.services.context import Context
from ccr.services.operations import Probe
from ccr.services.sla import SlaScheduler
from ccr.store import db
from ccr.store.blobs import PostgresBlobStore
from ccr.store.db import create_pool, migrate
from ccr.web import (
    access_log,
    account_pages,
    api,
    inbox,
    integration_pages,
    integrations,
    operations,
    pages,
    queue,
    settings_page,
    ws,
)
from ccr.web import articles as article_api
from ccr.web import attachments as attachment_api
from ccr.web import help as help_pages
from ccr.web.drain import Drain, RefuseWhileDraining
from ccr.web.errors import UNAVAILABLE_HANDLERS, domain_error, http_error, server_error
from ccr.web.middleware import BodyLimit, LoopbackAlias, SameOrigin, SecurityHeaders, SessionCookieName
from ccr.web.sockets import Sockets
from ccr.webhooks.worker import WebhookWorker

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def create_sender(settings: Settings) -> Sender:
    if settings.smtp_url:
        return SmtpSender(settings.smtp_url, settings.mail_from)
    return FileSender(settings.data_dir / "outbox", settings.mail_from)


def create_reader(settings: Settings, database_url: str, ctx: Context) -> MailboxReader | None:
    """The support mailbox's reader when IMAP_URL is set: the mail layer reads, the inbound
    service turns each email into a ticket or a message."""
    if not settings.imap_url:
        return None
    first, most = settings.imap_backoff_seconds
    return MailboxReader(
        ImapConfig.from_url(settings.imap_url),
        database_url,
        functools.partial(inbound.receive, ctx),
        poll_seconds=settings.imap_poll_seconds,
        backoff_min=first,
        backoff_max=most,
    )


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
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(database_url)
        pool = await create_pool(database_url)
        bus = create_bus(settings.redis_url, settings.redis_prefix)
        await bus.start()
        redis: Redis | None = None
        presence_redis: Redis | None = None
        limiter: Limiter
        presence: Presence
        if settings.redis_url:
            # The limiter keeps redis-py's per-command timeout; presence puts each whole call
            # under one asyncio.timeout (ccr/realtime/redis_client.py), so it has a client
            # (and pool) of its own without one.
            redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
            limiter = RedisLimiter(redis, settings.redis_prefix)
            presence_redis = untimed(settings.redis_url)
            presence = RedisPresence(presence_redis, settings.redis_prefix)
        else:
            limiter = MemoryLimiter()
            presence = MemoryPresence()
        await presence.start()
        bus.on_reconnect(presence.refresh)  # Redis may have come back empty
        worker = OutboxWorker(pool, create_sender(settings), settings.outbox_poll_seconds)
        hooks = WebhookWorker(
            pool,
            allow_private=settings.webhook_allow_private,
            poll_seconds=settings.outbox_poll_seconds,
            retry_base=settings.webhook_retry_base,
        )
        app.state.ctx = Context(
            settings=settings,
            pool=pool,
            bus=bus,
            limiter=limiter,
            presence=presence,
            mail_queued=worker.poke,
            blobs=PostgresBlobStore(pool),
            metrics=metrics,
            webhooks_queued=hooks.poke,
        )
        app.state.rooms = ws.create_rooms(app.state.ctx)
        app.state.sockets = sockets = Sockets(app.state.ctx)
        sockets.start()
        metrics.count_sockets(app.state.rooms.socket_count)
        metrics.count_bus_reconnects(lambda: bus.reconnects)
        app.state.probes = [Probe("postgres", lambda: db.ping(pool))]
        if redis is not None:
            app.state.probes.append(Probe("redis", redis.ping))
        worker.start()
        scheduler = SlaScheduler(app.state.ctx, settings.sla_poll_seconds)
        scheduler.start()
        app.state.mail_reader = reader = create_reader(settings, database_url, app.state.ctx)
        if reader is not None:
            reader.start()
        hooks.start()
        app.state.drain = drain = Drain(settings.drain_seconds, sockets.open)
        drain.catch_sigterm()  # under uvicorn: SIGTERM drains first (ccr/web/drain.py)
        try:
            yield
        finally:
            drain.release_sigterm()
            await sockets.stop()
            await app.state.ctx.announcements.aclose()  # the last presence state goes out
            await hooks.stop()
            if reader is not None:
                await reader.stop()
            await scheduler.stop()
            await worker.stop()
            await presence.stop()
            await bus.stop()
            for client in (redis, presence_redis):
                if client is not None:
                    await client.aclose()
            await pool.close()

    routes = [
        # No trailing-slash redirects: Starlette builds them from the Host header.
        Mount(
            "/api/v1",
            app=Router([*api.routes, *article_api.routes, *integrations.routes], redirect_slashes=False),
        ),
        Mount("/static", app=StaticFiles(directory=ROOT / "static"), name="static"),
        *ws.routes,
        *operations.routes,
        *pages.routes,
        *account_pages.routes,
        *inbox.routes,
        *settings_page.routes,
        *queue.routes,
        *help_pages.routes,
        *integration_pages.routes,
    ]
    app = App(
        security_headers=settings.origin,
        routes=routes,
        middleware=[
            # Outermost: the latency a client sees, refusals by the layers below included.
            Middleware(RequestLatency, metrics=metrics, routes=routes),
            Middleware(RefuseWhileDraining),  # app.state.drain, set by the lifespan
            Middleware(SessionCookieName, secure=settings.secure_cookies),
            Middleware(LoopbackAlias, base_url=settings.base_url, exempt=operations.PATHS),
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
            **UNAVAILABLE_HANDLERS,
            Exception: server_error,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.metrics = metrics
    return app


def app_from_env() -> Starlette:
    """The factory uvicorn workers call: settings come from the environment ccr serve set up."""
    return create_app(Settings.from_env())
