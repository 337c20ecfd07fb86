"""What `client.environments` puts on the wire and how it reads answers, against a scripted transport.

The sandbox tests drive the same operations end to end; these pin the exact requests (paths, bodies,
null vs. omitted fields) and the local checks that must stop a request before it is sent.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest

from replicas_mcp.client.environment_hooks import HOOK_TEST_READ_TIMEOUT
from replicas_mcp.client.environments import Environments
from replicas_mcp.client.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    RequestValidationError,
    StreamError,
)
from replicas_mcp.client.models.environments import EnvironmentMcpStdioConfig, EnvironmentVariable

from .client_helpers import scripted_core

STAMP = "2026-05-17T09:00:00Z"


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    sse: str | None = None


@dataclass
class ScriptedApi:
    """Answers (method, raw path) from a table and records every request it saw."""

    replies: dict[tuple[str, str], Reply] = field(default_factory=dict)
    seen: list[httpx2.Request] = field(default_factory=list)

    def on(
        self, method: str, path: str, body: Any = None, *, status: int = 200, sse: str | None = None
    ) -> None:
        self.replies[(method, path)] = Reply(status, body, sse)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request)
        path = request.url.raw_path.decode().split("?")[0]
        reply = self.replies.get((request.method, path))
        if reply is None:
            return httpx2.Response(404, json={"error": f"no route {request.method} {path}"})
        if reply.sse is not None:
            return httpx2.Response(
                reply.status, headers={"content-type": "text/event-stream"}, content=reply.sse.encode()
            )
        return httpx2.Response(reply.status, json=reply.body)

    def last_json(self) -> Any:
        return json.loads(self.seen[-1].content)


@pytest.fixture
def api() -> ScriptedApi:
    return ScriptedApi()


@pytest.fixture
async def envs(api: ScriptedApi) -> AsyncIterator[Environments]:
    async with scripted_core(api) as core:
        yield Environments(core)


def env(env_id: str = "e1", **extra: Any) -> dict[str, Any]:
    return {"id": env_id, "name": "staging", "is_global": env_id == "global", **extra}


def sse(*frames: tuple[str, dict[str, Any] | str]) -> str:
    out = []
    for event, data in frames:
        payload = data if isinstance(data, str) else json.dumps(data)
        out.append(f"event: {event}\ndata: {payload}\n\n")
    return "".join(out)


async def test_list_and_get_global(envs: Environments, api: ScriptedApi) -> None:
    api.on("GET", "/v1/environments", {"environments": [env("global"), env("e1")]})
    api.on("GET", "/v1/environments/global", {"environment": env("global")})
    with anyio.fail_after(5):
        listed = await envs.list(scope="all")
        glob = await envs.get("global")
    assert [e.id for e in listed] == ["global", "e1"]
    assert api.seen[0].url.params["scope"] == "all"
    assert glob.is_global


async def test_ids_are_percent_encoded(envs: Environments, api: ScriptedApi) -> None:
    api.on("GET", "/v1/environments/a%2Fb%3Fc", {"environment": env("a/b?c")})
    with anyio.fail_after(5):
        got = await envs.get("a/b?c")
    assert got.id == "a/b?c"


async def test_create_sends_only_given_fields(envs: Environments, api: ScriptedApi) -> None:
    api.on("POST", "/v1/environments", {"environment": env("e2")}, status=201)
    with anyio.fail_after(5):
        await envs.create(name="staging", repository_id="r1", system_prompt="be careful")
    assert api.last_json() == {"name": "staging", "repository_id": "r1", "system_prompt": "be careful"}


async def test_create_rejects_both_bindings_before_sending(envs: Environments, api: ScriptedApi) -> None:
    with pytest.raises(RequestValidationError) as caught:
        await envs.create(name="x", repository_id="r1", repository_set_id="s1")
    assert isinstance(caught.value, BadRequestError)
    assert "mutually exclusive" in str(caught.value)
    assert api.seen == []


async def test_update_sends_null_for_none_and_omits_unset(envs: Environments, api: ScriptedApi) -> None:
    api.on("PATCH", "/v1/environments/e1", {"environment": env("e1")})
    with anyio.fail_after(5):
        await envs.update("e1", name="staging-eu", system_prompt=None)
    assert api.last_json() == {"name": "staging-eu", "system_prompt": None}
    with pytest.raises(RequestValidationError):
        await envs.update("e1")
    assert len(api.seen) == 1


async def test_delete_conflict_is_mapped(envs: Environments, api: ScriptedApi) -> None:
    api.on(
        "DELETE", "/v1/environments/global", {"error": "The Global environment cannot be deleted"}, status=409
    )
    with anyio.fail_after(5), pytest.raises(ConflictError) as caught:
        await envs.delete("global")
    assert "Global environment cannot be deleted" in str(caught.value)


async def test_variables_round_trip_and_mask(envs: Environments, api: ScriptedApi) -> None:
    record = {"id": "v1", "environment_id": "e1", "key": "DATABASE_URL", "value": "postgres://u:pw123@h/db"}
    api.on("POST", "/v1/environments/global/variables", {"environment_variable": record}, status=201)
    api.on("GET", "/v1/environments/global/variables", {"environment_variables": [record]})
    api.on("PATCH", "/v1/environments/global/variables/v1", {"environment_variable": record})
    api.on("DELETE", "/v1/environments/global/variables/v1", {"success": True})
    with anyio.fail_after(5):
        created = await envs.variables.create("global", key="DATABASE_URL", value="postgres://u:pw123@h/db")
        listed = await envs.variables.list("global")
        await envs.variables.update("global", "v1", value="postgres://new")
        assert api.last_json() == {"value": "postgres://new"}
        await envs.variables.delete("global", "v1")
    assert isinstance(created, EnvironmentVariable)
    assert listed[0].value == "postgres://u:pw123@h/db"
    assert "pw123" not in repr(listed)
    assert "pw123" not in str(created)


async def test_file_content_limit_is_64_kib_of_utf8(envs: Environments, api: ScriptedApi) -> None:
    api.on("POST", "/v1/environments/e1/files", {"environment_file": {"id": "f", "name": "n", "path": "~/a"}})
    with anyio.fail_after(5):
        await envs.files.create("e1", name="n", path="~/a", content="x" * 65536)
    with pytest.raises(RequestValidationError, match="65537 bytes"):
        await envs.files.create("e1", name="n", path="~/a", content="x" * 65537)
    # Bytes, not characters: 21,846 three-byte characters are 65,538 bytes.
    with pytest.raises(RequestValidationError):
        await envs.files.update("e1", "f", content="€" * 21846)
    assert len(api.seen) == 1


async def test_skills_search_enable_disable(envs: Environments, api: ScriptedApi) -> None:
    hit = {"name": "docker", "slug": "docker", "source": "https://skills.sh/skill/docker", "installs": 10}
    api.on("GET", "/v1/environment-skills/search", {"skills": [hit]})
    membership = {"id": "k1", "name": "docker", "slug": "docker", "source": hit["source"]}
    api.on("POST", "/v1/environments/e1/skills", {"environment_skill": membership}, status=201)
    api.on("DELETE", "/v1/environments/e1/skills/k1", {"success": True})
    with anyio.fail_after(5):
        found = await envs.skills.search("dock er")
        enabled = await envs.skills.enable(
            "e1", name=found[0].name, slug=found[0].slug, source=found[0].source
        )
        await envs.skills.disable("e1", enabled.id)
    assert api.seen[0].url.params["q"] == "dock er"
    assert json.loads(api.seen[1].content) == {"name": "docker", "slug": "docker", "source": hit["source"]}


async def test_registry_add_folds_envelope(envs: Environments, api: ScriptedApi) -> None:
    api.on(
        "POST",
        "/v1/environments/e1/skills-registries",
        {
            "registry": {"id": "r1", "url": "https://github.com/org/skills", "name": "skills"},
            "repo_skills": [{"id": "s1", "name": "lint"}],
            "error": None,
        },
    )
    with anyio.fail_after(5):
        registry = await envs.skill_registries.add("e1", url="https://github.com/org/skills")
    assert registry.id == "r1"
    assert registry.repo_skills[0].name == "lint"


async def test_mcp_create_fills_config_defaults(envs: Environments, api: ScriptedApi) -> None:
    stored = {
        "id": "m1",
        "name": "linear",
        "transport": "stdio",
        "config": {"command": "npx", "args": [], "env": {}},
    }
    api.on("POST", "/v1/environments/e1/mcps", {"environment_mcp": stored}, status=201)
    with anyio.fail_after(5):
        mcp = await envs.mcps.create("e1", name="linear", transport="stdio", config={"command": "npx"})
    assert api.last_json()["config"] == {"command": "npx", "args": [], "env": {}}
    assert isinstance(mcp.config, EnvironmentMcpStdioConfig)


@pytest.mark.parametrize(
    ("name", "transport", "config", "message"),
    [
        ("bad name!", "stdio", {"command": "npx"}, "must be 1-64"),
        ("replicas-internal", "stdio", {"command": "npx"}, "reserved prefix"),
        ("x" * 65, "stdio", {"command": "npx"}, "must be 1-64"),
        ("ok", "stdio", {"env": {"TOKEN": "s3cr3t-value"}}, "command"),
        ("ok", "http", {"headers": {"Authorization": "Bearer s3cr3t-value"}}, "url"),
        ("ok", "sse", {"url": "https://x", "headers": {"A": 1}}, "headers"),
    ],
)
async def test_mcp_config_checked_before_sending(
    envs: Environments, api: ScriptedApi, name: str, transport: str, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(RequestValidationError) as caught:
        await envs.mcps.create("e1", name=name, transport=transport, config=config)
    assert message in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)
    assert "s3cr3t-value" not in repr(caught.value)
    assert api.seen == []


def stored_mcp(transport: str, config: dict[str, Any], mcp_id: str = "m1") -> dict[str, Any]:
    return {"id": mcp_id, "name": "n", "transport": transport, "config": config}


async def test_mcp_update_sends_the_whole_config_merged_with_the_stored_one(
    envs: Environments, api: ScriptedApi
) -> None:
    stdio = stored_mcp("stdio", {"command": "npx", "args": ["srv"], "env": {"TOKEN": "t0"}})
    api.on("GET", "/v1/environments/e1/mcps", {"environment_mcps": [stdio]})
    api.on("PATCH", "/v1/environments/e1/mcps/m1", {"environment_mcp": stdio})
    with anyio.fail_after(5):
        await envs.mcps.update("e1", "m1", config={"args": ["srv", "--verbose"]})
    assert api.last_json() == {
        "config": {"command": "npx", "args": ["srv", "--verbose"], "env": {"TOKEN": "t0"}}
    }
    with anyio.fail_after(5):
        await envs.mcps.update("e1", "m1", name="renamed")
    assert api.last_json() == {"name": "renamed"}  # no config: nothing to merge, nothing read


async def test_mcp_update_keeps_headers_for_the_same_server_only(
    envs: Environments, api: ScriptedApi
) -> None:
    remote = stored_mcp("http", {"url": "https://mcp.example/v1", "headers": {"Authorization": "Bearer t"}})
    api.on("GET", "/v1/environments/e1/mcps", {"environment_mcps": [remote]})
    api.on("PATCH", "/v1/environments/e1/mcps/m1", {"environment_mcp": remote})
    with anyio.fail_after(5):
        await envs.mcps.update("e1", "m1", config={"url": "https://mcp.example/v2"})
    assert api.last_json()["config"] == {
        "url": "https://mcp.example/v2",
        "headers": {"Authorization": "Bearer t"},
    }
    with anyio.fail_after(5):
        await envs.mcps.update("e1", "m1", transport="sse")  # same shape: the stored config is kept
    assert api.last_json() == {"transport": "sse", "config": remote["config"]}
    with anyio.fail_after(5):
        await envs.mcps.update("e1", "m1", config={"url": "https://elsewhere.example/"})
    assert api.last_json()["config"] == {"url": "https://elsewhere.example/", "headers": {}}


async def test_mcp_update_refusals(envs: Environments, api: ScriptedApi) -> None:
    remote = stored_mcp("http", {"url": "https://x", "headers": {}})
    api.on("GET", "/v1/environments/e1/mcps", {"environment_mcps": [remote]})
    with pytest.raises(RequestValidationError, match="whole config"):
        await envs.mcps.update("e1", "m1", transport="stdio")
    with pytest.raises(RequestValidationError, match="name cannot be cleared"):
        await envs.mcps.update("e1", "m1", name=None)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="m9"):
        await envs.mcps.update("e1", "m9", config={"url": "https://y"})
    assert all(request.method == "GET" for request in api.seen)


async def test_warm_hook_sync_endpoints(envs: Environments, api: ScriptedApi) -> None:
    record = {"id": "h1", "version": 2, "content": "echo hi", "is_active": True}
    api.on("POST", "/v1/environments/global/warm-hooks/test", {"test": {"exit_code": 0, "output": "hi\n"}})
    api.on("POST", "/v1/environments/global/warm-hooks/save", {"warm_hook": record}, status=201)
    api.on(
        "POST",
        "/v1/environments/global/warm-hooks/save-test",
        {"test": {"exit_code": 3, "output": "boom", "timed_out": False}, "warm_hook": None},
        status=201,
    )
    api.on("GET", "/v1/environments/global/warm-hooks/repository-hooks", {"repositories": []})
    with anyio.fail_after(5):
        tested = await envs.warm_hooks.test("global", "echo hi")
        saved = await envs.warm_hooks.save("global", "echo hi")
        both = await envs.warm_hooks.save_and_test("global", "exit 3")
        repo_hooks = await envs.warm_hooks.repository_hooks("global")
    assert tested.succeeded
    assert tested.output == "hi\n"
    assert saved.version == 2
    assert not both.saved
    assert both.test.exit_code == 3
    assert repo_hooks == {"repositories": []}


async def test_warm_hook_stream_yields_typed_events_and_stops_at_complete(
    envs: Environments, api: ScriptedApi
) -> None:
    body = sse(
        ("progress", {"message": "Provisioning sandbox"}),
        ("heartbeat", {}),
        ("output", {"output": "installing\n"}),
        ("complete", {"exit_code": 0, "timed_out": False, "warm_hook": {"id": "h3", "content": "x"}}),
        ("output", {"output": "never read"}),
    )
    api.on("POST", "/v1/environments/e1/warm-hooks/save-test/stream", sse=body)
    with anyio.fail_after(5):
        async with envs.warm_hooks.stream("e1", "bun install", mode="test_only") as events:
            received = [event async for event in events]
    assert [e.event for e in received] == ["progress", "output", "complete"]
    assert received[-1].warm_hook is not None
    assert received[-1].warm_hook.id == "h3"
    assert api.last_json() == {"content": "bun install", "mode": "test_only"}
    assert api.seen[-1].headers["accept"] == "text/event-stream"


async def test_hook_stream_without_result_raises_stream_error(envs: Environments, api: ScriptedApi) -> None:
    api.on("POST", "/v1/environments/e1/start-hooks/test/stream", sse=sse(("progress", "plain text status")))
    with anyio.fail_after(5):
        async with envs.start_hooks.stream_test("e1", "npm run dev &") as events:
            first = await events.__anext__()
            assert first.event == "progress"
            assert first.message == "plain text status"
            with pytest.raises(StreamError, match="without a complete or error"):
                await events.__anext__()


async def test_hook_stream_error_event_is_terminal(envs: Environments, api: ScriptedApi) -> None:
    api.on(
        "POST",
        "/v1/environments/e1/start-hooks/test/stream",
        sse=sse(("error", {"message": "sandbox failed"}), ("output", {"output": "late"})),
    )
    with anyio.fail_after(5):
        async with envs.start_hooks.stream_test("e1", "x") as events:
            received = [event async for event in events]
    assert [e.event for e in received] == ["error"]
    assert received[0].message == "sandbox failed"


async def test_start_hooks_and_warm_pool(envs: Environments, api: ScriptedApi) -> None:
    api.on("GET", "/v1/environments/e1/start-hooks", {"start_hook": None})
    api.on("POST", "/v1/environments/e1/start-hooks/save", {"start_hook": None}, status=201)
    api.on("POST", "/v1/environments/e1/start-hooks/test", {"test": {"exit_code": 1, "output": "no"}})
    api.on("PUT", "/v1/environments/e1/warm-pools", {"warm_pool": {"id": "p", "enabled": False}})
    with anyio.fail_after(5):
        assert (await envs.start_hooks.get("e1")).start_hook is None
        assert await envs.start_hooks.save("e1", "") is None
        assert not (await envs.start_hooks.test("e1", "exit 1")).succeeded
        pool = await envs.warm_pool.set("e1", enabled=False)
    assert api.last_json() == {"enabled": False}
    assert pool.enabled is False


async def test_synchronous_hook_tests_wait_longer_than_the_default_read_timeout(
    envs: Environments, api: ScriptedApi
) -> None:
    result = {"test": {"exit_code": 0, "output": "ok", "timed_out": False}}
    api.on("POST", "/v1/environments/global/warm-hooks/test", result)
    api.on("POST", "/v1/environments/global/start-hooks/test", result)
    api.on("GET", "/v1/environments/global", {"environment": env("global")})
    with anyio.fail_after(5):
        await envs.warm_hooks.test("global", "echo hi")
        await envs.start_hooks.test("global", "echo hi")
        await envs.get("global")
    read_timeouts = [request.extensions["timeout"]["read"] for request in api.seen]
    assert read_timeouts == [HOOK_TEST_READ_TIMEOUT, HOOK_TEST_READ_TIMEOUT, 30.0]
