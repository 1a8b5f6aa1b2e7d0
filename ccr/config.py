"""Settings, read once from the environment."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from ccr.proxies import Network, parse_networks


@dataclass(frozen=True)
class RateLimit:
    """At most `count` hits per `seconds` window."""

    count: int
    seconds: int


def _default_limits() -> dict[str, RateLimit]:
    # Login limits count failed attempts only. Per-IP limits are loose because an office
    # (or a test suite) shares one address. Per account there is no lockout, which any
    # stranger could trigger: after `login_account.count` failures each further try waits
    # twice as long as the last, up to `login_account.seconds` (ratelimit.backoff_delay).
    # `forgot_account` does not limit asking (always 202) but the emails an address gets:
    # at most `count` reset / "account exists" emails per `seconds`.
    # Messages: 20 a second sustained is a flood, not a chat.
    return {
        "login_ip": RateLimit(100, 15 * 60),
        "login_account": RateLimit(5, 15 * 60),
        "register_ip": RateLimit(300, 60 * 60),
        "forgot_ip": RateLimit(100, 60 * 60),
        "forgot_account": RateLimit(1, 15 * 60),
        "message_user": RateLimit(200, 10),
        # Uploads: a burst of screenshots is normal, a thousand files a minute is not.
        "upload_user": RateLimit(60, 60),
        # Address changes: each mails a link to an address the user typed; a few an hour.
        "email_change_user": RateLimit(5, 60 * 60),
        # Good logins per account: people log in a few times a day, integrations and shared
        # kiosks more; each costs a hash and a row, so hundreds a minute is an attack.
        "login_user": RateLimit(60, 15 * 60),
        # Tickets per customer: a burst of 30 is a busy day (an importer or a support desk on
        # one account opens more), a thousand is a script; 60 per 10 minutes stops the script.
        "ticket_open_user": RateLimit(60, 10 * 60),
        # Closes + reopens per user (each mails someone): a triage session, not a loop.
        "ticket_status_user": RateLimit(120, 10 * 60),
    }


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about its environment."""

    database_url: str | None
    redis_url: str | None
    redis_prefix: str
    smtp_url: str | None
    secret_key: str
    base_url: str
    data_dir: Path
    mail_from: str = "Customer Care Registry <care@localhost>"
    rate_limits: dict[str, RateLimit] = field(default_factory=_default_limits)
    outbox_poll_seconds: float = 1.0
    sla_poll_seconds: float = 5.0  # how often each process looks for SLA alerts that are due
    max_upload: int = 10 * 1024 * 1024
    """CCR_MAX_UPLOAD: the largest attachment, in bytes (10 MB: a phone photo or a long log)."""
    imap_url: str | None = None
    """IMAP_URL: the support mailbox the reader takes new tickets and replies from."""
    support_address: str | None = None
    """CCR_SUPPORT_ADDRESS; unset: care@ + BASE_URL's host (ccr.mail.threading)."""
    imap_poll_seconds: float = 30.0
    """How often the reader looks when the server offers no IDLE (tests make it short)."""
    imap_backoff_seconds: tuple[float, float] = (1.0, 60.0)
    """The reader's reconnect delay after losing the IMAP server: first, and at most."""
    trusted_proxies: tuple[Network, ...] = ()
    """Peers whose X-Forwarded-For is believed (CCR_TRUSTED_PROXIES); none by default."""
    metrics_token: str | None = None
    """CCR_METRICS_TOKEN: a bearer token for /metrics from other hosts; loopback only without."""
    webhook_allow_private: bool = False
    """CCR_WEBHOOK_ALLOW_PRIVATE=1: webhooks may target loopback/private addresses (tests)."""
    session_idle_staff: float = 2 * 3600
    """CCR_SESSION_IDLE_STAFF: an agent's or admin's session ends after this long unused (2 h)."""
    session_idle_customer: float = 24 * 3600
    """CCR_SESSION_IDLE_CUSTOMER: a customer's session ends after this long unused (24 h)."""
    session_absolute: float = 7 * 24 * 3600
    """CCR_SESSION_ABSOLUTE: every session ends this long after login, used or not (7 days)."""
    max_sockets_per_user: int = 20
    """CCR_MAX_SOCKETS_PER_USER: open WebSockets one user may hold on one process."""
    webhook_retry_base: float = 1.0
    """Seconds before a failed delivery's first retry (doubling after); tests shorten it."""
    drain_seconds: float = 5.0
    """CCR_DRAIN_SECONDS: on SIGTERM, open sockets are closed (1012) spread over this long."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("CCR_DATA_DIR") or ".ccr").resolve()
        base_url = (env.get("BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SystemExit(
                f"BASE_URL must be an http(s) origin like https://care.example.com, got {base_url!r}"
            )
        host = parts.hostname or "localhost"
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            redis_url=env.get("REDIS_URL") or None,
            redis_prefix=env.get("CCR_REDIS_PREFIX", "ccr:"),
            smtp_url=env.get("SMTP_URL") or None,
            imap_url=_imap_url(env.get("IMAP_URL", "")),
            support_address=_support_address(env.get("CCR_SUPPORT_ADDRESS", "")),
            secret_key=env.get("SECRET_KEY") or _stored_secret(data_dir),
            base_url=base_url,
            data_dir=data_dir,
            mail_from=env.get("CCR_MAIL_FROM") or f"Customer Care Registry <care@{host}>",
            rate_limits={**_default_limits(), **_parse_limits(env.get("CCR_RATE_LIMITS", ""))},
            max_upload=_parse_size(env.get("CCR_MAX_UPLOAD", "")),
            trusted_proxies=parse_networks(env.get("CCR_TRUSTED_PROXIES", "")),
            metrics_token=env.get("CCR_METRICS_TOKEN") or None,
            webhook_allow_private=env.get("CCR_WEBHOOK_ALLOW_PRIVATE", "") == "1",
            session_idle_staff=_duration(env, "CCR_SESSION_IDLE_STAFF", cls.session_idle_staff),
            session_idle_customer=_duration(env, "CCR_SESSION_IDLE_CUSTOMER", cls.session_idle_customer),
            session_absolute=_duration(env, "CCR_SESSION_ABSOLUTE", cls.session_absolute),
            max_sockets_per_user=_count(env, "CCR_MAX_SOCKETS_PER_USER", cls.max_sockets_per_user),
            drain_seconds=_duration(env, "CCR_DRAIN_SECONDS", cls.drain_seconds),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def origin(self) -> str:
        """BASE_URL's origin as browsers send it: lower-case host, no default port."""
        parts = urlsplit(self.base_url)
        host = (parts.hostname or "").lower()
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        default = {"http": 80, "https": 443}[parts.scheme.lower()]
        port = f":{parts.port}" if parts.port and parts.port != default else ""
        return f"{parts.scheme.lower()}://{host}{port}"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")


def _stored_secret(data_dir: Path) -> str:
    """Return the secret kept in the data dir, creating it (mode 600) on first use."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def _parse_limits(text: str) -> dict[str, RateLimit]:
    """`name=COUNT/SECONDS,…`, e.g. `message_user=60/10,login_ip=100/60`."""
    limits: dict[str, RateLimit] = {}
    known = _default_limits()
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        count, _, seconds = value.partition("/")
        if name not in known or not count.isdigit() or not seconds.isdigit() or int(seconds) < 1:
            raise SystemExit(
                f"CCR_RATE_LIMITS: {item!r} should be NAME=COUNT/SECONDS with NAME one of {', '.join(known)}"
            )
        limits[name] = RateLimit(int(count), int(seconds))
    return limits


def _imap_url(text: str) -> str | None:
    """IMAP_URL: imaps://user:pass@host[:993]/MAILBOX or imap://…; refused at start, not at
    the first email, when it cannot be one."""
    text = text.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise SystemExit("IMAP_URL must look like imaps://user:pass@host[:993]/MAILBOX (or imap://…)")
    return text


def _support_address(text: str) -> str | None:
    """CCR_SUPPORT_ADDRESS: a plain address; the `+` part is ours (the ticket tokens)."""
    text = text.strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "+" in local
        or any(c.isspace() or c in "<>," for c in text)
    ):
        raise SystemExit(
            f"CCR_SUPPORT_ADDRESS must be a plain address like support@example.com, got {text!r}"
        )
    return text


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(env: dict[str, str], name: str, default: float) -> float:
    """A duration: whole seconds (`7200`) or a number with s, m, h or d (`2h`, `7d`)."""
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    unit = _UNITS.get(text[-1])
    number = text[:-1] if unit else text
    if not number.isascii() or not number.isdigit() or int(number) < 1:
        raise SystemExit(f"{name} must be a duration like 7200, 90m, 2h or 7d; got {text!r}")
    return float(int(number) * (unit or 1))


def _count(env: dict[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise SystemExit(f"{name} must be a whole number above 0; got {text!r}")
    return int(text)


def _parse_size(text: str) -> int:
    """CCR_MAX_UPLOAD: a whole number of bytes; unset or empty means 10 MB."""
    text = text.strip()
    if not text:
        return Settings.max_upload
    if not text.isdigit() or int(text) < 1:
        raise SystemExit(f"CCR_MAX_UPLOAD must be a whole number of bytes, e.g. 10485760; got {text!r}")
    return int(text)
