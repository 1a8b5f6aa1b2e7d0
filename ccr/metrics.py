"""Prometheus metrics: one registry per app, so several apps in one process keep apart.

What an operator watches: open sockets, messages stored, outbox backlog, bus reconnects and
request latency. Values that live elsewhere (sockets, reconnects, backlog) are read when
Prometheus scrapes, never kept in step by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a cached page (a few ms) to a slow search or upload; Prometheus interpolates between.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Posts per group commit: 1 when idle, up to post_batch.MAX_BATCH (256) under load.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of a request no route matched: raw paths would grow the series without end."""


class _ReadAtScrape(Collector):
    """A counter whose value another object owns (the bus counts its own reconnects)."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> list[CounterMetricFamily]:
        return [CounterMetricFamily(self.name, self.documentation, value=self.read())]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages_stored = Counter(
            "ccr_messages_stored", "Chat messages committed to the database.", registry=self.registry
        )
        self.chat_batch_size = Histogram(
            "ccr_chat_batch_size",
            "Chat posts written by one group commit (services/post_batch.py).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.open_sockets = Gauge(
            "ccr_open_sockets", "WebSockets open on this process.", registry=self.registry
        )
        self.outbox_backlog = Gauge(
            "ccr_outbox_backlog",
            "Outbox rows still to send (due or waiting for a retry), by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "ccr_request_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def count_sockets(self, count: Callable[[], int]) -> None:
        """Where the open-socket count comes from (the app's rooms)."""
        self.open_sockets.set_function(count)

    def count_bus_reconnects(self, read: Callable[[], int]) -> None:
        self.registry.register(
            _ReadAtScrape("ccr_bus_reconnects", "Times the event bus got its lost connection back.", read)
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route that serves `scope` (`/api/v1/tickets/{id}`), never the path."""
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        path = getattr(route, "path", "")
        if isinstance(route, Mount):
            inner = route_template(route.routes, {**scope, **child})
            return path + inner if inner != UNMATCHED else path + "/{path}"
        return path or UNMATCHED
    return UNMATCHED


class RequestLatency:
    """Pure ASGI: time every HTTP request to its last byte, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Matched before the call: the router updates the scope it is handed as it descends.
        template = route_template(self.routes, scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        try:
            await self.app(scope, receive, send)
        finally:
            self.metrics.request_seconds.labels(template, method).observe(time.perf_counter() - started)
