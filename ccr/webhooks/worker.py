"""The webhook worker: claims due deliveries, POSTs them signed, retries with backoff until a 2xx."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import asyncpg
import httpx

from ccr.store import webhooks
from ccr.store.webhooks import DELIVERIES, Delivery, Webhook
from ccr.webhooks import targets
from ccr.workers import LeaseWorker, backoff

log = logging.getLogger(__name__)

# A receiver should answer at once and do its work later; one that takes longer than this
# is treated as down and tried again. Connecting gets less: nothing is listening, or a
# firewall drops us.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# 5 deliveries at 10 s each finish well inside the 2-minute lease.
BATCH = 5
# Retry soon after a blip, then at most hourly; after this many tries (about a day) the
# delivery is given up on and shown failed on /webhooks.
MAX_BACKOFF = timedelta(hours=1)
MAX_ATTEMPTS = 30
USER_AGENT = "CCR-Webhooks/1"


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`: what X-CCR-Signature carries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookWorker(LeaseWorker):
    name = "webhook-worker"

    def __init__(
        self, pool: asyncpg.Pool, *, allow_private: bool, poll_seconds: float = 1.0, retry_base: float = 1.0
    ) -> None:
        super().__init__(pool, poll_seconds)
        self.allow_private = allow_private
        self.retry_base = retry_base
        # No redirects (a 3xx could point anywhere, inside our network too) and no proxy
        # settings from the environment: we connect to the address we checked.
        self.client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False)

    async def stop(self) -> None:
        await super().stop()
        await self.client.aclose()

    async def send_due(self) -> int:
        async with self.pool.acquire() as conn:
            batch = await webhooks.claim(conn, BATCH)
            hooks = await webhooks.by_ids(conn, [d.webhook_id for d in batch]) if batch else {}
        for delivery in batch:
            hook = hooks.get(delivery.webhook_id)
            if hook is not None:  # else deleted since: its deliveries went with it
                await self._deliver(hook, delivery)
        return len(batch)

    async def post(self, hook: Webhook, delivery: Delivery) -> int:
        """POST one delivery to an address checked now (not when the webhook was made),
        trying the name's addresses in turn until one accepts the connection."""
        target = targets.parse(hook.url)
        addresses = await targets.resolve(target, allow_private=self.allow_private)
        for address in addresses[:-1]:
            try:
                return await self._post_to(address, target, hook, delivery)
            except httpx.ConnectError:
                continue
        return await self._post_to(addresses[-1], target, hook, delivery)

    async def _post_to(
        self, address: targets.IPAddress, target: targets.Target, hook: Webhook, delivery: Delivery
    ) -> int:
        host = f"[{address}]" if address.version == 6 else str(address)
        default_port = 443 if target.scheme == "https" else 80
        name = f"[{target.host}]" if ":" in target.host else target.host
        headers = {
            "host": name if target.port == default_port else f"{name}:{target.port}",
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "x-ccr-event": delivery.event,
            "x-ccr-delivery": str(delivery.delivery_id),
            "x-ccr-signature": signature(hook.secret, delivery.body),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self.client.build_request(
            "POST",
            f"{target.scheme}://{host}:{target.port}{target.path}",
            content=delivery.body,
            headers=headers,
            extensions=extensions,
        )
        # Streamed and not read: a receiver cannot make us hold a large answer.
        response = await self.client.send(request, stream=True)
        await response.aclose()
        return response.status_code

    async def _deliver(self, hook: Webhook, delivery: Delivery) -> None:
        status: int | None = None
        try:
            status = await self.post(hook, delivery)
        except targets.Refused as exc:
            await self._give_up(delivery, f"refused target: {exc}")
            return
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                await self.record_sent(lambda conn: self._mark_delivered(conn, delivery, status), "delivery")
                return
            error = f"answered HTTP {status}"
        if delivery.attempts >= MAX_ATTEMPTS:
            await self._give_up(delivery, error, status)
            return
        retry = backoff(delivery.attempts, MAX_BACKOFF, base=self.retry_base)
        log.warning("webhook %s: delivery %s %s; retry in %s", hook.id, delivery.delivery_id, error, retry)
        async with self.pool.acquire() as conn:
            await webhooks.mark_answered(conn, delivery.id, status)
            await DELIVERIES.mark_failed(conn, delivery.id, error, retry)

    @staticmethod
    async def _mark_delivered(conn: asyncpg.Connection, delivery: Delivery, status: int | None) -> None:
        async with conn.transaction():
            await webhooks.mark_answered(conn, delivery.id, status)
            await DELIVERIES.mark_sent(conn, delivery.id)

    async def _give_up(self, delivery: Delivery, error: str, status: int | None = None) -> None:
        log.error("webhook delivery %s given up: %s", delivery.delivery_id, error)
        async with self.pool.acquire() as conn:
            await webhooks.mark_answered(conn, delivery.id, status)
            await DELIVERIES.give_up(conn, delivery.id, error)
