"""The `ccr` command: serve, migrate, create-admin, check."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ccr.config import Settings
from ccr.errors import DomainError

log = logging.getLogger("ccr")
GRACEFUL_SHUTDOWN_SECONDS = 15


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; otherwise the embedded PostgreSQL, for as long as we need it."""
    if settings.database_url:
        yield settings.database_url
        return
    from ccr.embedded import embedded_postgres

    with embedded_postgres(settings.data_dir) as url:
        yield url


def cmd_serve(args: argparse.Namespace) -> int:
    if not os.environ.get("BASE_URL"):
        # Unset, BASE_URL is where we listen (http://127.0.0.1:8000 by default), so links in
        # emails and the same-origin check work on `--port 9000` too.
        host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
        os.environ["BASE_URL"] = f"http://{host}:{args.port}"
    settings = Settings.from_env()
    if args.workers > 1 and not settings.redis_url:
        print(
            "ccr serve: --workers > 1 needs REDIS_URL: the in-process event bus cannot reach the other "
            "workers' sockets. Set REDIS_URL=redis://host:6379/0 or use --workers 1.",
            file=sys.stderr,
        )
        return 2
    import signal

    import uvicorn

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    # uvicorn re-raises the SIGTERM it caught once it has shut down; turning that into
    # SystemExit lets the embedded PostgreSQL below stop cleanly instead of being orphaned.
    signal.signal(signal.SIGTERM, stop)

    from ccr.services.setup import issue_link
    from ccr.store.db import migrate

    with database(settings) as url:
        asyncio.run(migrate(url))
        setup_link = asyncio.run(issue_link(url, settings))
        if setup_link:
            # Printed, not logged: it must show whatever CCR_LOG_LEVEL says, and it is the
            # one way into a fresh install from the browser (like Jupyter's token link).
            print(
                f"\n  No admin yet. To create the first one, open this link (it works once):\n"
                f"    {setup_link}\n  (or run: ccr create-admin --email you@example.com)\n",
                file=sys.stderr,
                flush=True,
            )
        # Workers read their settings from the environment: hand them the resolved database
        # and the same secret, so every process signs and checks cookies alike.
        os.environ["DATABASE_URL"] = url
        os.environ["SECRET_KEY"] = settings.secret_key
        log.info("serving on http://%s:%s (%s worker(s))", args.host, args.port, args.workers)
        uvicorn.run(
            "ccr.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            # Named, not "auto": web/wire.py writes pre-framed messages straight to this
            # protocol's transport (the fan-out fast path); httptools parses the handshakes.
            http="httptools",
            ws="websockets-sansio",
            ws_max_size=64 * 1024,  # the protocol's frame limit: larger frames close with 1009
            ws_per_message_deflate=False,  # compression costs CPU per socket and invites zip bombs
            loop="uvloop" if sys.platform != "win32" else "asyncio",
            log_level=os.environ.get("CCR_LOG_LEVEL", "info").lower(),
            server_header=False,
            # Forwarded headers are read by the app, from CCR_TRUSTED_PROXIES only (ccr.proxies);
            # uvicorn's own handling would believe any loopback peer.
            proxy_headers=False,
            # After the drain (ccr/web/drain.py: CCR_DRAIN_SECONDS + 5 s at most), HTTP requests
            # still running get this long: within Kubernetes' 45 s grace after a 10 s preStop.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from ccr.store.db import migrate

    settings = Settings.from_env()
    with database(settings) as url:
        applied = asyncio.run(migrate(url))
    print(
        f"applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "database is up to date"
    )
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    from ccr.services.accounts import create_admin
    from ccr.store.db import create_pool, migrate

    default_data_dir = Path(".ccr").resolve()
    if (
        not any(os.environ.get(v) for v in ("DATABASE_URL", "CCR_DATA_DIR"))
        and not (default_data_dir / "pg").exists()
    ):
        # `ccr serve` keeps its embedded database in ./.ccr of the folder it runs from; run
        # from anywhere else, we would silently start a second, empty database.
        print(
            f"ccr create-admin: no database here: DATABASE_URL is not set and {default_data_dir} "
            "(where `ccr serve` keeps its embedded database, in the folder it runs from) does not exist. "
            "Run this from the folder where you run `ccr serve`, or set CCR_DATA_DIR or DATABASE_URL. "
            "(With no admin yet, `ccr serve` also prints a one-time setup link.)",
            file=sys.stderr,
        )
        return 2
    password = args.password or os.environ.get("CCR_ADMIN_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print(
                "ccr create-admin: give --password, set CCR_ADMIN_PASSWORD, or run in a terminal",
                file=sys.stderr,
            )
            return 2
        password = getpass.getpass("Password for the new admin: ")
        if getpass.getpass("Repeat the password: ") != password:
            print("ccr create-admin: the passwords differ", file=sys.stderr)
            return 2
    settings = Settings.from_env()

    async def run(url: str) -> None:
        await migrate(url)
        pool = await create_pool(url, min_size=1, max_size=2)
        try:
            admin = await create_admin(pool, args.email, password, args.first_name, args.last_name)
        finally:
            await pool.close()
        print(f"created admin {admin.email} (id {admin.id})")

    with database(settings) as url:
        try:
            asyncio.run(run(url))
        except DomainError as exc:
            print(f"ccr create-admin: {exc.message}", file=sys.stderr)
            return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ccr import check

    return asyncio.run(check.run(Settings.from_env()))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ccr",
        description="Customer Care Registry: a self-hosted helpdesk with live chat.",
        epilog="Configuration comes from the environment: DATABASE_URL, REDIS_URL, SMTP_URL, "
        "SECRET_KEY, BASE_URL, IMAP_URL, CCR_SUPPORT_ADDRESS, CCR_DATA_DIR, CCR_REDIS_PREFIX (see README).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="processes sharing the port (needs REDIS_URL when > 1)"
    )
    serve.set_defaults(func=cmd_serve)
    mig = sub.add_parser("migrate", help="apply database migrations (idempotent)")
    mig.set_defaults(func=cmd_migrate)
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", help="else CCR_ADMIN_PASSWORD, else a prompt")
    admin.add_argument("--first-name", default="Site")
    admin.add_argument("--last-name", default="Admin")
    admin.set_defaults(func=cmd_create_admin)
    chk = sub.add_parser("check", help="say whether the database, Redis, SMTP and IMAP answer")
    chk.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    if getattr(args, "workers", 1) < 1:
        parser().error("--workers must be at least 1")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
