"""Domain errors raised by services and turned into responses in one place (ccr.web.errors)."""

from __future__ import annotations

import math


class DomainError(Exception):
    """Base: a code for machines, a message for people, and the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class Malformed(DomainError):
    status = 400
    code = "malformed_request"


class Unauthenticated(DomainError):
    status = 401
    code = "not_authenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Invalid(DomainError):
    """Input that fails validation: `field` names the first bad field, `fields` every one of them."""

    status = 422
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        fields: dict[str, str] | None = None,
    ):
        super().__init__(message, code=code, field=field)
        # A form shows all its mistakes at once; a single check names just its own field.
        self.fields: dict[str, str] = fields if fields is not None else ({field: message} if field else {})


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float, reason: str = "Too many attempts"):
        self.retry_after = max(1, math.ceil(retry_after))
        # Every 429 says when, in words as well as in its Retry-After header.
        super().__init__(f"{reason}; try again in {in_words(self.retry_after)}.")


def in_words(seconds: int) -> str:
    """A wait as people say it: "1 second", "40 seconds", "3 minutes", "2 hours"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size or (seconds >= size and seconds % size == 0):
            count = math.ceil(seconds / size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"
