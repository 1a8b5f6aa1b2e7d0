"""What a Kubernetes rolling deploy relies on (deploy/k8s, docs/scaling.md "Graceful drain"):
SIGTERM to `ccr serve` closes its open sockets with 1012 (Service Restart, which the JS client
retries; 1008 it does not) and exits 0, and the socket resumes on another process with
`after=` without a gap. Real processes, real Redis; users come from bench.seed."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import CcrProcess, Mailbox
from tests.test_bench_seed import next_frame, seed
from tests.ws_helpers import start_cluster

SERVICE_RESTART = 1012


async def test_sigterm_closes_sockets_with_1012_and_they_resume_elsewhere(
    ccr_processes: list[CcrProcess],
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    smtp: Mailbox,
    tmp_path: Path,
) -> None:
    cluster = await start_cluster(
        2, ccr_processes, database_url=database_url, redis_url=redis_url, prefix=redis_prefix,
        smtp_url=smtp.url, tmp_path=tmp_path,
    )  # fmt: skip
    seeded = await seed(database_url, cluster.env["SECRET_KEY"], [["r0", ["cust", "agent"]]], "room")
    ticket = seeded["tickets"]["r0"]
    headers = {"Origin": cluster.base_url}
    leaving, staying = cluster.processes

    def url(process: CcrProcess, after: int) -> str:
        return process.url.replace("http", "ws") + f"/ws/tickets/{ticket}?after={after}"

    customer = await connect(
        url(leaving, 0), additional_headers={**headers, "Cookie": seeded["cookies"]["cust"]}
    )
    agent = await connect(
        url(staying, 0), additional_headers={**headers, "Cookie": seeded["cookies"]["agent"]}
    )
    await next_frame(customer, "hello")
    await next_frame(agent, "hello")
    await customer.send(orjson.dumps({"type": "message", "client_id": "c1", "body": "before"}).decode())
    assert (await next_frame(customer, "ack"))["seq"] == 1

    assert await leaving.stop() == 0
    with pytest.raises(ConnectionClosed) as closed:
        await next_frame(customer, "never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == SERVICE_RESTART

    # Meanwhile the agent (on the other process) wrote; the customer resumes there from seq 1.
    await agent.send(orjson.dumps({"type": "message", "client_id": "a1", "body": "while away"}).decode())
    assert (await next_frame(agent, "ack"))["seq"] == 2
    resumed = await connect(
        url(staying, 1), additional_headers={**headers, "Cookie": seeded["cookies"]["cust"]}
    )
    try:
        await next_frame(resumed, "hello")
        message = (await next_frame(resumed, "message"))["message"]
        assert (message["seq"], message["body"]) == (2, "while away")
    finally:
        await resumed.close()
        await agent.close()
