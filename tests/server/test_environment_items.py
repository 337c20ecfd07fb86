"""What a model learns from the environment tools when it adds, replaces and removes items (model-eye
review, session 4): a replace says what it replaced (masked), a repeat removal succeeds as the idempotent
annotation promises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server

from ..hardening.confirm_helpers import Asker
from ..helpers import text
from .helpers import call, call_error, data, settings


@asynccontextmanager
async def asking(sandbox: RunningSandbox, asker: Asker) -> AsyncIterator[tuple[Client, ReplicasClient]]:
    """A server whose destructive calls are asked about (the default policy), a client that answers as
    `asker` does, and a direct API client to check the state."""
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api:
        server = build_server(settings(toolsets=("environments", "replicas")), client=api)
        async with Client(server, elicitation_callback=asker) as client:
            yield client, api


async def _api_env(api: ReplicasClient) -> str:
    return next(env.id for env in await api.environments.list() if env.name == "api")


async def test_a_repeat_removal_succeeds_and_says_it_was_already_absent(sandbox: RunningSandbox) -> None:
    asker = Asker()
    async with asking(sandbox, asker) as (client, api):
        env = await _api_env(api)
        remove: dict[str, Any] = {"environment_id": env, "kind": "variable", "item": "DATABASE_URL"}
        first = data(await call(client, "remove_environment_item", remove))["message"]
        assert first.startswith("Removed variable 'DATABASE_URL'"), first
        assert len(asker.asked) == 1, "the real removal is asked about"

        # A retry after a timeout:
        again = data(await call(client, "remove_environment_item", remove))["message"]
        assert "already absent, nothing was removed" in again
        assert "DATABASE_URL" not in again, "the item given is not repeated (it may be a secret)"
        assert len(asker.asked) == 1, "nothing to remove: nothing asked"
        assert "DATABASE_URL" not in {v.key for v in await api.environments.variables.list(env)}

        # An environment that does not exist is still an error, listing the ones there are.
        missing = {**remove, "environment_id": "00000000-0000-4000-8000-000000000000"}
        said = await call_error(client, "remove_environment_item", missing)
        assert "No environment has that id" in said
        assert f"api = {env}" in said


async def test_a_replace_says_so_with_the_old_value_masked(sandbox: RunningSandbox) -> None:
    asker = Asker()
    async with asking(sandbox, asker) as (client, api):
        env = await _api_env(api)
        old = next(f.content for f in await api.environments.files.list(env) if f.path == "~/.npmrc")
        secret = "//registry.npmjs.org/:_authToken=npm_s3cretT0kenValue"
        npmrc = {"environment_id": env, "kind": "file", "name": "~/.npmrc", "value": secret}
        result = await call(client, "set_environment_item", npmrc)
        replaced = data(result)
        assert replaced["replaced"] is True
        assert replaced["was"] == f"*** ({len(old)} chars)"
        assert "removing it deletes it for everyone" in replaced["note"]
        assert "~/.npmrc" in replaced["note"]
        assert len(asker.asked) == 1, "the replace was confirmed first"
        assert secret not in text(result)
        assert old not in text(result), "the old value is masked too"

        created = data(
            await call(
                client,
                "set_environment_item",
                {"environment_id": env, "kind": "variable", "name": "LOG_LEVEL", "value": "debug"},
            )
        )
        assert created["replaced"] is False, "a new item says it replaced nothing"
        assert "was" not in created
        assert "note" not in created
        assert len(asker.asked) == 1, "adding something new asks nothing"

        mcp = data(
            await call(
                client,
                "set_environment_item",
                {
                    "environment_id": env,
                    "kind": "mcp",
                    "name": "docs",
                    "transport": "http",
                    "config": {"url": "https://docs.example.com/mcp?token=abcd1234efgh5678", "headers": {}},
                },
            )
        )
        assert mcp["replaced"] is True
        assert mcp["was"].startswith('{"transport":'), "its old config, masked as get_environment shows it"
        assert "abcd1234efgh5678" not in str(mcp)
