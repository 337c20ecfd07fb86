"""Environment models against payloads shaped like the OpenAPI spec's examples."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from replicas_mcp.client.models.environments import (
    Environment,
    EnvironmentMcp,
    EnvironmentMcpHttpConfig,
    EnvironmentMcpStdioConfig,
    EnvironmentVariable,
    HookStreamEvent,
    OpaqueMcpConfig,
    SaveAndTestResult,
    SkillsRegistry,
    WarmHooks,
)

ENV_ID = "7f1c2d3e-0000-4000-8000-000000000001"
ORG_ID = "7f1c2d3e-0000-4000-8000-0000000000aa"
STAMP = "2026-05-17T09:00:00Z"


def environment_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "id": ENV_ID,
        "organization_id": ORG_ID,
        "user_id": None,
        "name": "staging",
        "description": "Staging deploys",
        "is_global": False,
        "repository_id": None,
        "repository_set_id": None,
        "system_prompt": "You target staging only.",
        "mobile_testing_enabled": False,
        "personal_preferences": None,
        "source_environment_id": None,
        "variable_count": 2,
        "file_count": 0,
        "skill_count": 1,
        "mcp_count": 0,
        "created_at": STAMP,
        "updated_at": STAMP,
        **overrides,
    }


def test_environment_parses_spec_payload_and_keeps_unknown_fields() -> None:
    env = Environment.model_validate(environment_payload(brand_new_field={"x": 1}))
    assert env.name == "staging"
    assert env.variable_count == 2
    assert env.created_at == STAMP
    assert env.model_extra == {"brand_new_field": {"x": 1}}


def test_environment_needs_only_identity_fields() -> None:
    env = Environment.model_validate({"id": "global-uuid", "name": "Global", "is_global": True})
    assert env.is_global
    assert env.repository_id is None


def test_variable_value_is_masked_in_repr_and_str_but_readable() -> None:
    var = EnvironmentVariable.model_validate(
        {"id": "v1", "key": "DATABASE_URL", "value": "postgres://user:hunter2@db/app", "created_at": STAMP}
    )
    assert var.value == "postgres://user:hunter2@db/app"
    for text in (repr(var), str(var), repr([var]), f"{var}"):
        assert "hunter2" not in text
        assert "DATABASE_URL" in text
    assert var.model_dump()["value"] == "postgres://user:hunter2@db/app"


def test_variable_parse_error_does_not_echo_the_value() -> None:
    with pytest.raises(ValidationError) as caught:
        EnvironmentVariable.model_validate({"key": "TOKEN", "value": "tok-very-secret"})
    assert "tok-very-secret" not in str(caught.value)


def test_stdio_mcp_config_is_typed_and_env_masked() -> None:
    mcp = EnvironmentMcp.model_validate(
        {
            "id": "m1",
            "name": "linear",
            "transport": "stdio",
            "config": {
                "command": "npx",
                "args": ["-y", "@linear/mcp"],
                "env": {"LINEAR_API_KEY": "lin_secret"},
            },
        }
    )
    assert isinstance(mcp.config, EnvironmentMcpStdioConfig)
    assert mcp.config.env == {"LINEAR_API_KEY": "lin_secret"}
    assert "lin_secret" not in repr(mcp)
    assert "lin_secret" not in str(mcp)
    assert "LINEAR_API_KEY" in repr(mcp)


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_http_and_sse_mcp_configs_mask_headers(transport: str) -> None:
    mcp = EnvironmentMcp.model_validate(
        {
            "id": "m2",
            "name": "tools",
            "transport": transport,
            "config": {"url": "https://mcp.example.com", "headers": {"Authorization": "Bearer abc123"}},
        }
    )
    assert isinstance(mcp.config, EnvironmentMcpHttpConfig)
    assert mcp.config.headers["Authorization"] == "Bearer abc123"
    assert "abc123" not in repr(mcp)


def test_unknown_transport_keeps_config_and_masks_all_of_it() -> None:
    mcp = EnvironmentMcp.model_validate(
        {
            "id": "m3",
            "name": "x",
            "transport": "websocket",
            "config": {"endpoint": "wss://e", "token": "t0k3n"},
        }
    )
    assert mcp.transport == "websocket"
    assert isinstance(mcp.config, OpaqueMcpConfig)
    assert mcp.config.model_dump() == {"endpoint": "wss://e", "token": "t0k3n"}
    assert "t0k3n" not in repr(mcp)


def test_mcp_config_that_contradicts_its_transport_is_kept_opaque() -> None:
    mcp = EnvironmentMcp.model_validate(
        {"id": "m4", "name": "x", "transport": "stdio", "config": {"url": "https://e", "headers": {}}}
    )
    assert isinstance(mcp.config, OpaqueMcpConfig)


def test_warm_hooks_with_nulls_and_with_pool() -> None:
    empty = WarmHooks.model_validate({"warm_hook": None, "warm_pool": None})
    assert empty.warm_hook is None
    assert empty.warm_pool is None
    full = WarmHooks.model_validate(
        {
            "warm_hook": {"id": "h1", "version": 3, "content": "#!/bin/sh\n", "is_active": True},
            "warm_pool": {"id": "p1", "enabled": True, "target_size": 2, "ready_count": 1, "stale_count": 0},
        }
    )
    assert full.warm_hook is not None
    assert full.warm_hook.version == 3
    assert full.warm_pool is not None
    assert full.warm_pool.enabled


def test_save_and_test_result_saved_or_not() -> None:
    failed = SaveAndTestResult.model_validate(
        {"test": {"exit_code": 1, "output": "boom", "timed_out": False}}
    )
    assert not failed.saved
    assert not failed.test.succeeded
    ok = SaveAndTestResult.model_validate(
        {"test": {"exit_code": 0, "output": "", "timed_out": False}, "warm_hook": {"id": "h", "content": "x"}}
    )
    assert ok.saved
    assert ok.test.succeeded


def test_registry_carries_discovered_skills() -> None:
    registry = SkillsRegistry.model_validate(
        {
            "id": "r1",
            "url": "https://github.com/org/skills",
            "repo_skills": [{"id": "s", "name": "lint", "framework": "future-tool", "kind": "skill"}],
            "error": None,
        }
    )
    assert registry.repo_skills[0].framework == "future-tool"  # open enum


def test_hook_stream_event_accessors_and_payload_typed_events() -> None:
    complete = HookStreamEvent(
        event="complete", data={"exit_code": 0, "timed_out": False, "warm_hook": {"id": "h", "content": "x"}}
    )
    assert complete.is_terminal
    assert complete.exit_code == 0
    assert complete.timed_out is False
    assert complete.warm_hook is not None
    assert complete.warm_hook.id == "h"
    # Streams that leave the SSE event name at its default and say the type in the payload.
    output = HookStreamEvent(event="message", data={"type": "output", "output": "hello\n"})
    assert output.event == "output"
    assert output.output == "hello\n"
    assert not output.is_terminal
    assert HookStreamEvent(event="progress", data={"message": "booting"}).message == "booting"
