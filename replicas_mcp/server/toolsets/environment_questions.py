"""What the environment tools ask before a change to what future replicas of an environment will run, and
the checks that fail a call before anyone is asked.

Every question names the concrete target and, for a replacement, what is there now and what it becomes;
secret values are masked (variables show only their length, files their size, MCP configs their masked
shape). A call that replaces nothing (a new variable, file or MCP; a test-only hook run) asks nothing.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.server.safety import clean_text, mask, mask_mcp_config, truncate
from replicas_mcp.server.tools import PendingCall

_SHOWN = 160  # how much of a system prompt a question shows, before and after
# Where get_environment shows each kind of item.
SECTION_OF: dict[str, str] = {
    "variable": "variables",
    "file": "files",
    "skill": "skills",
    "registry": "registries",
    "mcp": "mcps",
}


def _size(text: str | None) -> str:
    text = text or ""
    return f"{len(text)} characters, {len(text.splitlines())} lines"


def _shown(text: str | None) -> str:
    return repr(truncate(clean_text(text or ""), _SHOWN)) if text else "(none)"


def _mcp_shape(transport: Any, config: Any) -> str:
    shown = {"transport": transport, **mask_mcp_config(dict(config or {}))}
    return json.dumps(shown, separators=(",", ":"), ensure_ascii=False)


async def ask_set_item(call: PendingCall) -> str | None:
    """Replacing an existing variable, file or MCP server changes every future replica: ask, with the
    before and after. Skills and registries are only ever added (an existing one is left as it is)."""
    kind, env_id, name = call.arguments["kind"], call.arguments["environment_id"], call.arguments["name"]
    envs = call.client.environments
    where = f"environment {call.quote('environment_id')}"
    if kind == "variable":
        old_var = next((v for v in await envs.variables.list(env_id) if v.key == name), None)
        if old_var is None:
            return None
        return (
            f"Replace variable {call.quote('name')} of {where}? Every new replica gets the new value. "
            f"Now: {mask(old_var.value)}; after: {mask(call.arguments.get('value') or '')}."
        )
    if kind == "file":
        old_file = next((f for f in await envs.files.list(env_id) if f.path == name), None)
        if old_file is None:
            return None
        return (
            f"Replace file {call.quote('name')} of {where}? Every new replica gets the new content. "
            f"Now: {_size(old_file.content)}; after: {_size(call.arguments.get('value'))} "
            "(contents not shown)."
        )
    if kind == "mcp":
        old_mcp = next((m for m in await envs.mcps.list(env_id) if m.name == name), None)
        if old_mcp is None:
            return None
        before = _mcp_shape(old_mcp.transport, old_mcp.config.model_dump(mode="json"))
        after = _mcp_shape(call.arguments.get("transport"), call.arguments.get("config"))
        return (
            f"Replace MCP server {call.quote('name')} of {where}? Every new replica connects to the new "
            f"one. Now: {before}; after: {after}."
        )
    return None


async def ask_save_environment(call: PendingCall) -> str | None:
    """Changing an existing environment's system prompt changes what every future agent is told."""
    env_id, prompt = call.arguments.get("environment_id"), call.arguments.get("system_prompt")
    if env_id is None or prompt is None:
        return None
    current = await call.client.environments.get(env_id)
    if (current.system_prompt or "") == prompt:
        return None
    return (
        f"Change the system prompt of environment {call.quote('environment_id')}? Every new replica's agent "
        f"gets it. Now: {_shown(current.system_prompt)}; after: {_shown(prompt)}."
    )


async def ask_remove(call: PendingCall) -> str | None:
    """Removing an item or deleting the environment: checked first (an item that is not there, an
    environment an automation still uses), then asked."""
    kind, env_id, item = call.arguments["kind"], call.arguments["environment_id"], call.arguments.get("item")
    env = call.quote("environment_id")
    if kind == "environment":
        users = [a async for a in call.client.automations.iter() if a.environment_id == env_id]
        if users:
            named = ", ".join(f"{clean_text(a.name)} ({a.id})" for a in users[:5])
            raise ToolError(
                f"Environment {env} is used by {len(users)} automation(s): {named}. Delete them or point "
                "them at another environment first (save_automation with environment_id), then retry."
            )
        return f"Delete environment {env} with its variables, files, MCPs and hooks?"
    if not item:
        raise ToolError(f"kind={kind!r} needs item: its id or name (see get_environment).")
    if not await _has_item(call, kind, env_id, item):
        raise ToolError(
            f"No {kind} {item!r} in environment {env} (already removed?). "
            f"See get_environment with include=['{SECTION_OF[kind]}']."
        )
    return f"Remove {call.quote('kind')} {call.quote('item')!r} from environment {env}?"


async def _has_item(call: PendingCall, kind: str, env_id: str, item: str) -> bool:
    envs = call.client.environments
    if kind == "variable":
        return any(item in (v.id, v.key) for v in await envs.variables.list(env_id))
    if kind == "file":
        return any(item in (f.id, f.path, f.name) for f in await envs.files.list(env_id))
    if kind == "skill":
        return any(item in (s.id, s.slug, s.name) for s in await envs.skills.list(env_id))
    if kind == "registry":
        return any(item in (r.id, r.url) for r in await envs.skill_registries.list(env_id))
    return any(item in (m.id, m.name) for m in await envs.mcps.list(env_id))


async def ask_save_hook(call: PendingCall) -> str | None:
    """Saving a hook replaces the script every future workspace runs; a test run saves nothing."""
    save = call.arguments.get("save", "no")
    if save == "no":
        return None
    when = " if the test run passes?" if save == "if_passes" else " without testing it?"
    return (
        f"Save this {call.quote('hook')} hook to environment {call.quote('environment_id')}, replacing the "
        f"current one{when} New script: {_size(call.arguments.get('content'))}."
    )
