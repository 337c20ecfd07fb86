"""Text arguments stay text: a file's content or an automation prompt that happens to be JSON.

The SDK JSON-parses string arguments whose annotation is not exactly `str` (for clients that send a list
as a string); a Docker `config.json` given as a file's content, or a variable holding a JSON credential,
must still be saved exactly as sent (attacker review, session 4)."""

from __future__ import annotations

import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox

from .helpers import call, connect, data

CONFIG_JSON = '{"auths": {"ghcr.io": {"auth": "dXNlcjpwYXNz"}}}'


@pytest.mark.parametrize(
    "value", [CONFIG_JSON, '["a", "b"]', "null", "42"], ids=["object", "array", "null", "number"]
)
async def test_a_file_whose_content_is_json_is_saved_as_sent(sandbox: RunningSandbox, value: str) -> None:
    async with connect(sandbox, toolsets=("environments",)) as client:
        args = {"environment_id": "global", "kind": "file", "name": "~/.docker/config.json", "value": value}
        saved = data(await call(client, "set_environment_item", args))
        assert saved["name"] == "~/.docker/config.json"
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        files = {file.path: file for file in await api.environments.files.list("global")}
    assert files["~/.docker/config.json"].content == value


async def test_an_automation_prompt_that_looks_like_json_is_saved_as_sent(sandbox: RunningSandbox) -> None:
    prompt = '["triage new issues", "label them"]'
    async with connect(sandbox, toolsets=("automations",)) as client:
        args = {
            "name": "json-prompt",
            "environment_id": "global",
            "prompt": prompt,
            "triggers": [{"type": "cron", "config": {"schedule": "0 9 * * 1-5"}}],
        }
        saved = data(await call(client, "save_automation", args))
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        automation = await api.automations.get(saved["id"])
    assert automation.prompt == prompt
