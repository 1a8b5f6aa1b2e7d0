"""Seed a database for the search benchmark: 100,000 tickets and 1,000,000 messages of varied text.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ccr_bench_search \\
        python -m bench.search_seed [--tickets 100000] [--messages 1000000] [--seed 1]

The text is built from a support vocabulary (products, features, symptoms, error codes, platforms,
polite phrases) plus a long tail of rare words (made-up company, place and colleague names drawn
with a Zipf-like skew), so there are common words, rare words and everything between, as in a
real helpdesk. About 5% of the messages are internal notes.

Fast on purpose: rows go in with COPY; the session skips the search-word triggers
(session_replication_role, so the superuser the local PostgreSQL gives us is needed; the
messages' copy of their ticket's agent is written directly) and the dictionary is then filled by
one statement; the full-text GIN indexes are dropped during the load
and built once at the end. Users come from bench.demo (customerN@demo.example, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.demo import PLATFORMS, Progress, ensure_users
from ccr.store.db import migrate

CHUNK = 5_000  # tickets per COPY batch

PRODUCTS = (
    "Acme Sync", "PhotoVault", "LedgerPro", "TeamBoard", "CloudDrive", "Payroll Plus", "ShopFront",
    "TimeTrack", "SecureVPN", "MailHub", "InvoiceNinja", "FormBuilder", "ChatDesk", "DataLake", "Scheduler",
)  # fmt: skip
FEATURES = (
    "export", "import", "two-factor login", "password reset", "invoice", "refund", "subscription",
    "calendar sync", "notifications", "dark mode", "search", "attachments", "API key", "webhook",
    "backup", "billing address", "shared folder", "mobile app", "desktop client", "browser extension",
    "single sign-on", "audit log", "user permissions", "CSV report", "payment method", "trial period",
    "data retention", "email forwarding", "offline mode", "team invitations",
)  # fmt: skip
SYMPTOMS = (
    "crashes on start", "freezes after a minute", "is very slow", "shows a blank page", "logs me out",
    "fails with error {code}", "does not load", "times out", "shows the wrong totals", "duplicates entries",
    "stopped syncing", "rejects my password", "sends the email twice", "loses my changes",
    "shows error {code} then closes", "drains the battery", "cannot connect to the server",
)  # fmt: skip
CODES = (
    [f"ERR-{n}" for n in range(1001, 1251)]
    + [f"E{n:03d}" for n in range(1, 120)]
    + [
        "0x80070005",
        "0x8004010F",
        "HTTP 500",
        "HTTP 502",
        "HTTP 403",
        "HTTP 429",
        "SSL_ERROR_RX_RECORD_TOO_LONG",
    ]
)
DAYS = ("on Monday", "on Tuesday", "on Friday", "over the weekend", "yesterday", "this morning", "last week")
SUBJECTS = (
    "{product} {symptom}", "Problem with {feature} in {product}", "{feature} not working on {platform}",
    "Error {code} when using {feature}", "Refund for order #{n}", "Invoice #{n} is wrong",
    "Question about {feature}", "How do I set up {feature}?", "{product}: {feature} broken since update",
    "Charged twice for {product}", "Cannot log in to {product}", "Please cancel my {product} subscription",
    "{rare} office cannot use {product}", "Urgent: {product} {symptom}",
)  # fmt: skip
DESCRIPTIONS = (
    "Since {day}, {product} {symptom} whenever I open {feature}. I am on {platform}. I already "
    "restarted and reinstalled, same result.",
    "Hello, our team at {rare} noticed that {feature} {symptom}. It worked before the last update. "
    "Could you have a look? Order reference #{n}.",
    "Steps: open {product}, go to settings, choose {feature}. It spins and then shows {code}.",
    "I was charged {day} but {product} still says my payment is pending. Reference #{n}.",
    "Not urgent, but I would like to understand how {feature} is supposed to work with {platform}.",
    "My colleague {rare} says {feature} works for her, but for me {product} {symptom}.",
)
CUSTOMER_LINES = (
    "Hi, any news on this?", "I tried that, unfortunately {product} still {symptom}.",
    "Thanks! {feature} works now on {platform}.", "Here is a screenshot of error {code}.",
    "It happens about once an hour, mostly in the morning.", "I am on the latest version of {product}.",
    "Could you also check order #{n}? Same problem with {feature}.", "Great, thank you for the quick help.",
    "Sorry for the late reply, I was travelling to {rare}.", "Yes, I can reproduce it every time on {platform}.",
    "Our {rare} branch sees the same thing with {feature}.", "The {feature} page says {code} again.",
    "Is there a workaround until the fix ships?", "I cleared the cache as suggested, no change.",
)  # fmt: skip
AGENT_LINES = (
    "Thanks for reaching out, I am looking into it now.",
    "Could you tell me which version of {product} you are running?",
    "I have reset the session on our side; please sign in again.",
    "Our engineers confirmed the issue with {feature} and a fix ships this week.",
    "The refund for order #{n} is on its way; it can take 3-5 business days.",
    "Could you try clearing the cache and restarting {product}?",
    "I have updated your {feature} settings; you should see the change now.",
    "Is there anything else I can help you with?",
    "I could reproduce {code} on {platform}; I passed it to the team.",
    "Glad it works! I will close this ticket then.",
    "Please send us the log file from {product} so we can check {code}.",
    "As a workaround, disable {feature} and enable it again.",
)
NOTES = (
    "Escalated to tier two: {code} on {platform}, see similar reports.",
    "Customer is on the enterprise plan, handle {feature} with priority.",
    "Checked with billing, refund for #{n} approved by {rare}.",
    "Known bug in {product} {feature}; engineering ticket linked.",
    "Do not promise a date for the {feature} fix yet.",
)
SYLLABLES = (
    "ka", "lo", "mer", "vin", "dra", "sto", "bel", "tor", "qui", "zan", "fel", "mar", "osk", "pen", "rul",
    "sar", "tiv", "ul", "wex", "yor", "bram", "cor", "dun", "ell", "gar", "hald", "is", "jor", "kel", "lun",
)  # fmt: skip


def rare_words(r: random.Random, n: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(r.choice(SYLLABLES) for _ in range(r.randint(2, 4))).capitalize())
    return sorted(words)


class Text:
    """Fills templates; rare words come with a heavy skew: a few are common, most appear a handful of times."""

    def __init__(self, r: random.Random, rare_count: int) -> None:
        self.r = r
        self.rare = rare_words(r, rare_count)
        self.cumulative = list(itertools.accumulate(1 / (i + 1) for i in range(rare_count)))

    def rare_word(self) -> str:
        return self.r.choices(self.rare, cum_weights=self.cumulative)[0]

    def fill(self, template: str) -> str:
        r = self.r
        if "{" not in template:
            return template
        symptom = r.choice(SYMPTOMS).replace("{code}", r.choice(CODES))
        return template.format(
            product=r.choice(PRODUCTS),
            platform=r.choice(PLATFORMS),
            feature=r.choice(FEATURES),
            symptom=symptom,
            code=r.choice(CODES),
            n=r.randint(10_000, 999_999),
            day=r.choice(DAYS),
            rare=self.rare_word(),
        )

    def message(self, lines: tuple[str, ...]) -> str:
        return " ".join(self.fill(self.r.choice(lines)) for _ in range(self.r.choice((1, 1, 1, 2, 2, 3))))


TICKET_COLUMNS = (
    "id", "customer_id", "agent_id", "subject", "description", "status", "last_seq", "last_public_seq",
    "priority", "created_at", "updated_at", "last_activity_at", "public_activity_at",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "ticket_id",
    "seq",
    "sender_id",
    "body",
    "client_id",
    "internal",
    "created_at",
    "ticket_agent_id",
)
SEARCH_INDEXES = {
    "tickets_search_idx": "CREATE INDEX tickets_search_idx ON tickets USING gin (search)",
    "messages_search_idx": "CREATE INDEX messages_search_idx ON messages USING gin (search)",
}


async def seed(dsn: str, args: argparse.Namespace) -> None:
    started = time.monotonic()
    r = random.Random(args.seed)
    text = Text(r, args.rare_words)
    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SET session_replication_role = replica")  # no per-row search-word triggers
        people = await ensure_users(conn, args.customers, args.agents, r)
        for name in SEARCH_INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
        now = datetime.now(UTC)
        # Messages per ticket average messages/tickets; opened over 180 days, ids growing with time.
        per_ticket = args.messages / args.tickets
        ages = sorted((r.uniform(60, 180 * 86_400) for _ in range(args.tickets)), reverse=True)
        progress = Progress(args.tickets, "tickets")
        written = messages_left = 0
        messages_left = args.messages
        for start in range(0, args.tickets, CHUNK):
            n = min(CHUNK, args.tickets - start)
            ids = [
                row[0]
                for row in await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) FROM generate_series(1, $1)", n
                )
            ]
            tickets, messages = [], []
            for i, (tid, age) in enumerate(zip(ids, ages[start : start + n], strict=True)):
                created = now - timedelta(seconds=age)
                customer = r.choice(people.customers)
                u = r.random()
                status = "open" if u < 0.15 else "assigned" if u < 0.55 else "closed"
                agent_id = None if status == "open" else r.choice(people.agents)[0]
                tickets_left = args.tickets - start - i
                k = (
                    messages_left
                    if tickets_left == 1
                    else min(messages_left, r.randint(1, round(2 * per_ticket) - 1))
                )
                messages_left -= k
                t = created
                last_public = 0
                public_at = created
                for seq in range(1, k + 1):
                    t += timedelta(seconds=r.uniform(60, 4 * 3600))
                    staff = agent_id is not None and seq % 2 == 0
                    internal = staff and r.random() < 0.1
                    lines = NOTES if internal else AGENT_LINES if staff else CUSTOMER_LINES
                    sender = agent_id if staff else customer
                    messages.append(
                        (tid, seq, sender, text.message(lines), f"seed-{seq}", internal, t, agent_id)
                    )
                    if not internal:
                        last_public, public_at = seq, t
                subject = text.fill(r.choice(SUBJECTS))
                tickets.append(
                    (
                        tid, customer, agent_id, subject[0].upper() + subject[1:], text.fill(r.choice(DESCRIPTIONS)),
                        status, k, last_public, r.choice(("low", "normal", "normal", "normal", "high", "urgent")),
                        created, t, t, public_at,
                    )
                )  # fmt: skip
            async with conn.transaction():
                await conn.copy_records_to_table("tickets", records=tickets, columns=TICKET_COLUMNS)
                await conn.copy_records_to_table("messages", records=messages, columns=MESSAGE_COLUMNS)
            written += len(messages)
            progress.advance(n)
        progress.finish()
        step = time.monotonic()
        await conn.execute(
            """INSERT INTO search_words (word)
               SELECT w FROM (
                   SELECT regexp_split_to_table(lower(subject || ' ' || description), '[^[:alpha:]]+') FROM tickets
                   UNION SELECT regexp_split_to_table(lower(body), '[^[:alpha:]]+') FROM messages) AS words(w)
               WHERE length(w) BETWEEN 3 AND 40
               ON CONFLICT DO NOTHING"""
        )
        print(
            f"search words: {await conn.fetchval('SELECT count(*) FROM search_words'):,} ({time.monotonic() - step:.1f}s)"
        )
        step = time.monotonic()
        for sql in SEARCH_INDEXES.values():
            await conn.execute(sql)
        print(f"full-text indexes built in {time.monotonic() - step:.1f}s")
        step = time.monotonic()
        await conn.execute("VACUUM (ANALYZE)")
        print(f"VACUUM ANALYZE {time.monotonic() - step:.1f}s")
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM tickets) AS t, (SELECT count(*) FROM messages) AS m,"
            " (SELECT count(*) FROM messages WHERE internal) AS notes"
        )
    finally:
        await conn.close()
    print(
        f"written: {args.tickets:,} tickets, {written:,} messages; in the database: {counts['t']:,} tickets,"
        f" {counts['m']:,} messages ({counts['notes']:,} internal notes); {time.monotonic() - started:.0f}s in all"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Seed tickets and messages for the search benchmark.")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--rare-words", type=int, default=20_000, help="size of the long tail of names")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.tickets < 1 or args.messages < args.tickets:
        parser.error("need --tickets >= 1 and --messages >= --tickets")
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        sys.exit(
            "seed_search: DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/ccr_bench_search)"
        )
    asyncio.run(seed(dsn, args))


if __name__ == "__main__":
    main()
