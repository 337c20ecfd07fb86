"""Shared pieces of the hardening tests: a canary key, a hardened server, a seeded sandbox, sample arguments.

`build_hardened_server` builds the server with the hardening layers applied (strict arguments and the
destructive-action confirmation), and `ServerThread` hosts a sandbox plus one connected MCP client on a
background event loop, so synchronous hypothesis tests can call tools cheaply, one call per example.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from mcp import Client
from mcp.server import MCPServer
from mcp.types import CallToolResult

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import ConfirmPolicy, Settings
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox
from replicas_mcp.sandbox.world import (
    DEFAULT_OTHER_ORG_KEY,
    DEFAULT_OTHER_ORG_NAME,
    DEFAULT_USER_ID,
    ApiKey,
)
from replicas_mcp.server import build_server
from replicas_mcp.server.tools import all_tools

T = TypeVar("T")

# A key that matches none of the redaction patterns: only its registration by the client can hide it.
CANARY_KEY = "canary-" + secrets.token_hex(20)
CANARY_PERSONAL_KEY = "canary-personal-" + secrets.token_hex(20)
TIME_SCALE = 0.05


def canary_keys() -> tuple[ApiKey, ...]:
    return (
        ApiKey(CANARY_KEY, "Acme", "org"),
        ApiKey(CANARY_PERSONAL_KEY, "Acme", "personal", DEFAULT_USER_ID),
        ApiKey(DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, "org"),
    )


@asynccontextmanager
async def canary_sandbox(**options: Any) -> AsyncIterator[RunningSandbox]:
    """A sandbox whose keys are canaries; strict (the contract's fields and rules only) unless told."""
    options.setdefault("strict", True)
    async with running_sandbox(seed=0, time_scale=TIME_SCALE, keys=canary_keys(), **options) as running:
        yield running


def server_settings(sandbox: RunningSandbox, key: str, **fields: Any) -> Settings:
    fields.setdefault("toolsets", ("all",))
    fields.setdefault("watch_poll_interval", 0.05)
    return Settings(api_key=key, base_url=sandbox.base_url, **fields)


def build_hardened_server(
    settings: Settings, client: ReplicasClient, *, policy: ConfirmPolicy = "elicit"
) -> MCPServer[Any]:
    """The server as the CLI builds it (strict arguments, log redaction), with this confirmation policy."""
    return build_server(settings.model_copy(update={"confirm_destructive": policy}), client)


def upstream_requests(sandbox: RunningSandbox) -> int:
    """Every request that reached the sandbox's `/v1/` API (counted as it arrives, before faults)."""
    return sum(sandbox.faults.stats.requests.values())


# --- a seeded world and arguments that would succeed in it ------------------------------------------------


@dataclass
class World:
    """Ids of real things in the sandbox, so a tool's arguments get past validation and reach upstream."""

    replica_id: str
    chat_id: str
    environment_id: str
    automation_id: str


async def seed_world(api: ReplicasClient) -> World:
    envs = await api.environments.list()
    env = next(e for e in envs if getattr(e, "repository_id", None))
    created = await api.replicas.create(name="canary-target", message="Fix the build", environment_id=env.id)
    with anyio.fail_after(20):
        while True:
            item = await api.replicas.status(created.id)
            if item is not None and item.status == "active":
                break
            await anyio.sleep(0.05)
    details = await api.replicas.get(created.id)
    automation = await api.automations.create(
        name="nightly",
        prompt="Run the tests",
        environment_id=env.id,
        triggers=[{"type": "cron", "config": {"schedule": "0 9 * * 1"}}],
    )
    return World(
        replica_id=created.id,
        chat_id=details.chats[0].id,
        environment_id=env.id,
        automation_id=automation.id,
    )


WORLD_IDS = ("replica_id", "chat_id", "environment_id", "automation_id")


def _value_for(tool: str, name: str, schema: Mapping[str, Any], world: World) -> Any:
    if name in WORLD_IDS:
        return getattr(world, name)
    if name == "replica_ids":
        return [world.replica_id]
    if name == "tasks":
        return [{"environment_id": world.environment_id, "task": "Add a test"}]
    special: dict[str, Any] = {
        "name": "canary-name",
        "message": "Please add a test",
        "task": "Please add a test",
        "prompt": "Run the tests",
        "key": "CANARY_VAR",
        "value": "v",
        "path": "~/CANARY.md",
        "content": "echo hi",
        "url": "https://github.com/acme/skills",
        "query": "postgres",
        "filename": "notes.md",
        "item": "CANARY_VAR",
        "slug": "postgres",
        "source": "https://skills.example/postgres",
        "triggers": [{"type": "cron", "config": {"schedule": "0 9 * * 1"}}],
        "config": {"url": "https://mcp.example/sse"},
    }
    if name in special:
        return special[name]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    return {
        "string": "x",
        "integer": schema.get("minimum", 1),
        "boolean": False,
        "array": [],
        "object": {},
        "number": 1,
    }.get(str(kind), "x")


# Per tool: arguments that make the call do something upstream (an update needs a field to change).
_OVERRIDES: dict[str, dict[str, Any]] = {
    "edit_chat_queue": {"action": "clear"},
    "update_environment": {"name": "renamed"},
    "save_environment": {"name": "renamed"},
    "set_environment_item": {"kind": "variable", "name": "CANARY_VAR", "value": "v"},
    "remove_environment_item": {"kind": "variable", "item": "DATABASE_URL"},
    "update_automation": {"enabled": False},
    "set_environment_mcp": {"transport": "http", "config": {"url": "https://mcp.example/mcp"}},
    # Delegation tools wait for agents; the hardening tests need only their first requests.
    "delegate_task": {"wait_s": 0},
    "wait_for_replica": {"timeout_s": 1},
}


def sample_arguments(tool: str, parameters: Mapping[str, Any], world: World) -> dict[str, Any]:
    """Required arguments (plus what some tools need to act), valid for the seeded world."""
    properties: Mapping[str, Any] = parameters.get("properties", {})
    # Required arguments, plus every id the tool accepts (an optional id often selects "change this one").
    wanted = set(parameters.get("required", ())) | (set(properties) & set(WORLD_IDS))
    arguments = {
        name: _value_for(tool, name, properties[name], world) for name in properties if name in wanted
    }
    return {**arguments, **_OVERRIDES.get(tool, {})}


def tool_parameters() -> dict[str, dict[str, Any]]:
    """Each declared tool's input schema, as served."""
    from replicas_mcp.server.tools.wrapper import build_tool

    return {spec.name: build_tool(spec).parameters for spec in all_tools()}


# --- a server on a background loop, for synchronous (hypothesis) tests ------------------------------------


class ServerThread:
    """A sandbox and one connected MCP client on an event loop of their own, in a daemon thread."""

    def __init__(self, *, policy: ConfirmPolicy = "elicit") -> None:
        self._policy = policy
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.sandbox: RunningSandbox | None = None
        self.client: Client | None = None
        self.world: World | None = None
        self._thread = threading.Thread(target=self._run, name="hardening server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._host())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _host(self) -> None:
        self._stop = asyncio.Event()
        async with AsyncExitStack() as stack:
            sandbox = await stack.enter_async_context(canary_sandbox())
            api = await stack.enter_async_context(
                ReplicasClient(api_key=CANARY_KEY, base_url=sandbox.base_url, max_retries=0)
            )
            self.world = await seed_world(api)
            server = build_hardened_server(server_settings(sandbox, CANARY_KEY), api, policy=self._policy)
            self.client = await stack.enter_async_context(Client(server))
            self.sandbox = sandbox
            self._ready.set()
            await self._stop.wait()

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"the test server did not start: {self._error!r}")
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        assert self.client is not None
        return self.run(self.client.call_tool(name, arguments))

    def requests(self) -> int:
        assert self.sandbox is not None
        return upstream_requests(self.sandbox)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()


@contextmanager
def server_thread(**options: Any) -> Iterator[ServerThread]:
    host = ServerThread(**options).start()
    try:
        yield host
    finally:
        host.stop()
