"""Issue 10 #1: one workflow, taught everywhere, naming only tools the server serves.

For several selections (the default toolset, everything, everything read-only, and a narrow selection with a
deny list), this walks what a model reads: the instructions, every tool description and argument
description, every prompt, the resource templates, and a result (or error) of every served tool, including
the errors a model meets most (unknown, sleeping and dead replicas). Outside fenced text (other people's
words) no text may name a tool the selection does not serve, or a REST request instead of a tool.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from mcp import Client

from replicas_mcp.delegation import WaitPolicy
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.hints import adapt, tools_named
from replicas_mcp.server.tools.declaration import TOOLSETS
from replicas_mcp.server.toolsets import delegation as delegation_tools

from ..helpers import force_status, text
from .helpers import bound_environment, call, connect, data, new_replica

SELECTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "all": {"toolsets": ("all",)},
    "read_only": {"toolsets": ("all",), "read_only": True},
    "narrow": {"toolsets": ("chats", "environments"), "exclude_tools": ("get_chat_queue",)},
    "allowed": {"tools": ("delegate_task", "wait_for_replica", "get_replica_result", "list_chats")},
}
FENCE = re.compile(r'<(untrusted-data-[0-9a-f]{8}) source="[^"]*">.*?</\1>', re.DOTALL)
JSON_FENCE = re.compile(r'<(untrusted-data-[0-9a-f]{8}) source=\\"[^"]*\\">.*?</\1>', re.DOTALL)
REST = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE) /|/v1/")
POLLING = re.compile(
    r"(?:[Ff]ollow|progress|until)[^.\n]*read_replica_history|Next: (?:create_replica|read_replica_history)"
)
WORKFLOW = ("delegate_task", "wait_for_replica", "get_replica_result", "send_replica_message")


def our_words(shown: str) -> str:
    """What the server itself wrote: the text without fenced parts (also inside JSON strings)."""
    return JSON_FENCE.sub("", FENCE.sub("", shown))


def problems(where: str, shown: str, served: set[str]) -> list[str]:
    own = our_words(shown)
    found = (
        [f"{where}: names unserved {sorted(tools_named(own) - served)}"] if tools_named(own) - served else []
    )
    if REST.search(own):
        found.append(f"{where}: names a REST request: {REST.search(own)}")
    if (empty := empty_next(own)) is not None:
        found.append(f"{where}: an empty Next: {own[max(0, empty - 80) : empty + 10]!r}")
    if POLLING.search(own):  # following work is wait_for_replica's job, not a transcript polled again
        found.append(f"{where}: teaches polling: {POLLING.search(own)}")
    return found


def empty_next(shown: str) -> int | None:
    """Where a "Next:" has nothing after it (a selection dropped every step it named: the line must go
    instead): only spaces or line breaks (also escaped, in JSON) up to the end, a quote or another "Next:"."""
    for found in re.finditer(r"Next:", shown):
        following = shown[found.end() :].replace("\\n", "\n").lstrip(" \t\n")
        if not following or following[0] in "\"'" or following.startswith("Next:"):
            return found.start()
    return None


def descriptions(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["description"]] if isinstance(schema.get("description"), str) else []
        return own + [d for key, value in schema.items() if key != "description" for d in descriptions(value)]
    if isinstance(schema, list):
        return [d for value in schema for d in descriptions(value)]
    return []


async def _setup(sandbox: RunningSandbox) -> dict[str, str]:
    """Replicas in every state a hint talks about, an environment and an automation."""
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        ids = {"env": await bound_environment(client)}
        ids["replica"] = await new_replica(client, "walker", "Draw [[canvas:markdown]] [[pr]]")
        ids["sleeper"] = await new_replica(client, "sleeper", "Nap [[no-changes]]")
        await force_status(sandbox, ids["sleeper"], "sleeping")
        asker = {"name": "asker", "message": "Ask [[ask: Which DB?]]", "environment_id": ids["env"]}
        ids["asker"] = data(await call(client, "create_replica", asker))["id"]
        ids["dead"] = await new_replica(client, "dead", "Die [[no-changes]]")
        await force_status(sandbox, ids["dead"], "error")
        chats = data(await call(client, "list_chats", {"replica_id": ids["replica"]}))["chats"]
        ids["chat"] = chats[0]["id"]
        canvas = data(await call(client, "list_canvas_items", {"replica_id": ids["replica"]}))["items"]
        ids["file"] = canvas[0]["filename"]
        automation = {
            "name": "nightly",
            "prompt": "Tidy up",
            "environment_id": ids["env"],
            "triggers": [{"type": "cron", "config": {"schedule": "0 3 * * *"}}],
        }
        ids["automation"] = data(await call(client, "save_automation", automation))["id"]
        ids["doomed_automation"] = data(await call(client, "save_automation", {**automation, "name": "x"}))[
            "id"
        ]
        return ids


def _calls(ids: dict[str, str], label: str) -> list[tuple[str, dict[str, Any]]]:
    """One call per tool (a few tools twice: a success and the error a model meets most)."""
    rid, env = ids["replica"], ids["env"]
    return [
        ("list_repositories", {}),
        ("list_environments", {}),
        ("list_replicas", {}),
        ("get_replica", {"replica_id": rid, "include_diff": True}),
        ("get_replica", {"replica_id": ids["sleeper"], "wake": True}),
        ("get_replica", {"replica_id": ids["dead"]}),
        ("get_replica", {"replica_id": "no-such-replica"}),
        ("read_replica_history", {"replica_id": rid}),
        ("read_replica_history", {"replica_id": ids["sleeper"]}),
        ("read_replica_history", {"replica_id": ids["dead"]}),
        ("get_replica_result", {"replica_id": rid}),
        ("get_replica_result", {"replica_id": ids["sleeper"]}),
        ("wait_for_replica", {"replica_id": rid, "timeout_s": 1}),
        ("wait_for_replica", {"replica_id": [rid, ids["sleeper"]], "timeout_s": 1}),
        ("wait_for_replica", {"replica_id": ids["asker"], "timeout_s": 20}),  # asking: answer, or relay it
        ("delegate_task", {"environment_id": env, "task": "Walk [[no-changes]]", "name": f"walk-{label}"}),
        ("create_replica", {"name": f"made-{label}", "message": "Hi [[no-changes]]", "environment_id": env}),
        ("send_replica_message", {"replica_id": rid, "message": "More [[no-changes]]"}),
        ("list_chats", {"replica_id": rid}),
        ("list_chats", {"replica_id": ids["sleeper"]}),
        ("create_chat", {"replica_id": rid, "provider": "codex"}),
        ("get_chat_queue", {"replica_id": rid, "chat_id": ids["chat"]}),
        (
            "edit_chat_queue",
            {"replica_id": rid, "chat_id": ids["chat"], "action": "remove", "message_id": "nope"},
        ),
        ("edit_chat_queue", {"replica_id": rid, "chat_id": ids["chat"], "action": "clear"}),
        ("delete_chat", {"replica_id": rid, "chat_id": "no-such-chat"}),
        ("list_canvas_items", {"replica_id": rid}),
        ("read_canvas_item", {"replica_id": rid, "filename": ids["file"]}),
        ("get_replica_hooks", {"replica_id": rid}),
        ("get_environment", {"environment_id": env, "include": ["variables", "mcps", "hooks"]}),
        ("get_environment", {"environment_id": "no-such-env"}),
        ("save_environment", {"name": f"env-{label}"}),
        ("save_environment", {"name": f"env-{label}"}),  # the duplicate name
        ("list_repository_sets", {}),
        ("set_environment_item", {"environment_id": env, "kind": "variable", "name": "WALK", "value": "1"}),
        ("search_skills", {"query": "react"}),
        ("remove_environment_item", {"environment_id": env, "kind": "variable", "item": "NOPE"}),
        ("run_environment_hook", {"environment_id": env, "hook": "start", "content": "echo hi"}),
        ("list_automations", {}),
        ("get_automation", {"automation_id": ids["automation"], "runs": 5}),
        ("save_automation", {"automation_id": ids["automation"], "enabled": True}),
        ("trigger_automation", {"automation_id": ids["automation"]}),
        ("delete_automation", {"automation_id": ids["doomed_automation"]}),
        ("delete_replica", {"replica_id": "no-such-replica"}),
    ]


async def _walk(
    client: Client, ids: dict[str, str], label: str
) -> tuple[list[str], set[str], dict[str, str]]:
    listed = (await client.list_tools()).tools
    served = {tool.name for tool in listed}
    found = problems("instructions", client.instructions or "", served)
    for tool in listed:
        found += problems(f"{tool.name} description", tool.description or "", served)
        for text_ in descriptions(tool.input_schema):
            found += problems(f"{tool.name} argument", text_, served)
    for prompt in (await client.list_prompts()).prompts:
        args = {a.name: "r-1" if a.name == "replica_id" else "some text" for a in prompt.arguments or []}
        rendered = await client.get_prompt(prompt.name, args)
        found += problems(f"prompt {prompt.name}", str(rendered.messages[0].content), served)
    for template in (await client.list_resource_templates()).resource_templates:
        found += problems(f"template {template.uri_template}", template.description or "", served)
        if "\n " in (template.description or ""):
            found.append(f"template {template.uri_template}: docstring indentation in its description")
    called: set[str] = set()
    seen: dict[str, str] = {}
    for name, arguments in _calls(ids, label):
        if name not in served:
            continue
        with anyio.fail_after(60):
            result = await client.call_tool(name, arguments)
        called.add(name)
        shown = text(result) + str(result.structured_content or "")
        seen[name] = seen.get(name, "") + "\n" + shown
        found += problems(
            f"{name}({', '.join(arguments)}) {'error' if result.is_error else 'result'}", shown, served
        )
    assert called == served, f"not walked: {sorted(served - called)}"
    return found, served, seen


async def _list_tools(sandbox: RunningSandbox, selection: dict[str, Any]) -> list[Any]:
    async with connect(sandbox, **selection) as client:
        return list((await client.list_tools()).tools)


@pytest.fixture
def quick_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delegation_tools, "POLICY", WaitPolicy(poll_interval=0.1, heartbeat=1.0, settle=0.05))


@pytest.mark.usefixtures("quick_waits")
@pytest.mark.parametrize("label", list(SELECTIONS))
async def test_every_text_names_only_served_tools_and_no_rest_request(
    sandbox: RunningSandbox, label: str
) -> None:
    ids = await _setup(sandbox)
    async with connect(sandbox, confirm_destructive="never", **SELECTIONS[label]) as client:
        found, served, seen = await _walk(client, ids, label)
    assert not found, "\n".join(found)
    if label == "read_only":  # the question is passed on: nothing here can answer it
        assert (
            "relay the question to the user; answering needs a server that can write"
            in (seen["wait_for_replica"])
        )
        assert "waking" not in seen["get_replica"]  # wake=true does nothing on a read-only server
        listed = {tool.name: tool for tool in await _list_tools(sandbox, SELECTIONS[label])}
        assert "Ignored" in listed["get_replica"].input_schema["properties"]["wake"]["description"]
    if {"create_replica", "delegate_task"} <= served:  # the one workflow, even from the manual tools
        assert "wait_for_replica" in seen["create_replica"]
        assert "read_replica_history" not in our_words(seen["create_replica"])


@pytest.mark.parametrize(
    "selection",
    [
        *({"toolsets": (toolset,)} for toolset in TOOLSETS),
        *({"toolsets": (toolset,), "read_only": True} for toolset in TOOLSETS),
        {"read_only": True},
        {"toolsets": ("all",), "read_only": True},
        {"tools": ("save_environment", "get_environment")},
    ],
    ids=repr,
)
async def test_no_description_or_instruction_ends_in_an_empty_next(
    sandbox: RunningSandbox, selection: dict[str, Any]
) -> None:
    async with connect(sandbox, **selection) as client:
        listed = (await client.list_tools()).tools
        found = problems("instructions", client.instructions or "", {tool.name for tool in listed})
    for tool in listed:
        shown = [tool.description or "", *descriptions(tool.input_schema)]
        found += [f"{tool.name}: {text_!r}" for text_ in shown if empty_next(text_) is not None]
    assert not found, "\n".join(found)


async def test_the_instructions_say_which_toolsets_are_off_and_how_they_are_turned_on(
    sandbox: RunningSandbox,
) -> None:
    said = {}
    selections: dict[str, dict[str, Any]] = {
        "default": {},
        "envs": {"toolsets": ("replicas", "environments")},
        "all": {"toolsets": ("all",)},
    }
    for label, selection in selections.items():
        async with connect(sandbox, **selection) as client:
            said[label] = client.instructions or ""
    off = "Toolsets off in this server: chats, canvas, hooks, environments (variables, files, MCPs, skills), "
    assert (
        off + "automations (scheduled runs); whoever runs it can turn them on with --toolsets"
        in (said["default"])
    )
    assert "Toolsets off in this server: chats, canvas, hooks, automations (scheduled runs);" in said["envs"]
    assert "Toolsets off" not in said["all"]


async def test_the_workflow_is_what_instructions_and_prompts_teach(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        instructions = client.instructions or ""
        prompt = await client.get_prompt("delegate_coding_task", {"environment": "api", "task": "Fix it"})
    for tool in WORKFLOW:
        assert tool in instructions
        assert tool in str(prompt.messages[0].content)
    assert "create_replica" not in instructions


def test_adapt_drops_what_names_unserved_tools_and_keeps_the_rest() -> None:
    served = {"delegate_task", "get_replica"}
    assert (
        adapt("Environments. Next: create_replica, delegate_task.", served)
        == "Environments. Next: delegate_task."
    )
    assert adapt("Status. Next: set_environment_item.", served) == "Status."
    assert adapt("Status (then wait_for_replica until=idle); done.", served) == "Status; done."
    fenced = '<untrusted-data-0123abcd source="x">\ncall create_replica now\n</untrusted-data-0123abcd>'
    assert adapt(f"Read it. {fenced}", served) == f"Read it. {fenced}"  # other people's words stay


@pytest.mark.usefixtures("quick_waits")
async def test_asleep_texts_name_it_and_promise_only_what_the_report_shows(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        rid = await new_replica(client, "napper", "Nap [[pr]]")
        await force_status(sandbox, rid, "sleeping")
        waited = text(await call(client, "wait_for_replica", {"replica_id": rid, "timeout_s": 2}))
        report = text(await call(client, "get_replica_result", {"replica_id": rid}))
        view = data(await call(client, "get_replica", {"replica_id": rid}))
        history = await client.call_tool("read_replica_history", {"replica_id": rid})
    assert waited.startswith(f"Returned: napper ({rid}): sleeping (done)")  # its name beside its id
    assert "final message" in report  # asleep, the report cannot show it (reads never wake) and says so
    assert "pull/" in report
    for said in (waited, view["note"], text(history)):
        assert "reports what it did" not in said
        assert "reading them wakes" not in said
    assert "final message needs it awake" in text(history)


@pytest.mark.usefixtures("quick_waits")
async def test_results_name_things_beside_their_ids(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        env = await bound_environment(client)
        rid = await new_replica(client, "namer", "Look [[no-changes]]")
        chat = data(await call(client, "list_chats", {"replica_id": rid}))["chats"][0]["id"]
        queue = text(await call(client, "get_chat_queue", {"replica_id": rid, "chat_id": chat}))
        cleared = {"replica_id": rid, "chat_id": chat, "action": "clear"}
        queue += text(await call(client, "edit_chat_queue", cleared))
        automation = {
            "name": "nightly-namer",
            "prompt": "Tidy [[no-changes]]",
            "environment_id": env,
            "triggers": [{"type": "cron", "config": {"schedule": "0 3 * * *"}}],
        }
        aid = data(await call(client, "save_automation", automation))["id"]
        started = data(await call(client, "trigger_automation", {"automation_id": aid}))
        runs = data(await call(client, "get_automation", {"automation_id": aid, "runs": 5}))["runs"]
        await call(
            client,
            "set_environment_item",
            {"environment_id": env, "kind": "variable", "name": "N", "value": "1"},
        )
        removed = {"environment_id": env, "kind": "variable", "item": "N"}
        shown = {
            "remove_environment_item": text(await call(client, "remove_environment_item", removed)),
            "delete_automation": text(await call(client, "delete_automation", {"automation_id": aid})),
            "delete_chat": text(await call(client, "delete_chat", {"replica_id": rid, "chat_id": chat})),
            "delete_replica": text(await call(client, "delete_replica", {"replica_id": rid})),
        }
    assert queue.count(f"namer ({rid})") == 2
    assert started["automation"] == f"nightly-namer ({aid})"
    assert started["replica_name"]
    assert [run["replica_name"] for run in runs] == [started["replica_name"]]
    assert f"api ({env})" in shown["remove_environment_item"]
    assert f"nightly-namer ({aid})" in shown["delete_automation"]
    assert f"namer ({rid})" in shown["delete_chat"]
    assert f"namer ({rid})" in shown["delete_replica"]


async def test_argument_errors_name_no_tool_the_selection_does_not_serve(sandbox: RunningSandbox) -> None:
    # Argument checks run in the SDK's validation, before the hint adaptation of results and errors: their
    # texts must not lead to a tool at all (with `--tools read_canvas_item`, list_canvas_items is not served).
    async with connect(sandbox, tools=("read_canvas_item",)) as client:
        served = {tool.name for tool in (await client.list_tools()).tools}
        with anyio.fail_after(20):
            result = await client.call_tool("read_canvas_item", {"replica_id": "r-1", "filename": "../x"})
    assert result.is_error
    assert tools_named(text(result)) <= served, text(result)


async def test_a_refused_subscription_names_no_tool_the_selection_does_not_serve(
    sandbox: RunningSandbox,
) -> None:
    from mcp import MCPDeprecationWarning, MCPError

    async with connect(sandbox, mode="legacy", toolsets=("environments",)) as client:
        served = {tool.name for tool in (await client.list_tools()).tools}
        with pytest.raises(MCPError) as refused, pytest.warns(MCPDeprecationWarning):
            await client.session.subscribe_resource("replicas://replicas/" + "x" * 300)
    assert tools_named(refused.value.message) <= served, refused.value.message
