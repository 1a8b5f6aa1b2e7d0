"""Health, readiness and metrics, at the root for load balancers and Prometheus.

None of them is under /api/v1, rate-limited or origin-checked: probes come from the
orchestrator many times a minute, and none of them changes anything.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ccr.errors import Forbidden
from ccr.metrics import CONTENT_TYPE
from ccr.services import operations
from ccr.web.auth import client_ip, context

PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


async def healthz(request: Request) -> Response:
    """The process runs and its event loop answers; nothing else is asked (no database)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    drain = getattr(request.app.state, "drain", None)
    if drain is not None and drain.draining:  # SIGTERM: leave the load balancer first
        return JSONResponse({"status": "draining"}, status_code=503)
    failing = await operations.failing(request.app.state.probes)
    if failing:
        return JSONResponse({"failing": failing}, status_code=503)
    return JSONResponse({"status": "ok"})


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _bearer_matches(request: Request, token: str | None) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def metrics(request: Request) -> Response:
    ctx = context(request)
    if not _loopback(client_ip(request)) and not _bearer_matches(request, ctx.settings.metrics_token):
        raise Forbidden("Metrics are served to loopback, or with the bearer token CCR_METRICS_TOKEN.")
    registry = request.app.state.metrics
    for kind, rows in (await operations.outbox_backlog(ctx)).items():
        registry.outbox_backlog.labels(kind).set(rows)
    return Response(registry.render(), media_type=CONTENT_TYPE)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
