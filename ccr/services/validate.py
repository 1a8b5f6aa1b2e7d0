"""Checks on user input: each failure names the field and says what was expected."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from ccr.errors import Invalid
from ccr.text import NOT_IN_A_LINE, NOT_IN_TEXT


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
        raise Invalid(f"{field.replace('_', ' ').capitalize()} is required.", code="required", field=field)
    if not isinstance(value, str):
        raise Invalid(f"{field} must be a string.", code="wrong_type", field=field)
    if strip:
        value = value.strip()
    if (NOT_IN_TEXT if multiline else NOT_IN_A_LINE).search(value):
        raise Invalid(
            f"{field} contains characters that are not allowed.", code="bad_characters", field=field
        )
    if len(value) < min_len:
        raise Invalid(f"{field.replace('_', ' ').capitalize()} is required.", code="required", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field} must be at most {max_len} characters.", code="too_long", field=field)
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
        raise Invalid(f"{field} must be a string.", code="wrong_type", field=field)
    if "\x00" in value:
        raise Invalid(
            "Password contains characters that are not allowed.", code="bad_characters", field=field
        )
    return value


def name(value: object, field: str) -> str:
    return text(value, field, max_len=100)


def integer(value: object, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid(f"{field} must be a whole number.", code="wrong_type", field=field)
    try:
        number = int(value)
    except ValueError:
        raise Invalid(f"{field} must be a whole number.", code="wrong_type", field=field) from None
    if not low <= number <= high:
        raise Invalid(f"{field} must be between {low} and {high}.", code="out_of_range", field=field)
    return number


def identifier(value: object, field: str) -> int:
    """An id as the API shows it: a JSON string of digits (a bare integer is accepted too)."""
    return integer(value, field, low=1, high=2**63 - 1)
