"""byo-key mode in a fleet: one caller's open sessions are capped once for the whole fleet (`--max-sessions`,
a lease per session in Redis), whichever instance each `initialize` lands on, and a session's slot comes
back when it ends. Two byo-key instances on a fresh Redis database, behind an nginx of their own with the
deployment's config."""

from __future__ import annotations

import anyio
import httpx2

from bench.fleet_procs import Fleet
from replicas_mcp.sandbox import DEFAULT_ORG_KEY
from replicas_mcp.sandbox.world import DEFAULT_OTHER_ORG_KEY

from ..helpers import INITIALIZE

CAP = 2
STATE_KEY = "fleet-test-state-key-0123456789abcdef"  # shared: instances agree on callers' fingerprints
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _initialize(http: httpx2.AsyncClient, url: str, key: str) -> httpx2.Response:
    return await http.post(
        f"{url}/mcp", json=INITIALIZE, headers={**HEADERS, "Authorization": f"Bearer {key}"}
    )


async def test_a_callers_session_cap_holds_across_instances_through_nginx(healthy_fleet: Fleet) -> None:
    fleet = healthy_fleet
    db = fleet.fresh_db()
    pair = [
        fleet.spawn(f"byokey{n}", db=db, auth="byo-key", state_key=STATE_KEY, max_sessions=str(CAP))
        for n in (1, 2)
    ]
    try:
        for instance in pair:
            fleet.wait_healthy(instance)
        front, nginx = fleet.front("byokey-nginx", pair)
        async with httpx2.AsyncClient(timeout=30) as http:
            # One session on each instance, opened directly: the caller's two slots, one per instance.
            opened = [await _initialize(http, instance.url, DEFAULT_ORG_KEY) for instance in pair]
            assert [answer.status_code for answer in opened] == [200, 200]
            sessions = [answer.headers["mcp-session-id"] for answer in opened]
            assert [session.split(".")[0] for session in sessions] == ["byokey1", "byokey2"]
            for _ in range(2):  # whichever instance nginx picks, neither has a slot left for this caller
                refused = await _initialize(http, front, DEFAULT_ORG_KEY)
                assert refused.status_code == 429, refused.text
                assert (
                    f"Too many open sessions for this API key ({CAP})" in refused.json()["error"]["message"]
                )
            other = await _initialize(http, front, DEFAULT_OTHER_ORG_KEY)  # another key has its own slots
            assert other.status_code == 200, other.text
            # Ending a session through nginx (routed to its instance by the id's prefix) frees its slot.
            ended = await http.delete(
                f"{front}/mcp",
                headers={
                    **HEADERS,
                    "Authorization": f"Bearer {DEFAULT_ORG_KEY}",
                    "Mcp-Session-Id": sessions[0],
                },
            )
            assert ended.status_code == 200, ended.text
            with anyio.fail_after(10):
                while (again := await _initialize(http, front, DEFAULT_ORG_KEY)).status_code == 429:
                    await anyio.sleep(0.1)
            assert again.status_code == 200, again.text
            assert (await _initialize(http, front, DEFAULT_ORG_KEY)).status_code == 429  # full again

            # Redis unreachable: a session that cannot be counted is not opened (503, in plain words).
            fleet.stop_redis()
            down = await _initialize(http, front, DEFAULT_OTHER_ORG_KEY)
            assert down.status_code == 503, down.text
            assert "shared state (Redis) is unreachable" in down.json()["error"]["message"]
            fleet.start_redis()  # back, empty: the instances re-lease their open sessions within 20 s
            with anyio.fail_after(15):
                while (back := await _initialize(http, front, DEFAULT_OTHER_ORG_KEY)).status_code == 503:
                    await anyio.sleep(0.2)
            assert back.status_code == 200, back.text
        nginx.stop()
    finally:
        for instance in pair:
            fleet.retire(instance)
