"""Fault injection and request accounting, in-process and over the `/_sandbox/` control endpoints."""

from __future__ import annotations

import logging

import anyio
import httpx2
import pytest

from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .sandbox_helpers import FIRE_AND_FORGET, client, create_replica, environment_id, wait_idle


async def test_an_injected_429_carries_retry_after_for_the_given_number_of_times(
    sandbox: RunningSandbox,
) -> None:
    sandbox.faults.inject_status(429, route="/v1/replica", method="GET", times=2, retry_after=3)
    async with client(sandbox) as api:
        for _ in range(2):
            response = await api.get("/v1/replica")
            assert_error(response, 429, "Too many requests")
            assert response.headers["retry-after"] == "3"
        assert (await api.get("/v1/replica")).status_code == 200
    assert sandbox.faults.stats.count("GET", "/v1/replica") == 3
    assert sandbox.faults.stats.count("GET", "/v1/replica", handled=True) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_can_be_injected_per_route(sandbox: RunningSandbox, status: int) -> None:
    sandbox.faults.inject_status(status, route="/v1/replica/{id}/messages", method="POST")
    async with client(sandbox) as api:
        replica = await create_replica(api)
        url = f"/v1/replica/{replica['id']}/messages"
        assert_error(await api.post(url, json={"message": "x"}), status)
        assert (await api.post(url, json={"message": "x"})).status_code == 200
        assert (await api.get("/v1/replica")).status_code == 200  # other routes are untouched


async def test_latency_after_the_handler_makes_a_create_time_out_after_it_happened(
    sandbox: RunningSandbox,
) -> None:
    sandbox.faults.add_latency(1.0, route="/v1/replica", method="POST", when="after", times=1)
    async with client(sandbox) as api:
        env = await environment_id(api)
        body = {"name": "late-answer", "message": "hi", "environment_id": env}
        with pytest.raises(httpx2.ReadTimeout):
            await api.post("/v1/replica", json=body, headers=FIRE_AND_FORGET, timeout=0.3)
        names = [item["name"] for item in (await api.get("/v1/replica")).json()["replicas"]]
        assert names == ["late-answer"]  # the server did the work
    assert sandbox.faults.stats.count("POST", "/v1/replica", handled=True) == 1


async def test_latency_before_the_handler_delays_the_response(sandbox: RunningSandbox) -> None:
    latency = sandbox.faults.add_latency(0.3, route="/v1/replica", method="GET", times=1)
    async with client(sandbox) as api:
        started = anyio.current_time()
        assert (await api.get("/v1/replica")).status_code == 200
        assert anyio.current_time() - started >= 0.3
        assert (await api.get("/v1/replica")).status_code == 200
    # Applied only the one time asked: the second request found the rule used up and was not delayed.
    assert (latency.fired, latency.exhausted) == (1, True)
    assert sandbox.faults.stats.count("GET", "/v1/replica", handled=True) == 2


async def test_a_dropped_connection_is_a_transport_error(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.faults.drop_connection(route="/v1/replica/{id}", method="GET", times=1)
    async with client(sandbox) as api:
        replica = await create_replica(api)
        with caplog.at_level(logging.INFO), pytest.raises(httpx2.RemoteProtocolError):
            await api.get(f"/v1/replica/{replica['id']}")
        assert (await api.get(f"/v1/replica/{replica['id']}")).status_code == 200
    # A cut made on purpose is not a server error: nothing is logged at error level.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_body_fault_answers_200_with_a_body_of_another_shape(sandbox: RunningSandbox) -> None:
    # A response that does not fit the contract: the client must survive it, so tests need one on demand.
    other_shape = {"replicas": "not a list", "total": None}
    sandbox.faults.replace_body(other_shape, route="/v1/replica", method="GET", times=1)
    async with client(sandbox) as api, httpx2.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox") as control:
        answered = await api.get("/v1/replica")
        assert (answered.status_code, answered.json()) == (200, other_shape)
        assert isinstance((await api.get("/v1/replica")).json()["replicas"], list)  # used up
        listed = await control.post(
            "/faults", json={"kind": "body", "body": [1, "two"], "route": "/v1/environments", "times": 1}
        )
        assert listed.json()["fault"]["body"] == [1, "two"]
        assert (await api.get("/v1/environments")).json() == [1, "two"]
        assert_error(await control.post("/faults", json={"kind": "body"}), 400)  # no body given
    assert sandbox.faults.stats.count("GET", "/v1/replica") == 2
    assert sandbox.faults.stats.count("GET", "/v1/replica", handled=True) == 1  # the handler never ran
    with pytest.raises(ApiError):
        sandbox.faults.replace_body({"not": object()})


async def test_the_control_endpoints_drive_faults_stats_and_status(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api, httpx2.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox") as control:
        assert (await control.get("/health")).json() == {"ok": True}
        created = await control.post(
            "/faults",
            json={"kind": "status", "status": 503, "route": "/v1/replica", "method": "GET", "times": 1},
        )
        assert created.status_code == 201
        fault = created.json()["fault"]
        assert (fault["kind"], fault["status"], fault["times"], fault["fired"]) == ("status", 503, 1, 0)
        assert [rule["id"] for rule in (await control.get("/faults")).json()["faults"]] == [fault["id"]]
        assert_error(await api.get("/v1/replica"), 503)
        assert (await api.get("/v1/replica")).status_code == 200

        latency = (
            await control.post("/faults", json={"kind": "latency", "seconds": 5, "route": "/v1/x"})
        ).json()
        assert (await control.delete(f"/faults/{latency['fault']['id']}")).json() == {"success": True}
        assert_error(await control.delete(f"/faults/{latency['fault']['id']}"), 404)
        await control.post("/faults", json={"kind": "drop", "route": "/v1/nothing"})
        assert (await control.delete("/faults")).json()["removed"] == 2
        assert (await control.get("/faults")).json() == {"faults": []}

        for bad in (
            {"kind": "meteor"},
            {"kind": "status"},
            {"kind": "status", "status": 418},
            {"kind": "latency"},
        ):
            assert_error(await control.post("/faults", json=bad), 400)
        for malformed in (
            {"times": 0},
            {"times": "2"},
            {"times": True},
            {"retry_after": -1},
            {"retry_after": "soon"},
            {"retry_after": "inf"},
        ):
            rule = {"kind": "status", "status": 503} | malformed
            assert_error(await control.post("/faults", json=rule), 400)
        assert (await control.get("/faults")).json()["faults"] == []

        stats = (await control.get("/stats")).json()
        assert stats["requests"]["GET /v1/replica"] == 2
        assert stats["handled"]["GET /v1/replica"] == 1
        assert (await control.delete("/stats")).json() == {"success": True}
        assert (await control.get("/stats")).json() == {"requests": {}, "handled": {}}
        # A numeric string is a number of seconds, fractions included.
        fractional = {"kind": "status", "status": 503, "route": "/v1/replica", "retry_after": "0.5"}
        assert (await control.post("/faults", json=fractional)).json()["fault"]["retry_after"] == 0.5
        unavailable = await api.get("/v1/replica")
        assert_error(unavailable, 503, "Service unavailable")
        assert unavailable.headers["retry-after"] == "0.5"
        assert (await api.get("/v1/replica")).status_code == 200

        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        forced = await control.post(
            f"/replicas/{replica['id']}/status", json={"status": "error", "message": "boom"}
        )
        assert forced.json()["replica"]["status"] == "error"
        assert_error(await api.get(f"/v1/replica/{replica['id']}/chats"), 409, "Workspace is in error state")
        assert_error(await control.post(f"/replicas/{replica['id']}/status", json={"status": "melted"}), 400)
        assert_error(await control.post("/replicas/nope/status", json={"status": "sleeping"}), 404)


async def test_forced_sleep_and_wake_through_the_control_api(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api, httpx2.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox") as control:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        slept = await control.post(f"/replicas/{replica['id']}/status", json={"status": "sleeping"})
        assert slept.json()["replica"]["status"] == "sleeping"
        assert_error(await api.get(f"/v1/replica/{replica['id']}/history"), 409, "Workspace is sleeping")
        woke = await control.post(f"/replicas/{replica['id']}/status", json={"status": "active"})
        assert woke.json()["replica"]["status"] == "preparing"


async def test_unknown_routes_and_methods_answer_with_the_envelope(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        assert_error(await api.get("/v1/nothing-here"), 404, "Not found")
        assert_error(await api.put("/v1/replica"), 405, "Method not allowed")


async def test_a_request_the_auth_layer_rejects_is_received_but_never_handled(
    sandbox: RunningSandbox,
) -> None:
    async with (
        httpx2.AsyncClient(base_url=sandbox.base_url) as anonymous,
        client(sandbox, "sk_not_a_key") as stranger,
        client(sandbox) as api,
        httpx2.AsyncClient(base_url=f"{sandbox.base_url}/_sandbox") as control,
    ):
        assert_error(await anonymous.post("/v1/replica", json={}), 401)
        assert_error(await stranger.post("/v1/replica", json={}), 401)
        assert sandbox.faults.stats.count("POST", "/v1/replica") == 2
        assert sandbox.faults.stats.count("POST", "/v1/replica", handled=True) == 0
        assert (await control.get("/stats")).json()["handled"] == {}
        # A request with a key reaches its handler (even one that then answers 400).
        assert_error(await api.post("/v1/replica", json={}), 400)
        assert sandbox.faults.stats.count("POST", "/v1/replica") == 3
        assert sandbox.faults.stats.count("POST", "/v1/replica", handled=True) == 1


async def test_after_latency_delays_an_injected_status_instead_of_being_used_up(
    sandbox: RunningSandbox,
) -> None:
    latency = sandbox.faults.add_latency(0.3, route="/v1/replica", method="GET", when="after", times=1)
    sandbox.faults.inject_status(503, route="/v1/replica", method="GET", times=1)
    async with client(sandbox) as api:
        started = anyio.current_time()
        assert_error(await api.get("/v1/replica"), 503)
        assert anyio.current_time() - started >= 0.3  # no handler ran, so the injected answer is the late one
        assert latency.fired == 1
        assert (await api.get("/v1/replica")).status_code == 200
    # Each rule applied only the one time asked: the second request was neither delayed nor refused.
    assert (latency.fired, latency.exhausted) == (1, True)
    assert sandbox.faults.stats.count("GET", "/v1/replica", handled=True) == 1


async def test_after_latency_delays_a_dropped_connection(sandbox: RunningSandbox) -> None:
    sandbox.faults.add_latency(0.3, route="/v1/replica", method="GET", when="after", times=1)
    sandbox.faults.drop_connection(route="/v1/replica", method="GET", times=1)
    async with client(sandbox) as api:
        started = anyio.current_time()
        with pytest.raises(httpx2.RemoteProtocolError):
            await api.get("/v1/replica")
        assert anyio.current_time() - started >= 0.3
