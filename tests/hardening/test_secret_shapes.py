"""Issue 12 #3: secrets in MCP arguments, URLs and hook scripts are masked in every view.

Each secret below sits in a shape the old masker did not know: an `Authorization` header passed as an
argument, docker's `-e NAME=value`, a bare `NAME=value`, a token in a URL's path and in its query, and an
npm token in a hook script. None may appear in `get_environment`, in `get_environment(reveal=true)` on a
read-only server (read-only never reveals), or in the `replicas://environments/{id}` resource.
"""

from __future__ import annotations

import secrets
from typing import Any

from mcp import Client
from mcp.types import TextResourceContents

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.safety import mask_args, mask_text, mask_url

from ..helpers import text
from ..server.helpers import call, connect, data

SECRETS = {
    name: f"{name}{secrets.token_hex(12)}"
    for name in ("hdr", "ghp", "api", "path", "query", "npm", "pass", "mysql", "curl", "sshpass")
}
MCPS: dict[str, dict[str, Any]] = {
    "bearer-arg": {
        "command": "mcp-remote",
        "args": ["https://mcp.example.com", "--header", f"Authorization: Bearer {SECRETS['hdr']}"],
    },
    "docker-env": {
        "command": "docker",
        "args": [
            "run",
            "-i",
            "--rm",
            "-e",
            f"GITHUB_PERSONAL_ACCESS_TOKEN={SECRETS['ghp']}",
            "ghcr.io/github/mcp",
        ],
    },
    "name-value": {"command": "some-mcp", "args": [f"API_TOKEN={SECRETS['api']}"]},
    "url-path": {"url": f"https://mcp.example.com/sse/{SECRETS['path']}"},
    "url-query": {"url": f"https://mcp.example.com/mcp?team=core&k={SECRETS['query']}"},
}
HOOK = (
    f"#!/usr/bin/env bash\necho '//registry.npmjs.org/:_authToken={SECRETS['npm']}' > ~/.npmrc\nnpm ci\n"
    f"export DB_PASS={SECRETS['pass']}\nmysql -u root -p{SECRETS['mysql']} app < schema.sql\n"
    f"curl -u admin:{SECRETS['curl']} https://ci.example.com/api\n"
    f"sshpass -p {SECRETS['sshpass']} ssh deploy@host\n"
)


def assert_no_secret(shown: str) -> None:
    leaked = [name for name, value in SECRETS.items() if value in shown]
    assert not leaked, f"secrets shown in clear: {leaked}\n{shown}"


async def _seed(client: Client) -> str:
    env = data(await call(client, "save_environment", {"name": "secret-shapes"}))["id"]
    for name, config in MCPS.items():
        transport = "http" if "url" in config else "stdio"
        await call(
            client,
            "set_environment_item",
            {"environment_id": env, "kind": "mcp", "name": name, "transport": transport, "config": config},
        )
    await call(
        client,
        "run_environment_hook",
        {"environment_id": env, "hook": "start", "content": HOOK, "save": "always"},
    )
    return str(env)


async def test_every_secret_shape_is_masked_in_every_view(sandbox: RunningSandbox) -> None:
    everything = ["mcps", "hooks"]
    async with connect(sandbox, toolsets=("environments",), confirm_destructive="never") as client:
        env = await _seed(client)
        shown = text(await call(client, "get_environment", {"environment_id": env, "include": everything}))
        assert "mcp.example.com" in shown
        assert "npm ci" in shown
        assert_no_secret(shown)
        resource = await client.read_resource(f"replicas://environments/{env}")
        assert_no_secret("\n".join(c.text for c in resource.contents if isinstance(c, TextResourceContents)))
    async with connect(sandbox, toolsets=("environments",), read_only=True) as client:
        asked = await call(
            client, "get_environment", {"environment_id": env, "include": everything, "reveal": True}
        )
        assert_no_secret(text(asked))
        assert "read-only" in text(asked)


def test_the_shapes_one_by_one() -> None:
    assert mask_args(["--header", "Authorization: Bearer abc123def456"]) == ["--header", "Authorization: ***"]
    assert mask_args(["-e", "GITHUB_TOKEN=ghp_x1y2z3w4"]) == ["-e", "GITHUB_TOKEN=***"]
    assert mask_args(["-e", "DEBUG"]) == ["-e", "DEBUG"]  # passed through, no value
    assert mask_args(["API_TOKEN=x"]) == ["API_TOKEN=***"]
    assert mask_args(["MODE=fast"]) == ["MODE=fast"]
    assert mask_url("https://h.io/sse/a1b2c3d4e5f6g7h8") == "https://h.io/sse/***"
    assert mask_url("https://h.io/token/abc") == "https://h.io/token/***"
    assert (
        mask_url("https://h.io/v1/mcp?team=core&k=a1b2c3d4e5f6g7h8") == "https://h.io/v1/mcp?team=core&k=***"
    )
    assert "s3cr3t" not in mask_text("//registry.npmjs.org/:_authToken=s3cr3t")
    assert "s3cr3t" not in mask_text('export API_KEY="s3cr3t"')
    assert mask_text("export TOKEN=$GITHUB_TOKEN") == "export TOKEN=$GITHUB_TOKEN"  # a reference, not a value
    assert "ghp_abcdefgh1234" not in mask_text("git clone https://x:ghp_abcdefgh1234@github.com/a/b")


def test_command_line_credentials_in_scripts_are_masked() -> None:
    assert mask_text("export DB_PASS=hunter2") == "export DB_PASS=***"
    assert mask_text("REDIS_PW=hunter2 --pass=x") == "REDIS_PW=*** --pass=***"
    assert mask_text("mysql -u root -phunter2 app") == "mysql -u root -p*** app"
    assert mask_text("mariadb -h db -p'hunter2'") == "mariadb -h db -p'***'"
    assert (
        mask_text("curl -u admin:hunter2 https://ci.example.com")
        == "curl -u admin:*** https://ci.example.com"
    )
    assert mask_text("curl --user=admin:hunter2 x") == "curl --user=admin:*** x"
    assert mask_text("sshpass -p hunter2 ssh deploy@host") == "sshpass -p *** ssh deploy@host"
    assert mask_text("docker login ghcr.io -u me -p hunter2") == "docker login ghcr.io -u me -p ***"
    assert mask_text("deploy --password hunter2 --token abc") == "deploy --password *** --token ***"


def test_ordinary_words_near_credential_shapes_stay() -> None:
    for plain in (
        "cmd --pass-through=yes --pass-through yes",
        "bypass=1 compass=north",
        "tests pass: 5 of 5",
        "mysql -u root -P3306 -p app",  # -P is the port; a bare -p prompts
        "psql -p 5432 -U postgres",
        "git push -u origin main",
        "rsync --password-file /etc/pw x",
        "export DB_PASS=$DB_PASS_FROM_VAULT",
        "curl -u $CI_USER:$CI_PASS https://ci.example.com",
        'sshpass -p "$PASS" ssh host',
    ):
        assert mask_text(plain) == plain, plain


async def test_a_hook_test_that_echoes_its_secrets_shows_them_masked(sandbox: RunningSandbox) -> None:
    # Scripts are masked in every view; their test run's output (progress lines and the result's tail)
    # is too: `set -x` or `env` in a script prints what it exports.
    token = f"npm_{secrets.token_hex(16)}"
    script = (
        f"#!/usr/bin/env bash\necho 'NPM_TOKEN={token}'\necho 'Authorization: Bearer {token}'\necho done\n"
    )
    lines: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if message:
            lines.append(message)

    async with connect(sandbox, toolsets=("environments",)) as client:
        result = await client.call_tool(
            "run_environment_hook",
            {"environment_id": "global", "hook": "start", "content": script},
            progress_callback=on_progress,
        )
    assert not result.is_error, text(result)
    assert "done" in text(result)  # the output is shown...
    assert any("NPM_TOKEN=" in line for line in lines), lines
    for shown in [text(result), *lines]:
        assert token not in shown  # ...with its secrets masked


async def test_a_replicas_hook_logs_show_the_hooks_secrets_masked(sandbox: RunningSandbox) -> None:
    # The same start hook, run at a replica's boot: its output is shown by get_replica_hooks and by the
    # report's failed-hook section, masked as a hook test's output is, on a writable and a read-only server.
    token = f"ghp_{secrets.token_hex(16)}"
    script = f"#!/usr/bin/env bash\necho 'configuring npm with NPM_TOKEN={token}'\necho done\n"
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        await call(
            client,
            "run_environment_hook",
            {"environment_id": "global", "hook": "start", "content": script, "save": "always"},
        )
        task = {"environment_id": "global", "task": "Check the build [[no-changes]] [[fail-start-hook]]"}
        report = text(await call(client, "delegate_task", task))
        rid = data(await call(client, "list_replicas"))["replicas"][0]["id"]
        result = text(await call(client, "get_replica_result", {"replica_id": rid}))
        hooks = text(await call(client, "get_replica_hooks", {"replica_id": rid}))
    async with connect(sandbox, toolsets=("all",), read_only=True) as client:
        read_only_hooks = text(await call(client, "get_replica_hooks", {"replica_id": rid}))
    for shown in (report, result, hooks, read_only_hooks):
        assert "NPM_TOKEN=" in shown, shown  # the output is shown...
        assert token not in shown, shown  # ...with its secrets masked
