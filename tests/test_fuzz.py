"""Issue 9, point 17: fuzzing, bounded in time (the whole file well under a minute).

- schemathesis generates requests from the app's own OpenAPI document (/api/v1/openapi.json)
  and sends them as anonymous, customer, agent and admin; path ids are often real ones (the
  world's ticket and people) so requests get past 404 into the handlers. Every answer must be
  below 500 and match the document (status, content type, body schema).
- hypothesis generates WebSocket frames (JSON of every shape, text that is not JSON, frames
  with known types and wrong fields) against a real ticket room: each gets an answer, the
  socket stays open as docs/protocol.md says, and the server logs no error.

The app runs in this process under a real uvicorn (the `server` fixture); schemathesis is
synchronous, so it runs in a worker thread while the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import hypothesis.strategies as st
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import AppServer
from tests.helpers import Mailbox
from tests.ws_helpers import Endpoint, Person, make_world

# Examples per operation and identity: ~70 operations × 4 identities × this: ~20 s.
EXAMPLES = 4
# Left out: these end the very session the fuzzer is using (or the account itself); they
# are tested on purpose elsewhere (test_self_service.py, test_accounts.py).
SKIPPED = {("POST", "/auth/logout"), ("DELETE", "/me"), ("POST", "/me/password"), ("POST", "/me/email")}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(
    server_url: str, origin: str, cookies: dict[str, str], real_ids: list[str]
) -> tuple[list[str], Counter[int]]:
    """Run every operation as one identity; returns the failures (one line each) and how
    many answers were 2xx, 4xx."""
    schema = schemathesis.openapi.from_url(server_url + "/api/v1/openapi.json")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    session = requests.Session()
    session.cookies.update(cookies)

    def call(case: Any) -> None:
        response = case.call(base_url=server_url + "/api/v1", session=session, headers={"Origin": origin})
        statuses[response.status_code // 100] += 1  # 2 for 2xx, 4 for 4xx
        case.validate_response(response, checks=CHECKS)

    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        try:
            _fuzz_operation(operation, real_ids, call)
        except Exception as exc:  # hypothesis re-raises the smallest failing case
            failures.append(f"{label}: {str(exc)[:800]}")
    return failures, statuses


def _fuzz_operation(operation: Any, real_ids: list[str], call: Any) -> None:
    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, data: st.DataObject) -> None:
        for name in list(case.path_parameters or {}):
            if name.endswith("id") and data.draw(st.booleans()):  # often a real id: past the 404
                case.path_parameters[name] = data.draw(st.sampled_from(real_ids))
        call(case)

    run()


def _cookies(person: Person | None) -> dict[str, str]:
    return {} if person is None else {"ccr_session": person.session}


async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
    server: AppServer, site: Endpoint, smtp: Mailbox, database_url: str
) -> None:
    world = await make_world(site, smtp, database_url)
    real_ids = [world.ticket_id, world.customer.id, world.agent.id, world.admin.id]
    failures: list[str] = []
    for person in (None, world.customer, world.agent, world.admin):
        who = person.email if person else "anonymous"
        found, statuses = await asyncio.to_thread(_fuzz, server.url, site.origin, _cookies(person), real_ids)
        failures += [f"[{who}] {f}" for f in found]
        print(f"{who}: {dict(statuses)}")
        if person is not None:  # real ids and a session: many requests reach the handlers
            assert statuses[2] >= 20, (who, statuses)
    assert not failures, "\n".join(failures)


# --- WebSocket frames ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
KNOWN = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "typing", "read", "ping", "hello", ""])},
    optional={
        "seq": JSON,
        "body": JSON,
        "client_id": JSON,
        "internal": JSON,
        "attachment_ids": JSON,
    },
)
FRAMES = st.one_of(
    # json, not orjson: it writes integers of any size (and Infinity), which the server must refuse.
    KNOWN.map(json.dumps),
    JSON.map(json.dumps),
    st.text(max_size=200),
)


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_generated_websocket_frames_never_break_the_socket_or_the_server(
    server: AppServer, site: Endpoint, smtp: Mailbox, database_url: str
) -> None:
    world = await make_world(site, smtp, database_url)
    sock = await site.room(world.customer, world.ticket_id)
    errors = Errors()
    logging.getLogger().addHandler(errors)
    frames: list[str] = []
    try:
        # hypothesis draws in this thread; the frames are then sent on the event loop.
        @settings(max_examples=200, database=None, derandomize=True)
        @given(FRAMES)
        def keep(frame: str) -> None:
            frames.append(frame)

        keep()
        for frame in frames:
            await sock.send(frame)
            await sock.send({"type": "ping"})
            await sock.recv_until("pong", skip={"error", "ack", "message", "read", "presence", "typing"})
        assert sock.conn.close_code is None, "the socket stays open for bad frames"
    finally:
        logging.getLogger().removeHandler(errors)
    noisy = [r for r in errors.records if r.name.startswith(("ccr", "uvicorn"))]
    assert not noisy, [r.getMessage() for r in noisy]
    print(f"{len(frames)} generated frames, socket open, no server error logged")
