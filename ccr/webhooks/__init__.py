"""Webhook delivery: where a URL may point, and the worker that POSTs the outbox."""
