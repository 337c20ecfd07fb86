"""What environments carry, over HTTP: variables, files, skills, skill registries, repo skills and MCPs."""

from __future__ import annotations

from typing import Any

import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .config_helpers import (
    FILE,
    MCP,
    REGISTRY,
    REPO_SKILL,
    SKILL,
    VARIABLE,
    api,
    assert_exact_keys,
    environment_named,
)

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_variables_crud(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        base = "/v1/environments/global/variables"
        listed = (await client.get(base)).json()["environment_variables"]
        assert [(v["key"], v["value"]) for v in listed] == [("TZ", "UTC")]
        created = await client.post(base, json={"key": "API_TOKEN", "value": "tok-123"})
        assert created.status_code == 201
        var = created.json()["environment_variable"]
        assert_exact_keys(var, VARIABLE)
        # The spec returns values in plaintext.
        assert (var["key"], var["value"], var["personal_override_allowed"]) == ("API_TOKEN", "tok-123", False)
        updated = await client.patch(
            f"{base}/{var['id']}", json={"value": "tok-456", "personal_override_allowed": True}
        )
        assert updated.status_code == 200
        assert updated.json()["environment_variable"]["value"] == "tok-456"
        assert updated.json()["environment_variable"]["personal_override_allowed"] is True
        renamed = await client.patch(f"{base}/{var['id']}", json={"key": "API_KEY"})
        assert renamed.json()["environment_variable"]["key"] == "API_KEY"
        glob = (await client.get("/v1/environments/global")).json()["environment"]
        assert glob["variable_count"] == 2
        assert (await client.delete(f"{base}/{var['id']}")).json() == {"success": True}
        assert_error(await client.delete(f"{base}/{var['id']}"), 404, contains="variable not found")
        assert_error(await client.patch(f"{base}/{var['id']}", json={"value": "x"}), 404)


async def test_variable_errors(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as org, api(sandbox, sandbox.personal_key) as personal:
        base = "/v1/environments/global/variables"
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"value": "x"}, 400, "key"),
            ({"key": "TZ"}, 400, "value"),
            ({"key": "1BAD", "value": "x"}, 400, "letter"),
            ({"key": "has space", "value": "x"}, 400, "underscore"),
            ({"key": "OK", "value": 3}, 400, "string"),
            ({"key": "TZ", "value": "x"}, 409, "already"),
        ]
        for body, status, text in cases:
            assert_error(await org.post(base, json=body), status, contains=text)
        tz = (await org.get(base)).json()["environment_variables"][0]
        assert_error(await org.patch(f"{base}/{tz['id']}", json={"key": None}), 400, contains="null")
        # Only admins (organization keys) may set the personal override policy.
        forbidden = await personal.post(
            base, json={"key": "X", "value": "1", "personal_override_allowed": True}
        )
        assert_error(forbidden, 403, contains="admin")
        assert_error(
            await org.get(f"/v1/environments/{UNKNOWN}/variables"), 400, contains="environment not found"
        )
        assert_error(
            await org.post(f"/v1/environments/{UNKNOWN}/variables", json={"key": "A", "value": "b"}), 400
        )
        assert_error(
            await org.patch(f"/v1/environments/{UNKNOWN}/variables/{tz['id']}", json={"value": "b"}), 404
        )


async def test_files_crud_and_size_limit(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "web")
        base = f"/v1/environments/{env['id']}/files"
        assert (await client.get(base)).json() == {"environment_files": []}
        created = await client.post(
            base, json={"name": "agents", "path": "~/AGENTS.md", "content": "# Rules\n"}
        )
        assert created.status_code == 201
        file = created.json()["environment_file"]
        assert_exact_keys(file, FILE)
        assert (file["path"], file["content"]) == ("~/AGENTS.md", "# Rules\n")
        exact = "x" * 65_536
        big = await client.post(base, json={"name": "big", "path": "~/big.txt", "content": exact})
        assert big.status_code == 201
        too_big = await client.post(base, json={"name": "huge", "path": "~/huge.txt", "content": exact + "x"})
        assert_error(too_big, 400, contains="65,536 bytes")
        # The limit counts UTF-8 bytes, not characters.
        wide = await client.post(base, json={"name": "wide", "path": "~/wide.txt", "content": "é" * 40_000})
        assert_error(wide, 400, contains="80,000 bytes")
        patched = await client.patch(
            f"{base}/{file['id']}", json={"content": "# New\n", "path": "~/CLAUDE.md"}
        )
        assert patched.status_code == 200
        assert (
            patched.json()["environment_file"]["path"],
            patched.json()["environment_file"]["content"],
        ) == (
            "~/CLAUDE.md",
            "# New\n",
        )
        assert_error(
            await client.patch(f"{base}/{file['id']}", json={"content": exact + "y"}), 400, contains="64 KB"
        )
        for body, text in (
            ({"name": "a", "path": "AGENTS.md", "content": ""}, "home directory"),
            ({"name": "a", "path": "~/../etc/passwd", "content": ""}, ".."),
            ({"name": "a", "path": "~/dir/", "content": ""}, "directory"),
            ({"name": "a", "path": "~/big.txt", "content": ""}, "already exists"),
            ({"path": "~/a", "content": ""}, "name"),
        ):
            assert_error(await client.post(base, json=body), 400, contains=text)
        assert (await client.delete(f"{base}/{file['id']}")).json() == {"success": True}
        assert_error(await client.delete(f"{base}/{file['id']}"), 404, contains="file not found")


async def test_skills_enable_list_disable(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "web")
        base = f"/v1/environments/{env['id']}/skills"
        found = (await client.get("/v1/environment-skills/search", params={"q": "react"})).json()["skills"][0]
        enabled = await client.post(base, json={k: found[k] for k in ("name", "slug", "source")})
        assert enabled.status_code == 201
        skill = enabled.json()["environment_skill"]
        assert_exact_keys(skill, SKILL)
        assert skill["slug"] == "react"
        again = await client.post(base, json={"name": "React again", "slug": "react", "source": "elsewhere"})
        assert_error(again, 409, contains="already enabled")
        same_source = await client.post(base, json={"name": "R", "slug": "react2", "source": found["source"]})
        assert_error(same_source, 409)
        assert [s["id"] for s in (await client.get(base)).json()["environment_skills"]] == [skill["id"]]
        assert_error(
            await client.post(base, json={"name": "x", "slug": "a b", "source": "s"}),
            400,
            contains="whitespace",
        )
        assert_error(await client.post(base, json={"name": "x", "slug": "y"}), 400, contains="source")
        assert (await client.delete(f"{base}/{skill['id']}")).json() == {"success": True}
        assert_error(await client.delete(f"{base}/{skill['id']}"), 404, contains="skill not found")
        assert (await client.get(base)).json() == {"environment_skills": []}


async def test_skill_registries(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        base = "/v1/environments/global/skills-registries"
        added = await client.post(base, json={"url": "https://github.com/anthropics/skills.git"})
        assert added.status_code == 200  # the spec answers 200 here
        body = added.json()
        assert set(body) == {"registry", "repo_skills", "error"}
        assert_exact_keys(body["registry"], REGISTRY)
        assert body["registry"]["url"] == "https://github.com/anthropics/skills"
        assert body["registry"]["repository_full_name"] == "anthropics/skills"
        assert body["error"] is None
        assert [s["name"] for s in body["repo_skills"]] == ["pdf", "docx", "xlsx", "frontend-design"]
        for skill in body["repo_skills"]:
            assert_exact_keys(skill, REPO_SKILL)
        other = await client.post(base, json={"url": "https://github.com/acme/our-skills"})
        assert other.json()["repo_skills"] == []
        listed = (await client.get(base)).json()["registries"]
        assert [r["repository_full_name"] for r in listed] == ["anthropics/skills", "acme/our-skills"]
        assert_exact_keys(listed[0], REGISTRY | {"repo_skills", "error"})
        assert_error(await client.post(base, json={"url": "https://github.com/Anthropics/skills"}), 409)
        for url in (
            "https://gitlab.com/a/b",
            "http://github.com/a/b",
            "https://github.com/only-owner",
            "nope",
        ):
            assert_error(await client.post(base, json={"url": url}), 400, contains="github")
        registry_id = body["registry"]["id"]
        assert (await client.delete(f"{base}/{registry_id}")).json() == {"success": True}
        assert_error(await client.delete(f"{base}/{registry_id}"), 404, contains="registry not found")


async def test_repo_skills(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        platform = await environment_named(client, "platform")
        response = await client.get(f"/v1/environments/{platform['id']}/repo-skills")
        assert response.status_code == 200
        body = response.json()
        assert body["error"] is None
        for skill in body["repo_skills"]:
            assert_exact_keys(skill, REPO_SKILL)
        assert {s["repository_full_name"] for s in body["repo_skills"]} == {"acme/api", "acme/web"}
        kinds = {(s["framework"], s["kind"]) for s in body["repo_skills"]}
        assert ("claude", "agent") in kinds
        assert ("cursor", "prompt") in kinds
        first = body["repo_skills"][0]
        assert first["html_url"] == f"https://github.com/acme/api/blob/main/{first['path']}"
        # Unbound environments answer an empty list, not an error.
        assert (await client.get("/v1/environments/global/repo-skills")).json() == {
            "repo_skills": [],
            "error": None,
        }
        assert_error(await client.get(f"/v1/environments/{UNKNOWN}/repo-skills"), 404)


@pytest.mark.sandbox_mode(strict=False)  # the lenient sandbox's extensions (docs/sandbox.md)
async def test_mcps_crud_and_validation(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "web")
        base = f"/v1/environments/{env['id']}/mcps"
        stdio = await client.post(
            base,
            json={
                "name": "linear",
                "transport": "stdio",
                "config": {"command": "npx", "args": ["-y", "@linear/mcp"], "env": {"LINEAR_API_KEY": "k"}},
            },
        )
        assert stdio.status_code == 201
        mcp = stdio.json()["environment_mcp"]
        assert_exact_keys(mcp, MCP)
        assert mcp["config"] == {
            "command": "npx",
            "args": ["-y", "@linear/mcp"],
            "env": {"LINEAR_API_KEY": "k"},
        }
        minimal = await client.post(
            base, json={"name": "fs", "transport": "stdio", "config": {"command": "mcp-fs"}}
        )
        assert minimal.json()["environment_mcp"]["config"] == {"command": "mcp-fs", "args": [], "env": {}}
        http = await client.post(
            base,
            json={"name": "internal-tools", "transport": "sse", "config": {"url": "https://mcp.example.com"}},
        )
        assert http.status_code == 201
        assert http.json()["environment_mcp"]["config"] == {"url": "https://mcp.example.com", "headers": {}}
        bad_cases: list[tuple[dict[str, Any], int, str]] = [
            ({"name": "x", "transport": "stdio", "config": {"url": "https://a"}}, 400, "command"),
            (
                {"name": "x", "transport": "stdio", "config": {"command": "a", "args": "b"}},
                400,
                "list of strings",
            ),
            (
                {"name": "x", "transport": "stdio", "config": {"command": "a", "env": {"A": 1}}},
                400,
                "strings",
            ),
            ({"name": "x", "transport": "http", "config": {"command": "a"}}, 400, "config.url"),
            ({"name": "x", "transport": "http", "config": {"url": "ftp://a"}}, 400, "http(s)"),
            (
                {"name": "x", "transport": "http", "config": {"url": "https://a", "extra": 1}},
                400,
                "unknown key",
            ),
            ({"name": "x", "transport": "ws", "config": {}}, 400, "transport"),
            ({"name": "replicas-x", "transport": "stdio", "config": {"command": "a"}}, 400, "reserved"),
            ({"name": "-bad", "transport": "stdio", "config": {"command": "a"}}, 400, "letters"),
            ({"name": "x" * 65, "transport": "stdio", "config": {"command": "a"}}, 400, "1-64"),
            ({"name": "x", "transport": "stdio", "config": "npx"}, 400, "object"),
            ({"name": "linear", "transport": "stdio", "config": {"command": "a"}}, 409, "already exists"),
        ]
        for body, status, text in bad_cases:
            assert_error(await client.post(base, json=body), status, contains=text)
        url = f"{base}/{mcp['id']}"
        assert_error(await client.patch(url, json={"transport": "http"}), 400, contains="config is required")
        switched = await client.patch(
            url, json={"transport": "http", "config": {"url": "http://localhost:9000/mcp"}}
        )
        assert switched.status_code == 200
        assert switched.json()["environment_mcp"]["transport"] == "http"
        assert_error(await client.patch(url, json={"config": {"command": "npx"}}), 400, contains="config.url")
        renamed = await client.patch(url, json={"name": "linear-http"})
        assert renamed.json()["environment_mcp"]["name"] == "linear-http"
        assert_error(await client.patch(url, json={"name": "fs"}), 409)
        listed = (await client.get(base)).json()["environment_mcps"]
        assert [m["name"] for m in listed] == ["linear-http", "fs", "internal-tools"]
        assert (await client.delete(url)).json() == {"success": True}
        assert_error(await client.delete(url), 404, contains="mcp not found")
        assert_error(await client.patch(url, json={"name": "z"}), 404)
