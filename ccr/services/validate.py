"""Checks on user input: each failure names the field and says what was expected.

`Form` runs several checks and reports every failure at once; `LABELS` is the one place a
field's name becomes the words people see ("First name", not `first_name`), in API messages
and next to the fields of every page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from email_validator import EmailNotValidError, validate_email

from ccr.errors import Invalid
from ccr.text import NOT_IN_A_LINE, NOT_IN_TEXT

T = TypeVar("T")

LABELS = {
    "email": "Email",
    "password": "Password",
    "first_name": "First name",
    "last_name": "Last name",
    "phone": "Phone",
    "subject": "Subject",
    "description": "Description",
    "client_id": "Client id",
    "token": "Link",
    "score": "Rating",
    "comment": "Comment",
    "agent_id": "Agent",
    "priority": "Priority",
    "tags": "Tags",
    "shortcut": "Shortcut",
    "title": "Title",
    "current_password": "Current password",
    "new_password": "New password",
    "new_email": "New email",
    "otp": "Code",
    "code": "Code",
}


def label(field: str) -> str:
    """What people call a field."""
    return LABELS.get(field) or field.replace("_", " ").capitalize()


class Form:
    """Runs every check of a form and raises one Invalid naming all the fields that failed.

    `check(...)` returns the checked value, or None when it failed; `done()` raises before
    any of those Nones can be used, so callers read the values only after `done()`.
    """

    def __init__(self) -> None:
        self.errors: dict[str, Invalid] = {}

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return check(*args, **kwargs)
        except Invalid as exc:
            self.add(exc)
            return cast(T, None)

    def add(self, exc: Invalid) -> None:
        """Keep a failure found by other means (a rule across fields); the first per field wins."""
        self.errors.setdefault(exc.field or "", exc)

    def done(self) -> None:
        if not self.errors:
            return
        first = next(iter(self.errors.values()))
        fields = {name: exc.message for name, exc in self.errors.items() if name}
        message = first.message
        if len(fields) > 1:
            message = "Please correct these fields: " + ", ".join(label(name) for name in fields) + "."
        raise Invalid(message, code=first.code, field=first.field, fields=fields)


def text(
    value: object, field: str, *, max_len: int, min_len: int = 1, multiline: bool = False, strip: bool = True
) -> str:
    """A string of min_len..max_len characters (after trimming), free of control characters.

    Single-line text (names, subjects: anything that may reach an email header) follows
    ccr.text's one rule set: no line breaks of any kind, no C0/C1 controls, no bidi overrides.
    """
    if value is None or value == "":
        if min_len == 0:
            return ""
        raise Invalid(f"{label(field)} is required.", code="required", field=field)
    if not isinstance(value, str):
        raise Invalid(f"{label(field)} must be text.", code="wrong_type", field=field)
    if strip:
        value = value.strip()
    if (NOT_IN_TEXT if multiline else NOT_IN_A_LINE).search(value):
        raise Invalid(
            f"{label(field)} contains characters that are not allowed.", code="bad_characters", field=field
        )
    if len(value) < min_len:
        raise Invalid(f"{label(field)} is required.", code="required", field=field)
    if len(value) > max_len:
        raise Invalid(f"{label(field)} must be at most {max_len} characters.", code="too_long", field=field)
    return value


def email(value: object, field: str = "email") -> str:
    """A syntactically valid address, domain normalised; no DNS look-up."""
    raw = text(value, field, max_len=254)
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise Invalid(f"Enter a valid email address ({exc}).", code="invalid_email", field=field) from None


def password(value: object, field: str = "password") -> str:
    """A password exactly as typed: never trimmed or truncated."""
    if value is None or value == "":
        raise Invalid("Password is required.", code="required", field=field)
    if not isinstance(value, str):
        raise Invalid(f"{label(field)} must be text.", code="wrong_type", field=field)
    if "\x00" in value:
        raise Invalid(
            "Password contains characters that are not allowed.", code="bad_characters", field=field
        )
    return value


def name(value: object, field: str) -> str:
    return text(value, field, max_len=100)


def integer(value: object, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(f"{label(field)} must be a whole number.", code="wrong_type", field=field)
    try:
        number = int(value)
    except ValueError:
        raise Invalid(f"{label(field)} must be a whole number.", code="wrong_type", field=field) from None
    if not low <= number <= high:
        raise Invalid(f"{label(field)} must be between {low} and {high}.", code="out_of_range", field=field)
    return number


def identifier(value: object, field: str) -> int:
    """An id as the API shows it: a JSON string of digits (a bare integer is accepted too)."""
    return integer(value, field, low=1, high=2**63 - 1)


_PHONE_SEPARATORS = str.maketrans("", "", " -.()/\u00a0")


def phone(value: object, field: str = "phone") -> str | None:
    """An international number, stored as E.164 (`+` and 8-15 digits, no leading 0 in the
    country code); spaces, dashes, dots, slashes and brackets are dropped; empty means none."""
    if value is None or value == "":
        return None
    raw = text(value, field, max_len=40)
    digits = raw.translate(_PHONE_SEPARATORS)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not (digits.startswith("+") and digits[1:].isascii() and digits[1:].isdigit()):
        raise Invalid(
            f"{label(field)} must be an international number starting with + and the country code,"
            " e.g. +44 20 7946 0958.",
            code="invalid_phone",
            field=field,
        )
    if not 8 <= len(digits) - 1 <= 15 or digits[1] == "0":
        raise Invalid(
            f"{label(field)} must have 8 to 15 digits after the +, starting with the country code.",
            code="invalid_phone",
            field=field,
        )
    return digits
