"""MCP logging (`logging/setLevel`, `notifications/message`), completions (`completion/complete`), and the
start-up check of the key, through real MCP clients (in memory, both protocol eras)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client, MCPDeprecationWarning
from mcp.types import LoggingMessageNotificationParams, PromptReference, ResourceTemplateReference

from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server, completions
from replicas_mcp.server.client_log import LEVELS, MAX_SINKS_PER_CALLER, ClientLog, _Sink
from replicas_mcp.server.completions import Candidate, completion_of, rank

from ..helpers import text
from ..state.helpers import add_sleeping_replicas
from .helpers import call, connect

WRONG_KEY = "sk_replicas_wrong_key_0123456789"


class Received:
    def __init__(self) -> None:
        self.messages: list[LoggingMessageNotificationParams] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        self.messages.append(params)

    async def wait_for(self, needle: str) -> LoggingMessageNotificationParams:
        with anyio.fail_after(10):
            while True:
                for message in self.messages:
                    if needle in str(message.data):
                        return message
                await anyio.sleep(0.02)


async def set_level(client: Client, level: str) -> None:
    """`logging/setLevel`: the 2025-era request (the SDK's client warns that 2026 removed it)."""
    with pytest.warns(MCPDeprecationWarning):
        await client.set_logging_level(level)  # type: ignore[arg-type]


@asynccontextmanager
async def own_client_server(
    sandbox: RunningSandbox, key: str, received: Received, **client: Any
) -> AsyncIterator[Client]:
    """The server as the CLI builds it (it opens its own API client, so it checks its key at start)."""
    server = build_server(Settings(api_key=key, base_url=sandbox.base_url, watch_poll_interval=0.05))
    async with Client(server, logging_callback=received, **client) as connected:
        yield connected


async def test_the_server_advertises_logging_and_completions(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, mode="legacy") as client:
        capabilities = client.server_capabilities
        assert capabilities.logging is not None
        assert capabilities.completions is not None
        await set_level(client, "debug")


async def test_a_rejected_key_is_said_at_start_on_stderr_in_the_log_and_in_the_first_tool_result(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    received = Received()
    caplog.set_level(logging.WARNING)
    async with own_client_server(sandbox, WRONG_KEY, received, mode="legacy") as client:
        with anyio.fail_after(10):
            while not any("rejected REPLICAS_API_KEY" in r.getMessage() for r in caplog.records):
                await anyio.sleep(0.02)
        await set_level(client, "warning")  # a client that asks later still hears it
        message = await received.wait_for("rejected REPLICAS_API_KEY")
        assert message.level == "error"
        result = await client.call_tool("list_replicas", {})
        assert result.is_error
        assert "rejected the API key" in text(result)
    for shown in [*(str(m.data) for m in received.messages), caplog.text, text(result)]:
        assert WRONG_KEY not in shown


async def test_a_working_key_starts_quietly(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    received = Received()
    caplog.set_level(logging.WARNING)
    async with own_client_server(sandbox, sandbox.org_key, received, mode="legacy") as client:
        await set_level(client, "debug")
        await call(client, "list_replicas")
    assert not [r for r in caplog.records if r.name.startswith("replicas_mcp.startup")]
    assert received.messages == []


async def test_warnings_reach_a_legacy_session_at_its_level_redacted(sandbox: RunningSandbox) -> None:
    received = Received()
    async with own_client_server(sandbox, sandbox.org_key, received, mode="legacy") as client:
        await set_level(client, "error")
        logging.getLogger("replicas_mcp.server.watcher").warning("below the level: not sent")
        logging.getLogger("replicas_mcp.server.watcher").error(
            "upstream outage, key sk_replicas_leaked_in_a_message"
        )
        message = await received.wait_for("upstream outage")
        assert "sk_replicas_leaked_in_a_message" not in str(message.data)
        assert message.logger == "replicas-mcp"
    assert all("below the level" not in str(m.data) for m in received.messages)


async def test_a_2026_listen_stream_that_opted_in_receives_messages(sandbox: RunningSandbox) -> None:
    received = Received()
    server = own_client_server(sandbox, sandbox.org_key, received, mode="auto", log_level="warning")
    async with server as client, client.listen(resource_subscriptions=["replicas://replicas"]):
        await anyio.sleep(0.1)
        logging.getLogger("replicas_mcp.client").warning("event stream degraded: polling instead")
        message = await received.wait_for("event stream degraded")
    assert message.level == "warning"


def test_levels_are_the_protocol_levels_in_order() -> None:
    assert LEVELS[0] == "debug"
    assert LEVELS[-1] == "emergency"


# --- completions --------------------------------------------------------------------------------------


def test_ranking_prefers_id_prefixes_then_names_then_substrings() -> None:
    candidates = [Candidate("r-abc", "fix-login"), Candidate("r-xyz", "abc-docs"), Candidate("r-q", "docs")]
    assert rank(candidates, "r-a") == ["r-abc"]
    assert rank(candidates, "abc") == ["r-xyz", "r-abc"]
    assert rank(candidates, "") == ["r-abc", "r-xyz", "r-q"]
    many = completion_of([f"v{n}" for n in range(250)])
    assert len(many.values) == 100
    assert many.total == 250
    assert many.has_more


async def _replica_in_a_repository(client: Client, name: str, message: str) -> tuple[dict[str, Any], str]:
    """Create a replica through the tools in an environment bound to a repository: (environment, its id)."""
    envs = (await call(client, "list_environments")).structured_content or {}
    environment = next(e for e in envs["environments"] if e.get("repository_id"))
    created = await call(
        client, "create_replica", {"name": name, "message": message, "environment_id": environment["id"]}
    )
    return environment, (created.structured_content or {})["id"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_completions_offer_the_callers_own_ids_and_names(sandbox: RunningSandbox, mode: str) -> None:
    async with connect(sandbox, mode=mode, toolsets=("all",)) as client:
        environment, replica_id = await _replica_in_a_repository(client, "completion-target", "hello")

        template = ResourceTemplateReference(uri="replicas://replicas/{replica_id}")
        by_id = await client.complete(template, {"name": "replica_id", "value": replica_id[:6]})
        assert replica_id in by_id.completion.values
        by_name = await client.complete(template, {"name": "replica_id", "value": "completion-tar"})
        assert by_name.completion.values[:1] == [replica_id]

        prompt = PromptReference(name="delegate_coding_task")
        names = await client.complete(prompt, {"name": "environment", "value": environment["name"][:3]})
        assert environment["name"] in names.completion.values
        env_template = ResourceTemplateReference(uri="replicas://environments/{environment_id}")
        ids = await client.complete(env_template, {"name": "environment_id", "value": ""})
        assert environment["id"] in ids.completion.values

        nothing = await client.complete(prompt, {"name": "task", "value": "a"})
        assert nothing.completion.values == []


async def test_completions_of_a_sleeping_replica_never_wake_it(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        _, replica_id = await _replica_in_a_repository(client, "sleepy", "nap [[sleep]]")
        with anyio.fail_after(30):
            while True:
                listing = (await call(client, "list_replicas")).structured_content or {}
                status = next(r["status"] for r in listing["replicas"] if r["id"] == replica_id)
                if status == "sleeping":
                    break
                await anyio.sleep(0.1)
        canvas = ResourceTemplateReference(uri="replicas://replicas/{replica_id}/canvas/{filename}")
        offered = await client.complete(canvas, {"name": "filename", "value": ""}, {"replica_id": replica_id})
        assert offered.completion.values == []
        listing = (await call(client, "list_replicas")).structured_content or {}
        assert next(r["status"] for r in listing["replicas"] if r["id"] == replica_id) == "sleeping"


async def test_completions_are_cached_briefly(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        template = ResourceTemplateReference(uri="replicas://replicas/{replica_id}")
        before = sum(sandbox.faults.stats.requests.values())
        for partial in ("", "r", "re", "rep"):  # a user typing
            await client.complete(template, {"name": "replica_id", "value": partial})
        assert sum(sandbox.faults.stats.requests.values()) - before == 1


@pytest.mark.parametrize("failure", ["timeout", "error"])
async def test_a_failed_completion_load_is_not_kept_and_the_next_request_loads_again(
    sandbox: RunningSandbox, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A load that timed out or failed upstream knows nothing: kept as "no candidates", it would hide every
    # replica from completion for CACHE_SECONDS although the next read would succeed.
    [replica_id] = add_sleeping_replicas(sandbox, 1, prefix="completable")
    monkeypatch.setattr(completions, "LOAD_SECONDS", 0.3)
    template = ResourceTemplateReference(uri="replicas://replicas/{replica_id}")
    async with connect(sandbox) as client:
        if failure == "timeout":
            sandbox.faults.add_latency(5.0, route="/v1/replica", method="GET", times=1)
        else:
            sandbox.faults.inject_status(500, route="/v1/replica", method="GET", times=1)
        failed = await client.complete(template, {"name": "replica_id", "value": "completable"})
        assert failed.completion.values == []
        again = await client.complete(template, {"name": "replica_id", "value": "completable"})
        assert again.completion.values == [replica_id]


async def test_a_load_answered_in_another_shape_completes_to_nothing_and_is_logged_once(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # A 200 whose body does not fit the model fails the load with pydantic's ValidationError, not a
    # ReplicasError: it completes to nothing like any failed load (the client's request never fails), is
    # told once at warning (a typing user retries on every key), naming no value, and is not kept.
    from replicas_mcp.server.user_notices import forget_notices

    forget_notices()
    caplog.set_level(logging.WARNING)
    [replica_id] = add_sleeping_replicas(sandbox, 1, prefix="completable")
    other_shape = {"replicas": [{"name": "leaked-name", "status": 7}], "total": "many"}
    sandbox.faults.replace_body(other_shape, route="/v1/replica", method="GET", times=2)
    template = ResourceTemplateReference(uri="replicas://replicas/{replica_id}")
    async with connect(sandbox) as client:
        for partial in ("c", "completable"):
            failed = await client.complete(template, {"name": "replica_id", "value": partial})
            assert failed.completion.values == []
        again = await client.complete(template, {"name": "replica_id", "value": "completable"})
        assert again.completion.values == [replica_id]
    [warning] = [r for r in caplog.records if "completion" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.exc_info is None  # one line: no traceback (it would show the body)
    assert "replica_id" in warning.getMessage()
    for secret in ("leaked-name", "many", sandbox.org_key):
        assert secret not in caplog.text


async def test_an_upstream_outage_reaches_the_client_log_once(sandbox: RunningSandbox) -> None:
    from replicas_mcp.server.user_notices import forget_notices

    forget_notices()
    received = Received()
    async with own_client_server(sandbox, sandbox.org_key, received, mode="legacy") as client:
        await set_level(client, "warning")
        sandbox.faults.inject_status(503, route="/v1/replica", method="GET", times=20)
        for _ in range(3):
            assert (await client.call_tool("list_replicas", {})).is_error
        message = await received.wait_for("the Replicas API is failing (503)")
        await anyio.sleep(0.2)
    assert message.level == "warning"
    assert sum("is failing" in str(m.data) for m in received.messages) == 1  # once a minute, not per call


def test_user_notices_are_rate_limited_per_kind() -> None:
    from replicas_mcp.server.user_notices import QUIET_SECONDS, tell_user

    assert tell_user("test-kind", "first", now=1000.0)
    assert not tell_user("test-kind", "again", now=1000.0 + QUIET_SECONDS / 2)
    assert tell_user("other-kind", "another kind", now=1000.0 + QUIET_SECONDS / 2)
    assert tell_user("test-kind", "later", now=1000.0 + QUIET_SECONDS + 1)


async def test_environment_completion_filters_by_what_was_typed(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        envs = (await call(client, "list_environments")).structured_content or {}
        id_of = {env["name"]: env["id"] for env in envs["environments"]}
        prompt = PromptReference(name="delegate_coding_task")
        offered = (await client.complete(prompt, {"name": "environment", "value": "A"})).completion.values
    # Names starting with "a" (and their ids) first, then names containing it (and their ids); "web"
    # and its id are left out although that UUID holds an "a".
    assert offered == ["api", id_of["api"], "Global", "platform", id_of["Global"], id_of["platform"]]
    assert "a" in id_of["web"]


def test_short_fragments_match_names_but_not_ids() -> None:
    candidates = [Candidate("0a30-uuid", "web"), Candidate("docs-page.md", value_is_id=False)]
    assert rank(candidates, "a") == ["docs-page.md"]
    assert rank(candidates, "uui") == ["0a30-uuid"]


async def test_a_second_set_level_replaces_the_first_and_messages_come_once(sandbox: RunningSandbox) -> None:
    # Each request gets its own SDK ServerSession: the session's level must be kept per connection, not per
    # setLevel request, or raising the level never takes effect and every message is sent once per call.
    received = Received()
    async with own_client_server(sandbox, sandbox.org_key, received, mode="legacy") as client:
        await set_level(client, "debug")
        await set_level(client, "error")
        logging.getLogger("replicas_mcp.server.watcher").warning("below the new level: not sent")
        logging.getLogger("replicas_mcp.server.watcher").error("sent once at the new level")
        await received.wait_for("sent once at the new level")
        await anyio.sleep(0.2)  # a duplicate, if any, would be queued right behind it
    assert [m.data for m in received.messages if "sent once" in str(m.data)] == ["sent once at the new level"]
    assert all("below the new level" not in str(m.data) for m in received.messages)


async def test_a_context_replica_id_that_is_not_an_id_is_neither_read_nor_kept(
    sandbox: RunningSandbox,
) -> None:
    # The context is the client's free text (up to the 4 MB request limit): kept as a cache key, 512 of them
    # would hold gigabytes; and it costs an upstream list each time for an answer that is always "nothing".
    async with connect(sandbox) as client:
        canvas = ResourceTemplateReference(uri="replicas://replicas/{replica_id}/canvas/{filename}")
        before = sum(sandbox.faults.stats.requests.values())
        for junk in ("x" * 200_000, "../../v1/replica", "y" * 200_001):
            offered = await client.complete(canvas, {"name": "filename", "value": ""}, {"replica_id": junk})
            assert offered.completion.values == []
        assert sum(sandbox.faults.stats.requests.values()) - before == 0


async def test_a_base_url_answering_json_of_another_shape_is_reported_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # REPLICAS_BASE_URL pointing at some other JSON service: the start-up check's list read gets a 200 that
    # does not fit the model (pydantic's ValidationError, not a ReplicasError). It runs in the lifespan's
    # task group: raised there, it would end the server a moment after a desktop client connected.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from replicas_mcp.sandbox.serve import serving

    async def other_service(request: Request) -> Response:
        return JSONResponse({"service": "something else", "items": "none"})

    app = Starlette(routes=[Route("/{path:path}", other_service, methods=["GET", "POST"])])
    caplog.set_level(logging.WARNING)
    async with serving(app) as base_url:
        server = build_server(Settings(api_key=WRONG_KEY, base_url=base_url))
        async with Client(server, mode="legacy") as client:
            with anyio.fail_after(10):
                while not any("could not check the API key" in r.getMessage() for r in caplog.records):
                    await anyio.sleep(0.02)
            assert (await client.list_tools()).tools  # still serving


def test_one_callers_many_sessions_evict_only_their_own_log_sinks() -> None:
    # Every bound has an owner: a caller opening sessions past its share drops its own oldest sink, and the
    # sinks of other callers stay.
    log = ClientLog(lambda: "nobody")
    log._add("other-session", _Sink(object(), "warning", "other"))
    for index in range(MAX_SINKS_PER_CALLER * 3):
        log._add(f"flood-{index}", _Sink(object(), "debug", "flooder"))
    kept = log._sinks
    assert "other-session" in kept
    flooders = [key for key, sink in kept.items() if sink.caller == "flooder"]
    assert len(flooders) == MAX_SINKS_PER_CALLER
    assert flooders[-1] == f"flood-{MAX_SINKS_PER_CALLER * 3 - 1}"  # the newest kept, the oldest dropped
