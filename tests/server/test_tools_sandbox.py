"""Every tool, called through MCP against the sandbox, in both protocol eras."""

from __future__ import annotations

import base64
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, EmbeddedResource, ImageContent, TextContent

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.tools import all_tools

from ..helpers import eventually, force_status, text
from .helpers import MODES, bound_environment, call, call_error, connect, data, new_replica, wait_idle

CALLED: set[str] = set()


async def _call(client: Client, name: str, args: dict[str, Any] | None = None) -> CallToolResult:
    CALLED.add(name)
    return await call(client, name, args)


@pytest.mark.parametrize("mode", MODES)
async def test_replicas_toolset(sandbox: RunningSandbox, mode: str) -> None:
    async with connect(sandbox, mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        repos = data(await _call(client, "list_repositories"))["repositories"]
        assert repos
        assert {"id", "name"} <= set(repos[0])
        envs = data(await _call(client, "list_environments"))["environments"]
        assert any(env["is_global"] for env in envs)

        env = await bound_environment(client)
        created = data(
            await _call(
                client,
                "create_replica",
                {"name": "fix-login", "message": "Fix the login timeout [[pr]]", "environment_id": env},
            )
        )
        assert created["status"] == "preparing"
        rid = created["id"]
        await wait_idle(client, rid)

        listed = data(await _call(client, "list_replicas", {"status": "active"}))
        assert [r["id"] for r in listed["replicas"]] == [rid]

        view = data(
            await _call(client, "get_replica", {"replica_id": rid, "include_diff": True, "max_chars": 200})
        )
        assert view["repos"][0]["prs"], "the [[pr]] directive opens a pull request"
        assert view["repos"][0]["added"] > 0
        assert "untrusted-data" in view["diff"]

        sent = data(await _call(client, "send_replica_message", {"replica_id": rid, "message": "Add tests"}))
        assert sent["status"] in ("sent", "queued")
        await wait_idle(client, rid)

        history = await _call(client, "read_replica_history", {"replica_id": rid})
        body = text(history)
        assert "Add tests" in body
        assert "Fix the login timeout" in body
        assert body.startswith("<untrusted-data")
        first = data(await _call(client, "read_replica_history", {"replica_id": rid, "max_chars": 200}))
        assert first["next_offset"] is not None
        assert "read_replica_history" in text(
            await call(client, "read_replica_history", {"replica_id": rid, "max_chars": 200})
        )
        older = data(
            await _call(client, "read_replica_history", {"replica_id": rid, "offset": first["next_offset"]})
        )
        assert older["events"] > 0

        await force_status(sandbox, rid, "sleeping")
        asleep = data(await _call(client, "get_replica", {"replica_id": rid}))
        assert asleep["status"] == "sleeping"
        assert "wake" in asleep["note"]
        assert "get_replica with wake=true" in asleep["note"]
        message = await call_error(client, "read_replica_history", {"replica_id": rid})
        assert "sleeping" in message
        assert "get_replica with wake=true" in message
        waking = data(await _call(client, "get_replica", {"replica_id": rid, "wake": True}))
        assert waking["status"] == "waking"
        assert "get_replica again" in waking["note"]
        assert "wait_for_replica" in waking["note"]

        async def active() -> bool:
            listed = data(await call(client, "list_replicas"))["replicas"]
            return any(r["id"] == rid and r["status"] == "active" for r in listed)

        await eventually(active, timeout=30)
        awake = data(await _call(client, "get_replica", {"replica_id": rid, "wake": True}))
        assert awake["status"] == "active"
        assert "note" not in awake

        await force_status(sandbox, rid, "error")
        dead = data(await _call(client, "get_replica", {"replica_id": rid, "wake": True}))
        assert dead["status"] == "error"
        assert "Terminal" in dead["note"]
        assert "cannot be woken" in dead["note"]

        done = data(await _call(client, "delete_replica", {"replica_id": rid}))
        assert rid in done["message"]
        assert (
            rid in data(await _call(client, "delete_replica", {"replica_id": rid}))["message"]
        )  # idempotent


async def test_reads_do_not_wake_unless_asked(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        rid = await new_replica(client, "sleepy")
        await force_status(sandbox, rid, "sleeping")
        for name, args in (
            ("list_chats", {"replica_id": rid}),
            ("list_canvas_items", {"replica_id": rid}),
            ("get_replica_hooks", {"replica_id": rid}),
        ):
            assert "sleeping" in await call_error(client, name, args)
        listed = data(await call(client, "list_replicas"))["replicas"]
        assert listed[0]["status"] == "sleeping", "reads above must not have woken it"
        history = data(await call(client, "read_replica_history", {"replica_id": rid, "wake": True}))
        assert history["total"] > 0
        assert data(await call(client, "list_replicas"))["replicas"][0]["status"] == "active"


@pytest.mark.parametrize("mode", MODES)
async def test_chats_toolset(sandbox: RunningSandbox, mode: str) -> None:
    async with connect(sandbox, mode=mode, toolsets=("chats", "replicas")) as client:
        rid = await new_replica(client, "chatty")
        chats = data(await _call(client, "list_chats", {"replica_id": rid}))["chats"]
        main_chat = chats[0]["id"]
        second = data(
            await _call(client, "create_chat", {"replica_id": rid, "provider": "codex", "title": "Review"})
        )
        assert second["provider"] == "codex"

        # A slow turn keeps the chat busy, so the next messages queue up behind it.
        await call(client, "send_replica_message", {"replica_id": rid, "message": "Refactor [[slow:60]]"})
        for n in range(3):
            queued = data(
                await call(client, "send_replica_message", {"replica_id": rid, "message": f"then {n}"})
            )
            assert queued["status"] == "queued"
            assert queued["position"] == n + 1  # one counting base everywhere: 1 runs next
        shown = await _call(client, "get_chat_queue", {"replica_id": rid, "chat_id": main_chat})
        queue = data(shown)
        assert [m["message"] for m in queue["queue"]] == ["then 0", "then 1", "then 2"]
        assert "1. [" in text(shown)
        assert "0. [" not in text(shown)
        ids = [m["id"] for m in queue["queue"]]

        moved = data(
            await _call(
                client,
                "edit_chat_queue",
                {
                    "replica_id": rid,
                    "chat_id": main_chat,
                    "action": "move",
                    "message_id": ids[2],
                    "position": 1,
                },
            )
        )
        assert [m["id"] for m in moved["queue"]] == [ids[2], ids[0], ids[1]]
        removed = data(
            await call(
                client,
                "edit_chat_queue",
                {"replica_id": rid, "chat_id": main_chat, "action": "remove", "message_id": ids[0]},
            )
        )
        assert [m["id"] for m in removed["queue"]] == [ids[2], ids[1]]
        needs_id = await call_error(
            client, "edit_chat_queue", {"replica_id": rid, "chat_id": main_chat, "action": "remove"}
        )
        assert "message_id" in needs_id
        cleared = data(
            await call(
                client, "edit_chat_queue", {"replica_id": rid, "chat_id": main_chat, "action": "clear"}
            )
        )
        assert cleared["queue"] == []

        await _call(client, "delete_chat", {"replica_id": rid, "chat_id": second["id"]})
        remaining = data(await call(client, "list_chats", {"replica_id": rid}))["chats"]
        assert second["id"] not in [c["id"] for c in remaining]


async def test_send_modes_steer_through_the_queue(sandbox: RunningSandbox) -> None:
    """send_replica_message(mode=next) jumps the queue; mode=replace_queue drops it, and says how much."""
    async with connect(sandbox, toolsets=("chats", "replicas")) as client:
        rid = await new_replica(client, "steered")
        main_chat = data(await call(client, "list_chats", {"replica_id": rid}))["chats"][0]["id"]
        await call(client, "send_replica_message", {"replica_id": rid, "message": "Refactor [[slow:60]]"})
        for n in range(2):
            await call(client, "send_replica_message", {"replica_id": rid, "message": f"then {n}"})

        def send(message: str, mode: str) -> dict[str, Any]:
            return {"replica_id": rid, "message": message, "mode": mode}

        first = data(await call(client, "send_replica_message", send("do this first", "next")))
        assert (first["status"], first["position"], first["chat_id"]) == ("queued", 1, main_chat)
        assert "dropped" not in first
        queue = data(await call(client, "get_chat_queue", {"replica_id": rid, "chat_id": main_chat}))
        assert [m["message"] for m in queue["queue"]] == ["do this first", "then 0", "then 1"]

        only = data(await call(client, "send_replica_message", send("only this", "replace_queue")))
        assert (only["status"], only["position"], only["dropped"]) == ("queued", 1, 3)
        assert "Dropped 3 queued message(s)" in only["note"]
        queue = data(await call(client, "get_chat_queue", {"replica_id": rid, "chat_id": main_chat}))
        assert [m["message"] for m in queue["queue"]] == ["only this"]


async def test_canvas_and_hooks_toolsets(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("replicas", "canvas", "hooks")) as client:
        rid = await new_replica(
            client, "drawing", "Show me [[canvas:image]] [[canvas:markdown]] [[canvas:large]] [[canvas:html]]"
        )
        items = data(await _call(client, "list_canvas_items", {"replica_id": rid}))["items"]
        by_kind = {item["kind"]: item["filename"] for item in items}
        assert {"image", "markdown", "html", "video"} <= set(by_kind)

        image = await _call(client, "read_canvas_item", {"replica_id": rid, "filename": by_kind["image"]})
        block = image.content[0]
        assert isinstance(block, ImageContent)
        assert block.mime_type == "image/png"
        assert base64.b64decode(block.data).startswith(b"\x89PNG")
        assert data(image)["delivered"] == "image"

        note = await call(client, "read_canvas_item", {"replica_id": rid, "filename": by_kind["markdown"]})
        assert isinstance(note.content[0], TextContent)
        assert "untrusted-data" in note.content[0].text
        assert data(note)["delivered"] == "text"

        large = await call(client, "read_canvas_item", {"replica_id": rid, "filename": by_kind["video"]})
        assert data(large)["delivered"] == "none"
        assert "5 MB" in text(large)

        hooks = await _call(client, "get_replica_hooks", {"replica_id": rid, "max_chars": 200})
        runs = data(hooks)["runs"]
        assert {run["hook"] for run in runs} == {"warm", "start"}
        assert data(hooks)["next_offset"] is not None
        assert "offset=" in text(hooks)


async def test_binary_canvas_item_is_embedded(sandbox: RunningSandbox) -> None:
    """Kinds other than image/audio/text come back as an embedded blob (when small)."""
    from replicas_mcp.server.toolsets import canvas

    async with connect(sandbox, toolsets=("replicas", "canvas")) as client:
        rid = await new_replica(client, "video-maker", "Record it [[canvas:large]]")
        items = data(await call(client, "list_canvas_items", {"replica_id": rid}))["items"]
        video = next(i for i in items if i["kind"] == "video")
        assert video["size_bytes"] > canvas.MAX_EMBEDDED_BYTES
        result = await call(client, "read_canvas_item", {"replica_id": rid, "filename": video["filename"]})
        assert not any(isinstance(b, EmbeddedResource) for b in result.content)


async def test_environments_toolset(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("environments", "replicas")) as client:
        repos = data(await call(client, "list_repositories"))["repositories"]
        sets = data(await _call(client, "list_repository_sets"))["sets"]
        assert isinstance(sets, list)
        env = data(
            await _call(
                client,
                "save_environment",
                {"name": "staging", "repository_id": repos[0]["id"], "system_prompt": "Target staging."},
            )
        )
        eid = env["id"]
        assert env["repository_id"] == repos[0]["id"]
        renamed = data(await call(client, "save_environment", {"environment_id": eid, "name": "staging-eu"}))
        assert renamed["name"] == "staging-eu"
        assert renamed["id"] == eid, "with an id, save_environment changes that environment"
        assert "Nothing to change" in await call_error(client, "save_environment", {"environment_id": eid})
        assert "needs a name" in await call_error(client, "save_environment", {"description": "x"})
        pool = data(await call(client, "save_environment", {"environment_id": eid, "warm_pool": False}))
        assert pool["warm_pool"] is False

        async def set_item(kind: str, name: str, **extra: Any) -> dict[str, Any]:
            args = {"environment_id": eid, "kind": kind, "name": name, **extra}
            return data(await _call(client, "set_environment_item", args))

        secret = "postgres://user:hunter2@db/prod"
        var = await set_item("variable", "DB_URL", value=secret)
        assert secret not in str(var)
        assert var["name"] == "DB_URL"
        again = await set_item("variable", "DB_URL", value="x")
        assert again["id"] == var["id"], "set_environment_item replaces by name instead of duplicating"
        assert "needs value" in await call_error(
            client, "set_environment_item", {"environment_id": eid, "kind": "variable", "name": "K"}
        )
        assert "not accepted" in await call_error(
            client,
            "set_environment_item",
            {"environment_id": eid, "kind": "variable", "name": "1X", "value": "v"},
        )

        await set_item("file", "~/AGENTS.md", value="# Conventions\n")
        config = {"command": "npx", "args": ["-y", "@linear/mcp"], "env": {"LINEAR_API_KEY": "lin_123456"}}
        mcp = await set_item("mcp", "linear", transport="stdio", config=config)
        assert "lin_123456" not in str(mcp)
        hits = data(await _call(client, "search_skills", {"query": "docker"}))["skills"]
        assert hits
        skill = await set_item("skill", hits[0]["slug"], source=hits[0]["source"])
        assert (await set_item("skill", hits[0]["slug"], source=hits[0]["source"]))["id"] == skill["id"]
        registry = await set_item("registry", "https://github.com/acme/skills")

        full = await _call(
            client,
            "get_environment",
            {
                "environment_id": eid,
                "include": ["variables", "files", "skills", "registries", "mcps", "hooks"],
            },
        )
        view = data(full)
        parts = {(p["kind"], p["name"]): p for p in view["parts"]}
        assert parts["variable", "DB_URL"]["value"].startswith("***")
        assert "hunter2" not in text(full)
        assert "lin_123456" not in text(full)
        assert '"LINEAR_API_KEY":"***' in parts["mcp", "linear"]["value"]
        assert parts["skill", hits[0]["slug"]]["id"] == skill["id"]
        assert parts["registry", "https://github.com/acme/skills"]["id"] == registry["id"]
        assert view["warm_pool"] is False
        revealed = data(
            await call(
                client, "get_environment", {"environment_id": eid, "include": ["variables"], "reveal": True}
            )
        )
        assert revealed["parts"][0]["value"] == "x"

        outcome = data(
            await _call(
                client,
                "run_environment_hook",
                {"environment_id": eid, "hook": "warm", "content": "#!/usr/bin/env bash\necho hi\n"},
            )
        )
        assert outcome["saved"] is False
        assert outcome["exit_code"] is not None
        saved = data(
            await call(
                client,
                "run_environment_hook",
                {
                    "environment_id": eid,
                    "hook": "start",
                    "content": "#!/usr/bin/env bash\necho up\n",
                    "save": "always",
                },
            )
        )
        assert saved["saved"] is True

        for kind, item in (
            ("variable", "DB_URL"),
            ("file", "~/AGENTS.md"),
            ("mcp", "linear"),
            ("skill", skill["id"]),
            ("registry", registry["id"]),
        ):
            await _call(
                client, "remove_environment_item", {"environment_id": eid, "kind": kind, "item": item}
            )
        gone = await _call(
            client, "remove_environment_item", {"environment_id": eid, "kind": "mcp", "item": "linear"}
        )
        assert "already absent" in text(gone), "a repeat removal succeeds (the tool is idempotent)"
        assert "needs item" in await call_error(
            client, "remove_environment_item", {"environment_id": eid, "kind": "file"}
        )

        await call(client, "remove_environment_item", {"environment_id": eid, "kind": "environment"})
        assert "No environment has that id" in await call_error(
            client, "get_environment", {"environment_id": eid}
        )


async def test_hook_output_streams_as_progress(sandbox: RunningSandbox) -> None:
    seen: list[str | None] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    async with connect(sandbox, toolsets=("environments",)) as client:
        with anyio.fail_after(30):
            result = await client.call_tool(
                "run_environment_hook",
                {
                    "environment_id": "global",
                    "hook": "warm",
                    "content": "#!/usr/bin/env bash\necho building\n",
                    "save": "if_passes",
                },
                progress_callback=progress,
            )
        assert not result.is_error, text(result)
        assert seen
        assert any(m for m in seen)
        assert data(result)["passed"] is True
        assert data(result)["saved"] is True


async def test_automations_toolset(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("automations", "replicas")) as client:
        env = await bound_environment(client)
        created = data(
            await _call(
                client,
                "save_automation",
                {
                    "name": "nightly",
                    "prompt": "Update dependencies",
                    "environment_id": env,
                    "triggers": [{"type": "cron", "config": {"schedule": "0 3 * * *"}}],
                },
            )
        )
        aid = created["id"]
        assert created["triggers"] == ["cron 0 3 * * *"] or created["triggers"][0].startswith(
            "cron 0 3 * * *"
        )
        listed = data(await _call(client, "list_automations", {"search": "night"}))
        assert [a["id"] for a in listed["automations"]] == [aid]
        viewed = data(await _call(client, "get_automation", {"automation_id": aid}))
        assert viewed["prompt"] == "Update dependencies"
        assert "runs" not in viewed
        paused = data(await call(client, "save_automation", {"automation_id": aid, "enabled": False}))
        assert paused["enabled"] is False
        assert paused["id"] == aid
        assert "Nothing to change" in await call_error(client, "save_automation", {"automation_id": aid})
        assert "needs prompt" in await call_error(
            client, "save_automation", {"name": "x", "environment_id": env, "triggers": [{"type": "custom"}]}
        )
        await call(client, "save_automation", {"automation_id": aid, "enabled": True})
        run = data(await _call(client, "trigger_automation", {"automation_id": aid}))
        assert run["execution_id"]

        async def executed() -> bool:
            runs = data(await call(client, "get_automation", {"automation_id": aid, "runs": 5})).get("runs")
            return bool(runs)

        await eventually(executed)
        await _call(client, "delete_automation", {"automation_id": aid})
        assert "list_automations" in await call_error(client, "get_automation", {"automation_id": aid})


def test_every_tool_was_called() -> None:
    """Runs last in this module (pytest keeps file order): every declared tool was exercised above, except
    the delegation workflow tools, which tests/delegation exercises against the time-scaled sandbox."""
    declared = {spec.name for spec in all_tools() if not spec.fn.__module__.endswith(".delegation")}
    assert {"create_replica", "get_environment", "save_automation"} <= declared
    missing = declared - CALLED
    assert not missing, f"tools never called against the sandbox: {sorted(missing)}"
