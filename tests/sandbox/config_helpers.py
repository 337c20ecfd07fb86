"""Helpers for the configuration-side sandbox tests: API clients per key and the spec's response shapes.

The key sets below are the `required` lists of the spec's schemas (read from
../shared/docs/replicas-openapi.json, not copied from it); the sandbox sends exactly these keys.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox

REPOSITORY = {"id", "name", "url", "default_branch"}
REPOSITORY_SET = {"id", "name", "description", "repositories"}
ENVIRONMENT = {
    "id", "organization_id", "user_id", "name", "description", "is_global", "repository_id",
    "repository_set_id", "system_prompt", "mobile_testing_enabled", "personal_preferences",
    "source_environment_id", "variable_count", "file_count", "skill_count", "mcp_count", "created_at",
    "updated_at",
}  # fmt: skip
VARIABLE = {
    "id", "organization_id", "environment_id", "key", "value", "personal_override_allowed", "created_at",
    "updated_at",
}  # fmt: skip
FILE = {"id", "organization_id", "environment_id", "name", "path", "content", "created_at", "updated_at"}
SKILL = {"id", "organization_id", "environment_id", "name", "slug", "source", "created_at", "updated_at"}
SEARCH_SKILL = {"name", "slug", "source", "installs"}
REGISTRY = {
    "id", "organization_id", "environment_id", "name", "url", "repository_full_name", "default_branch",
    "created_at", "updated_at",
}  # fmt: skip
REPO_SKILL = {
    "id", "repository_id", "repository_full_name", "branch", "path", "name", "description", "framework",
    "kind", "html_url",
}  # fmt: skip
MCP = {"id", "organization_id", "environment_id", "name", "transport", "config", "created_at", "updated_at"}
HOOK = {"id", "organization_id", "environment_id", "version", "content", "is_active", "created_at"}
WARM_POOL = {
    "id", "organization_id", "environment_id", "enabled", "target_size", "generation", "error_count",
    "next_retry_at", "last_error_at", "last_error_message", "has_base_snapshot", "updated_at", "ready_count",
    "stale_count", "warming_count", "snapshotting_count", "last_failure_at", "last_failure_reason",
}  # fmt: skip
TEST_RESULT = {"exit_code", "output", "timed_out"}
REPLICA_ENVIRONMENT = {
    "engine_version", "files_uploaded", "env_vars_set", "skills_installed", "integrations", "coding_agents",
    "hooks", "last_updated_at",
}  # fmt: skip
AUTOMATION = {
    "id", "organization_id", "name", "description", "triggers", "prompt", "debounce_seconds",
    "environment_id", "enabled", "user_id", "webhook_token", "cron_expression", "cron_timezone",
    "cron_next_fire_at", "created_by", "workspace_lifecycle_policy", "workspace_auto_stop_minutes",
    "workspace_size", "config", "agent_provider", "model", "thinking_level", "plan_mode", "goal_mode",
    "fast_mode", "created_at", "updated_at",
}  # fmt: skip
EXECUTION = {
    "id", "automation_id", "organization_id", "workspace_id", "triggered_at", "trigger_payload", "status",
    "config", "error", "completed_at",
}  # fmt: skip
PAGE = {"total", "page", "limit", "totalPages"}


def assert_exact_keys(record: Mapping[str, Any], keys: set[str]) -> None:
    """The record has exactly these keys (sandbox_helpers.assert_shape checks only required ones)."""
    assert set(record) == keys, f"extra: {set(record) - keys}, missing: {keys - set(record)}"


@asynccontextmanager
async def api(sandbox: RunningSandbox, key: str) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=sandbox.base_url, headers=headers, timeout=10.0) as client:
        yield client


async def environment_named(client: httpx2.AsyncClient, name: str, scope: str = "org") -> dict[str, Any]:
    response = await client.get("/v1/environments", params={"scope": scope})
    assert response.status_code == 200
    matches = [env for env in response.json()["environments"] if env["name"] == name]
    assert len(matches) == 1, f"no single environment named {name!r}"
    found: dict[str, Any] = matches[0]
    return found


async def sse_events(response: httpx2.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) of every frame of a text/event-stream response."""
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            events.append((name, json.loads(line.removeprefix("data:").strip())))
    return events
