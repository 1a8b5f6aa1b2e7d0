"""Fill a database with realistic demo data, fast enough for 100,000 tickets.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ccr_demo \\
        python -m bench.demo --tickets 100000 [--agents 20] [--customers 2000] [--messages-per-ticket 6]

Migrates first, then writes with COPY (asyncpg ``copy_records_to_table``), a chunk of tickets per
transaction, so an interrupted run leaves only whole tickets behind. Demo users are
``customerN@demo.example``, ``agentN@demo.example`` and ``admin@demo.example``, all with the password
``demo password``; the ones that exist already are reused, so running it again adds tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from ccr.security import hash_password
from ccr.store.db import migrate

DEMO_DOMAIN = "demo.example"
DEMO_PASSWORD = "demo password"
CHUNK = 2_000  # tickets per transaction

FIRST_NAMES = (
    "Alice",
    "Amir",
    "Ana",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dmitri",
    "Elena",
    "Emma",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Ivan",
    "Jonas",
    "Julia",
    "Kenji",
    "Laura",
    "Leo",
    "Lina",
    "Lucas",
    "Maya",
    "Mehmet",
    "Mia",
    "Nina",
    "Noah",
    "Olga",
    "Omar",
    "Paul",
    "Priya",
    "Rafael",
    "Sara",
    "Sofia",
    "Tom",
    "Yuki",
    "Zoe",
)
LAST_NAMES = (
    "Andersen",
    "Bauer",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Martin",
    "Nakamura",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Silva",
    "Singh",
    "Tanaka",
    "Usman",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
)

PRODUCTS = (
    "the mobile app",
    "the web dashboard",
    "the desktop client",
    "the API",
    "the billing portal",
    "the browser extension",
    "the reporting module",
    "the calendar sync",
)
PLATFORMS = (
    "Android 14",
    "iOS 17",
    "Windows 11",
    "macOS Sonoma",
    "Ubuntu 22.04",
    "Chrome",
    "Firefox",
    "Safari",
)
SUBJECTS = (
    "Cannot log in to my account",
    "{product} crashes on {platform}",
    "Refund for order #{n}",
    "Invoice #{n} shows the wrong amount",
    "Password reset email never arrives",
    "How do I export my data from {product}?",
    "Charged twice this month",
    "{product} is very slow since the last update",
    "Two-factor codes are rejected",
    "Please change the email address on my account",
    "Error {code} when saving changes",
    "Sync between {product} and {platform} stopped working",
    "Cannot upload attachments larger than {size} MB",
    "Question about upgrading my plan",
    "Notifications stopped on {platform}",
    "Delete my account and personal data",
)
DESCRIPTIONS = (
    "It started {day}: {product} shows error {code} every time I try this. I restarted and reinstalled, "
    "same result. I am on {platform}.",
    "Hello, I noticed this {day}. It worked fine before. Could you have a look? Order reference #{n}.",
    "This is blocking our team of {size} people. Steps: open {product}, sign in, open settings. "
    "It spins forever and then fails.",
    "I was charged {day} but my account still says the payment is pending. Reference #{n}.",
    "Not urgent, but I would like to understand how this is supposed to work with {platform}.",
    "I tried the help article about it, but the screen it describes does not exist in {product}.",
)
CUSTOMER_LINES = (
    "Hi, any news on this?",
    "I tried that, unfortunately it still happens.",
    "Thanks! It works now on {platform}.",
    "Here is a screenshot of the error {code}.",
    "It happens about once an hour, mostly in the morning.",
    "I am on the latest version of {product}.",
    "Could you also check order #{n}? Same problem.",
    "Great, thank you for the quick help.",
    "Sorry for the late reply, I was travelling.",
    "Yes, I can reproduce it every time.",
)
AGENT_LINES = (
    "Thanks for reaching out, I am looking into it now.",
    "Could you tell me which version of {product} you are running?",
    "I have reset the session on our side; please sign in again.",
    "Our engineers confirmed the issue and a fix ships this week.",
    "The refund for #{n} is on its way; it can take 3-5 business days.",
    "Could you try clearing the cache and restarting {product}?",
    "I have updated your account; you should see the change now.",
    "Is there anything else I can help you with?",
    "I could reproduce it on {platform}; I passed it to the team.",
    "Glad it works! I will close this ticket then.",
)
RATING_COMMENTS = (
    "",
    "",
    "",
    "Quick and friendly, thanks!",
    "Solved in minutes.",
    "Took a while, but it is fixed.",
    "Would have liked a faster answer.",
    "Very helpful agent.",
    "Problem came back later.",
)
DAYS = ("on Monday", "on Tuesday", "on Friday", "over the weekend", "yesterday", "this morning", "last week")


def fill(template: str, r: random.Random) -> str:
    if "{" not in template:
        return template
    return template.format(
        product=r.choice(PRODUCTS),
        platform=r.choice(PLATFORMS),
        n=r.randint(10_000, 99_999),
        code=r.choice((400, 403, 500, 502, "E-17", "SYNC-4", "0x80070005")),
        size=r.choice((5, 10, 25, 50)),
        day=r.choice(DAYS),
    )


# --- progress --------------------------------------------------------------------------------


class Progress:
    """One `\\r`-rewritten line on stderr: bar, count/total, rate, elapsed."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.start, self.done = total, label, time.monotonic(), 0
        self.tty = sys.stderr.isatty()
        self._last_print = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty or now - self._last_print >= 5 or self.done >= self.total:
            self._last_print = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * 30)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else 0
        line = (
            f"{self.label} [{bar:<30}] {self.done:,}/{self.total:,} {frac:6.1%}"
            f"  {rate:,.0f}/s  {elapsed:5.1f}s elapsed  eta {eta:4.0f}s"
        )
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


# --- users -----------------------------------------------------------------------------------


@dataclass
class People:
    customers: list[int]
    agents: list[tuple[int, str]]  # (id, "First Last")
    admin: int
    created: dict[str, int] = field(default_factory=dict)


async def ensure_users(conn: asyncpg.Connection, n_customers: int, n_agents: int, r: random.Random) -> People:
    wanted: list[tuple[str, str]] = [(f"admin@{DEMO_DOMAIN}", "admin")]
    wanted += [(f"agent{i}@{DEMO_DOMAIN}", "agent") for i in range(1, n_agents + 1)]
    wanted += [(f"customer{i}@{DEMO_DOMAIN}", "customer") for i in range(1, n_customers + 1)]
    emails = [e for e, _ in wanted]
    existing = {
        row["e"]
        for row in await conn.fetch(
            "SELECT lower(email) AS e FROM users WHERE lower(email) = any($1)", emails
        )
    }
    missing = [(e, role) for e, role in wanted if e not in existing]
    created: dict[str, int] = {}
    if missing:
        password_hash = await hash_password(DEMO_PASSWORD)
        now = datetime.now(UTC)
        rows = []
        for email, role in missing:
            joined = now - timedelta(days=120 + r.uniform(0, 240))  # before the first ticket
            first = "Ada" if role == "admin" else r.choice(FIRST_NAMES)
            last = "Admin" if role == "admin" else r.choice(LAST_NAMES)
            rows.append((email, password_hash, role, first, last, joined, joined))
            created[role] = created.get(role, 0) + 1
        await conn.copy_records_to_table(
            "users",
            records=rows,
            columns=(
                "email",
                "password_hash",
                "role",
                "first_name",
                "last_name",
                "email_verified_at",
                "created_at",
            ),
        )
    rows = await conn.fetch(
        "SELECT id, lower(email) AS email, role, trim(first_name || ' ' || last_name) AS name FROM users"
        " WHERE lower(email) = any($1) AND disabled_at IS NULL",
        emails,
    )
    role_of = dict(wanted)
    # An address someone registered with another role is left alone and not used.
    usable = [row for row in rows if role_of[row["email"]] == row["role"]]
    customers = sorted(row["id"] for row in usable if row["role"] == "customer")
    agents = sorted((row["id"], row["name"]) for row in usable if row["role"] == "agent")
    admins = [row["id"] for row in usable if row["role"] == "admin"]
    if not admins:  # admin@demo.example exists with another role: any admin will do as the actor
        admins = [row["id"] for row in await conn.fetch("SELECT id FROM users WHERE role = 'admin' LIMIT 1")]
    if not customers or not agents or not admins:
        sys.exit("seed_demo: need at least one demo customer, agent and admin (are the demo emails taken?)")
    return People(customers, agents, admins[0], created)


# --- tickets and everything hanging off them -------------------------------------------------


@dataclass
class Batch:
    tickets: list[tuple] = field(default_factory=list)
    messages: list[tuple] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    markers: list[tuple] = field(default_factory=list)
    ratings: list[tuple] = field(default_factory=list)


TICKET_COLUMNS = (
    "id",
    "customer_id",
    "agent_id",
    "subject",
    "description",
    "status",
    "last_seq",
    "created_at",
    "updated_at",
    "last_activity_at",
    "first_response_at",
    "closed_at",
)
MESSAGE_COLUMNS = ("ticket_id", "seq", "sender_id", "body", "client_id", "created_at")
EVENT_COLUMNS = ("ticket_id", "actor_id", "kind", "data", "created_at")
MARKER_COLUMNS = ("user_id", "ticket_id", "seq", "updated_at")
RATING_COLUMNS = ("ticket_id", "score", "comment", "created_at")
EMPTY_JSON = "{}"


def build_batch(
    ids: list[int], ages: list[float], people: People, per_ticket: int, now: datetime, r: random.Random
) -> Batch:
    """Rows for the tickets `ids`, opened `ages` seconds before `now`."""
    b = Batch()
    low, high = (max(1, per_ticket // 2), per_ticket + per_ticket // 2) if per_ticket else (0, 0)
    for tid, age in zip(ids, ages, strict=True):
        created = now - timedelta(seconds=age)
        customer = r.choice(people.customers)
        u = r.random()
        status = "open" if u < 0.2 else "assigned" if u < 0.7 else "closed"
        subject = fill(r.choice(SUBJECTS), r)
        subject = subject[0].upper() + subject[1:]
        description = fill(r.choice(DESCRIPTIONS), r)

        # The timeline as (kind, who) steps, then times that fit between created_at and now.
        if status == "open":
            agent_id, agent_name = None, None
            k = r.randint(min(1, high), min(3, high))
            steps = [("message", customer)] * k
        else:
            agent_id, agent_name = r.choice(people.agents)
            k = r.randint(low, high)
            steps = [("message", customer)] if k else []
            steps.append(("assigned", people.admin))
            steps += [("message", agent_id if seq % 2 == 0 else customer) for seq in range(2, k + 1)]
            if status == "closed":
                steps.append(("closed", customer if r.random() < 0.85 else people.admin))
        gaps = [r.uniform(30, 3 * 3600) * (1 if r.random() < 0.8 else 8) for _ in steps]
        room = (now - created).total_seconds() * 0.98
        scale = min(1.0, room / sum(gaps)) if gaps else 1.0
        t = created
        seq = 0
        last_activity = created
        first_response = closed_at = None
        last_own = {customer: 0, agent_id: 0}
        b.events.append((tid, customer, "created", EMPTY_JSON, created))
        for (kind, who), gap in zip(steps, gaps, strict=True):
            t = t + timedelta(seconds=gap * scale)
            last_activity = t
            if kind == "message":
                seq += 1
                line = AGENT_LINES if who == agent_id else CUSTOMER_LINES
                b.messages.append((tid, seq, who, fill(r.choice(line), r), f"seed-{seq}", t))
                last_own[who] = seq
                if who == agent_id and first_response is None:
                    first_response = t
            elif kind == "assigned":
                data = {"agent_id": str(agent_id), "agent_name": agent_name, "previous_agent_id": None}
                b.events.append((tid, who, "assigned", orjson.dumps(data).decode(), t))
            else:
                closed_at = t
                b.events.append((tid, who, "closed", EMPTY_JSON, t))

        # Read markers as the app leaves them: a sender has read at least up to their own message,
        # often everything; closed tickets are mostly fully read.
        for reader in (customer, agent_id):
            if reader is None:
                continue
            read_all = r.random() < (0.9 if status == "closed" else 0.6)
            mark = seq if read_all else last_own[reader]
            if mark:
                b.markers.append((reader, tid, mark, t))

        if status == "closed" and r.random() < 0.6:
            rated = min(t + timedelta(minutes=r.uniform(1, 600)), now)
            score = r.choices((1, 2, 3, 4, 5), weights=(5, 7, 13, 30, 45))[0]
            b.ratings.append((tid, score, r.choice(RATING_COMMENTS), rated))
            b.events.append((tid, customer, "rated", orjson.dumps({"score": score}).decode(), rated))

        b.tickets.append(
            (
                tid,
                customer,
                agent_id,
                subject,
                description,
                status,
                seq,
                created,
                last_activity,
                last_activity,
                first_response,
                closed_at,
            )
        )
    return b


async def write_batch(conn: asyncpg.Connection, b: Batch) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("tickets", records=b.tickets, columns=TICKET_COLUMNS)
        if b.messages:
            await conn.copy_records_to_table("messages", records=b.messages, columns=MESSAGE_COLUMNS)
        await conn.copy_records_to_table("ticket_events", records=b.events, columns=EVENT_COLUMNS)
        if b.markers:
            await conn.copy_records_to_table("read_markers", records=b.markers, columns=MARKER_COLUMNS)
        if b.ratings:
            await conn.copy_records_to_table("ratings", records=b.ratings, columns=RATING_COLUMNS)


async def seed(dsn: str, args: argparse.Namespace) -> None:
    started = time.monotonic()
    r = random.Random(args.seed)
    applied = await migrate(dsn)
    if applied:
        print(f"migrations applied: {', '.join(applied)}", file=sys.stderr)
    conn = await asyncpg.connect(dsn)
    try:
        # Demo data: losing the last second of it in a crash is fine, waiting for every fsync is not.
        await conn.execute("SET synchronous_commit = off")
        people = await ensure_users(conn, args.customers, args.agents, r)
        now = datetime.now(UTC)
        # Opened over the last 90 days, oldest first, so ids grow with created_at as they do in real life.
        ages = sorted((r.uniform(60, 90 * 86_400) for _ in range(args.tickets)), reverse=True)
        totals = dict.fromkeys(("tickets", "messages", "events", "read markers", "ratings"), 0)
        progress = Progress(args.tickets, "tickets")
        done = 0
        while done < args.tickets:
            n = min(CHUNK, args.tickets - done)
            # Ids from the identity's own sequence: the rows can name their ticket before it is written,
            # and the app's later inserts carry on after them.
            ids = [
                row[0]
                for row in await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, $1)", n
                )
            ]
            batch = build_batch(ids, ages[done : done + n], people, args.messages_per_ticket, now, r)
            await write_batch(conn, batch)
            for key, rows in (
                ("tickets", batch.tickets),
                ("messages", batch.messages),
                ("events", batch.events),
                ("read markers", batch.markers),
                ("ratings", batch.ratings),
            ):
                totals[key] += len(rows)
            done += n
            progress.advance(n)
        progress.finish()
        analyze_start = time.monotonic()
        # ANALYZE for the planner's statistics; VACUUM too, for the visibility map autovacuum would soon
        # set anyway (index-only scans, e.g. the agents' open-ticket loads, need it).
        await conn.execute("VACUUM (ANALYZE)")
        analyze_time = time.monotonic() - analyze_start
        total_tickets = await conn.fetchval("SELECT count(*) FROM tickets")
    finally:
        await conn.close()
    elapsed = time.monotonic() - started
    created = ", ".join(f"{n} {role}s" for role, n in sorted(people.created.items())) or "none (all existed)"
    print(
        f"users: {len(people.customers):,} customers, {len(people.agents)} agents, 1 admin; created {created}"
    )
    print("written: " + ", ".join(f"{v:,} {k}" for k, v in totals.items()))
    print(f"tickets in the database now: {total_tickets:,}")
    print(
        f"elapsed: {elapsed:.1f}s (VACUUM ANALYZE {analyze_time:.1f}s); log in as admin@{DEMO_DOMAIN} / {DEMO_PASSWORD!r}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Seed the Customer Care Registry with demo data (uses DATABASE_URL)."
    )
    parser.add_argument("--tickets", type=int, required=True, help="how many tickets to add")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--messages-per-ticket", type=int, default=6, help="average, for tickets with an agent"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable data")
    args = parser.parse_args()
    if args.tickets < 0 or args.agents < 1 or args.customers < 1 or args.messages_per_ticket < 0:
        parser.error("--tickets and --messages-per-ticket must be >= 0, --agents and --customers >= 1")
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        sys.exit(
            "seed_demo: DATABASE_URL is not set.\n"
            "  e.g. DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ccr_demo python -m bench.demo --tickets 1000"
        )
    asyncio.run(seed(dsn, args))


if __name__ == "__main__":
    main()
