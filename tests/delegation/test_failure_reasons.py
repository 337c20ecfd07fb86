"""Why a workspace failed reaches the report from the contract's `replica.error` webhook, even when no wait
watched its stream (REST has no reason for the error state)."""

from __future__ import annotations

import anyio
from starlette.applications import Starlette
from starlette.routing import Route

from replicas_mcp.delegation import build_report
from replicas_mcp.delegation.memory import PROCESS_MEMORY
from replicas_mcp.sandbox.serve import RunningSandbox, serving
from replicas_mcp.server.transcript import event_lines
from replicas_mcp.server.webhook_receiver import WEBHOOK_PATH, WebhookReceiver

from ..helpers import repo_environment
from .helpers import sandbox_client

SECRET = "whsec_" + "0a1b2c3d" * 4


async def test_the_replica_error_webhook_gives_the_report_its_reason(sandbox: RunningSandbox) -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    receiver = WebhookReceiver(SECRET, notify)
    app = Starlette(routes=[Route(WEBHOOK_PATH, receiver.handle, methods=["POST"])])
    async with serving(app) as url, sandbox_client(sandbox) as api:
        created = await api.replicas.create(
            name="doomed",
            message="Build it [[error: the clone failed: bad credentials]]",
            environment_id=await repo_environment(api),
            webhook_url={"url": f"{url}{WEBHOOK_PATH}", "secret": SECRET},
        )
        with anyio.fail_after(15):
            # until the receiver has handled replica.error
            while await PROCESS_MEMORY.recall("failure", created.id) is None:
                await anyio.sleep(0.05)
        report = await build_report(api, created.id, lines=event_lines)
    assert created.id in notified
    assert report.outcome == "failed"
    assert report.error == "the clone failed: bad credentials"
