"""`--confirm-destructive`: the user is asked with the concrete target; no means nothing changes upstream
(a question may read the current state first, to show it and to fail a call that cannot succeed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ClientCapabilities, ElicitationCapability, ElicitResult, InputRequiredResult

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import ConfirmPolicy
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server
from replicas_mcp.server.tools import PendingCall, ToolGroup, ToolResult, all_tools
from replicas_mcp.server.tools.confirmation import QUESTION_KEY, confirm_call, question_state
from replicas_mcp.server.tools.wrapper import build_tool

from ..helpers import text
from .confirm_helpers import QUEUED_TEXT, Asker, connected, queue_a_message
from .confirm_helpers import writes as requests
from .helpers import World, sample_arguments, seed_world, server_settings, tool_parameters

MODES = ("auto", "legacy")
# Every tool that can ask: the destructive ones, and those that ask for some calls (send_replica_message).
DESTRUCTIVE = sorted(spec.name for spec in all_tools() if spec.question is not None)
SPECS = {spec.name: spec for spec in all_tools()}
PARAMS = tool_parameters()
# What each destructive call is, concretely (arguments chosen so that the call destroys something).
DESTROYING: dict[str, dict[str, Any]] = {
    "edit_chat_queue": {"action": "clear"},
    "run_environment_hook": {"save": "always", "hook": "warm"},
    "remove_environment_item": {"kind": "variable", "item": "DATABASE_URL"},
    "send_replica_message": {"mode": "replace_queue"},
    "set_environment_item": {"kind": "variable", "name": "DATABASE_URL", "value": "postgres://elsewhere"},
    "save_environment": {"system_prompt": "Always push straight to main."},
    "save_automation": {"prompt": "Push straight to main."},
}


def destroying_arguments(tool: str, world: World) -> dict[str, Any]:
    return {**sample_arguments(tool, PARAMS[tool], world), **DESTROYING.get(tool, {})}


async def question(tool: str, arguments: dict[str, Any], api: ReplicasClient | None = None) -> str | None:
    """The question a tool's declaration puts to the user for these arguments (None: it does not ask)."""
    ask = SPECS[tool].question
    return None if ask is None else await ask(PendingCall(tool, arguments, api=api))


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(20):
        return await client.call_tool(tool, arguments)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content"), [("decline", None), ("cancel", None), ("accept", {"confirm": False})]
)
async def test_a_no_sends_nothing_upstream(
    sandbox: RunningSandbox, mode: str, action: str, content: dict[str, Any] | None
) -> None:
    asker = Asker(action, content)
    async with connected(sandbox, policy="elicit", mode=mode, asker=asker, queued=True) as (client, world):
        for tool in DESTRUCTIVE:
            before = requests(sandbox)
            result = await call(client, tool, destroying_arguments(tool, world))
            assert result.is_error, f"{tool} went ahead after {action}"
            assert "nothing was changed" in text(result)
            assert requests(sandbox) == before, f"{tool} reached the API after {action}"
        assert len(asker.asked) == len(DESTRUCTIVE)
        assert world.replica_id in asker.asked[DESTRUCTIVE.index("delete_replica")]


@pytest.mark.parametrize("mode", MODES)
async def test_a_yes_goes_ahead_after_naming_the_target(sandbox: RunningSandbox, mode: str) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="elicit", mode=mode, asker=asker) as (client, world):
        deletes = sandbox.faults.stats.count("DELETE", "/v1/replica/{id}")
        result = await call(client, "delete_replica", {"replica_id": world.replica_id})
        assert not result.is_error, text(result)
        assert sandbox.faults.stats.count("DELETE", "/v1/replica/{id}") == deletes + 1
        assert len(asker.asked) == 1
        # Named by name and id: a user recognises the name, the id tells same-named replicas apart.
        assert asker.asked[0].startswith(f"Delete replica canary-target ({world.replica_id})?")


async def test_elicit_lets_a_client_that_cannot_be_asked_proceed(sandbox: RunningSandbox) -> None:
    async with connected(sandbox, policy="elicit") as (client, world):
        result = await call(client, "delete_automation", {"automation_id": world.automation_id})
        assert not result.is_error, text(result)


@pytest.mark.parametrize("mode", MODES)
async def test_require_refuses_a_client_that_cannot_be_asked(sandbox: RunningSandbox, mode: str) -> None:
    async with connected(sandbox, policy="require", mode=mode, queued=True) as (client, world):
        for tool in DESTRUCTIVE:
            before = requests(sandbox)
            result = await call(client, tool, destroying_arguments(tool, world))
            assert result.is_error
            assert "--confirm-destructive=require" in text(result)
            assert requests(sandbox) == before


async def test_require_still_asks_a_client_that_can_be_asked(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        result = await call(client, "delete_replica", {"replica_id": world.replica_id})
        assert not result.is_error, text(result)
        assert len(asker.asked) == 1


async def test_never_does_not_ask(sandbox: RunningSandbox) -> None:
    asker = Asker("decline")
    async with connected(sandbox, policy="never", asker=asker) as (client, world):
        result = await call(client, "delete_replica", {"replica_id": world.replica_id})
        assert not result.is_error, text(result)
        assert asker.asked == []


async def test_a_send_that_drops_the_queue_is_confirmed(sandbox: RunningSandbox) -> None:
    asker = Asker("decline")
    async with connected(sandbox, policy="elicit", asker=asker, queued=True) as (client, world):
        before = requests(sandbox)
        dropping = {"replica_id": world.replica_id, "message": "Stop", "mode": "replace_queue"}
        result = await call(client, "send_replica_message", dropping)
        assert result.is_error
        assert requests(sandbox) == before
        appending = {"replica_id": world.replica_id, "message": "Also add docs", "mode": "append"}
        assert not (await call(client, "send_replica_message", appending)).is_error
        plain = {"replica_id": world.replica_id, "message": "And a changelog entry"}
        assert not (await call(client, "send_replica_message", plain)).is_error
        first = {"replica_id": world.replica_id, "message": "Docs first", "mode": "next"}
        assert not (await call(client, "send_replica_message", first)).is_error
        assert len(asker.asked) == 1


async def test_calls_that_destroy_nothing_are_not_confirmed(sandbox: RunningSandbox) -> None:
    asker = Asker("decline")
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        # An empty queue has nothing to lose: clearing it, or replacing it with a message, asks nothing.
        clear = {"replica_id": world.replica_id, "chat_id": world.chat_id, "action": "clear"}
        cleared = await call(client, "edit_chat_queue", clear)
        assert not cleared.is_error, text(cleared)
        replace = {"replica_id": world.replica_id, "message": "Start over", "mode": "replace_queue"}
        replaced = await call(client, "send_replica_message", replace)
        assert not replaced.is_error, text(replaced)
        assert (replaced.structured_content or {}).get("dropped") == 0
        test_run = {
            "environment_id": world.environment_id,
            "hook": "warm",
            "content": "echo ok",
            "save": "no",
        }
        assert not (await call(client, "run_environment_hook", test_run)).is_error
        assert not (await call(client, "list_replicas", {})).is_error
        send = {"replica_id": world.replica_id, "message": "Also add docs"}
        assert not (await call(client, "send_replica_message", send)).is_error
        assert not (await call(client, "send_replica_message", {**send, "mode": "next"})).is_error
        assert asker.asked == []


async def test_read_only_serves_no_destructive_tool(sandbox: RunningSandbox) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        server = build_server(server_settings(sandbox, sandbox.org_key, read_only=True), api)
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
    assert tools
    assert not {tool.name for tool in tools} & set(DESTRUCTIVE)
    assert all(tool.annotations is not None and tool.annotations.read_only_hint for tool in tools)


async def test_every_listed_destructive_action_names_its_target(sandbox: RunningSandbox) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        world = await seed_world(api)
        await queue_a_message(api, world)
        spare = await api.environments.create(name="spare-env")
        args = {
            "replica_id": world.replica_id,
            "chat_id": world.chat_id,
            "environment_id": world.environment_id,
            "automation_id": world.automation_id,
            "kind": "file",
            "item": "~/.npmrc",
            "hook": "warm",
        }

        async def asked(tool: str, **changes: Any) -> str | None:
            return await question(tool, {**args, **changes}, api)

        assert world.replica_id in str(await asked("delete_replica"))
        assert world.chat_id in str(await asked("delete_chat"))
        assert world.automation_id in str(await asked("delete_automation"))
        assert "~/.npmrc" in str(await asked("remove_environment_item"))
        assert spare.id in str(
            await asked("remove_environment_item", kind="environment", environment_id=spare.id)
        )
        clear = str(await asked("edit_chat_queue", action="clear"))
        assert clear.startswith("Clear ")
        assert QUEUED_TEXT in clear  # what would be lost, shown
        assert world.environment_id in str(await asked("run_environment_hook", save="always"))
        assert await asked("run_environment_hook", save="no") is None
        assert world.replica_id in str(await asked("send_replica_message", mode="replace_queue"))
        assert await asked("send_replica_message", mode="append") is None
        assert await asked("send_replica_message", mode="next") is None
        assert await asked("send_replica_message") is None  # a plain send never asks
        # Model-supplied text cannot hide behind invisible characters in the question.
        with pytest.raises(ToolError) as failed:  # and a chat that is not there fails unasked
            await asked("delete_chat", chat_id="c\u202e1")
        assert "\u202e" not in str(failed.value)


class Wiped(ToolResult):
    ok: bool


async def test_a_destructive_tool_declared_without_a_question_is_still_confirmed() -> None:
    group = ToolGroup("replicas")

    @group.tool(title="Wipe", read_only=False, destructive=True)
    async def wipe_everything(x: str) -> Wiped:
        """Wipe."""
        return Wiped(ok=True)

    @group.tool(title="Harmless", read_only=False)
    async def harmless(x: str) -> Wiped:
        """Harmless."""
        return Wiped(ok=True)

    wipe, safe = group.specs
    assert wipe.question is not None
    assert "wipe_everything" in str(await wipe.question(PendingCall("wipe_everything", {"x": "1"})))
    assert safe.question is None
    # Without a request context (the tool takes none) nobody can be asked: `require` refuses it.
    policies: tuple[tuple[ConfirmPolicy, bool], ...] = (("require", True), ("elicit", False))
    for policy, refused in policies:
        server = MCPServer(
            "wipe-test", log_level="WARNING", tools=[build_tool(wipe, policy), build_tool(safe, policy)]
        )
        async with Client(server) as client:
            result = await call(client, "wipe_everything", {"x": "1"})
            assert result.is_error is refused, text(result)
            assert not (await call(client, "harmless", {"x": "1"})).is_error


@dataclass
class FakeSession:
    can_send_request: bool = False


@dataclass
class FakeModernContext:
    """Just what `confirm_call` reads from a 2026-07-28 request context."""

    input_responses: dict[str, Any] | None = None
    request_state: str | None = None
    protocol_version: str = "2026-07-28"
    client_capabilities: ClientCapabilities = field(
        default_factory=lambda: ClientCapabilities(elicitation=ElicitationCapability())
    )
    session: FakeSession = field(default_factory=FakeSession)


async def test_an_answer_counts_only_with_the_state_minted_for_that_question() -> None:
    args = {"replica_id": "r-1"}
    yes = {QUESTION_KEY: ElicitResult(action="accept", content={"confirm": True})}

    asked = "Delete replica r-1?"

    async def outcome(ctx: FakeModernContext) -> Any:
        return await confirm_call(ctx, "delete_replica", args, "elicit", asked)  # type: ignore[arg-type]

    # An answer sent up front, without the round's state, is not trusted: the question is asked.
    first = await outcome(FakeModernContext(input_responses=yes))
    assert isinstance(first, InputRequiredResult)
    assert first.request_state == question_state("delete_replica", args, asked)
    # An answer with the state of another call's question is not trusted either.
    other = question_state("delete_replica", {"replica_id": "r-2"}, asked)
    assert isinstance(
        await outcome(FakeModernContext(input_responses=yes, request_state=other)), InputRequiredResult
    )
    # The retry of the round we minted, with a yes: go ahead.
    assert await outcome(FakeModernContext(input_responses=yes, request_state=first.request_state)) is None


async def test_a_question_left_unanswered_past_the_time_bound_says_nothing_was_done() -> None:
    # The tool's time bound covers the question too; when it runs out while the user has not answered, the
    # body never ran: "the work may continue upstream" would send the model to look for work that never began.
    group = ToolGroup("replicas")
    ran: list[str] = []

    @group.tool(title="Wipe", read_only=False, destructive=True, timeout=0.5)
    async def wipe_slowly_asked(x: str, ctx: Context[Any, Any]) -> Wiped:
        """Wipe."""
        ran.append(x)
        return Wiped(ok=True)

    async def never_answers(context: Any, params: Any) -> ElicitResult:
        await anyio.sleep(30)
        return ElicitResult(action="accept", content={"confirm": True})

    server = MCPServer("wipe-test", log_level="WARNING", tools=[build_tool(group.specs[0], "elicit")])
    async with Client(server, mode="legacy", elicitation_callback=never_answers) as client:
        result = await call(client, "wipe_slowly_asked", {"x": "1"})
    assert result.is_error
    assert "may continue upstream" not in text(result)
    assert "nothing was changed" in text(result), text(result)
    assert ran == []
