"""Hook scripts: the simulated runner's rules, and the warm/start hook and warm pool routes over HTTP."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments import hookrunner
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

from ..helpers import assert_error
from .config_helpers import (
    HOOK,
    TEST_RESULT,
    WARM_POOL,
    api,
    assert_exact_keys,
    environment_named,
    sse_events,
)

# ------------------------------------------------------------------------------------------- the runner


def test_echo_sleep_and_exit_code() -> None:
    outcome = hookrunner.simulate(
        "#!/usr/bin/env bash\n# comment\necho 'hello  world'\nsleep 3\nexit 4\necho never\n"
    )
    assert (outcome.exit_code, outcome.timed_out) == (4, False)
    assert outcome.output == "hello  world\n"
    assert outcome.seconds == pytest.approx(3.0)
    assert not outcome.succeeded


def test_errexit_stops_at_the_first_failure_and_plain_scripts_continue() -> None:
    strict = hookrunner.simulate("set -euo pipefail\nfalse\necho after\n")
    assert (strict.exit_code, strict.output) == (1, "")
    lenient = hookrunner.simulate("false\necho after\n")
    assert (lenient.exit_code, lenient.output) == (0, "after\n")
    last_fails = hookrunner.simulate("echo a\nfalse\n")
    assert last_fails.exit_code == 1


def test_tools_print_plausible_deterministic_output() -> None:
    first = hookrunner.simulate("npm ci\npip install -r requirements.txt\nmake build\nrun-something --flag\n")
    again = hookrunner.simulate("npm ci\npip install -r requirements.txt\nmake build\nrun-something --flag\n")
    assert first.output == again.output
    lines = first.output.splitlines()
    assert lines[0].startswith("added ")
    assert lines[0].endswith("s")
    assert lines[1].startswith("Successfully installed ")
    assert lines[2] == "make: 'build' is up to date."
    assert lines[3] == "$ run-something --flag"
    assert first.exit_code == 0


def test_background_continuations_and_bad_exit_arguments() -> None:
    outcome = hookrunner.simulate("npm run dev &\necho one \\\n  two\nexit nope\n")
    lines = outcome.output.splitlines()
    assert lines[0].startswith("[1] ")
    assert lines[1] == "one two"
    assert "numeric argument required" in lines[2]
    assert outcome.exit_code == 2
    assert hookrunner.simulate("true\nexit\n").exit_code == 0
    assert hookrunner.simulate("exit 300\n").exit_code == 300 % 256


def test_sleep_beyond_the_limit_times_out() -> None:
    outcome = hookrunner.simulate("echo start\nsleep 2m\necho never\n", timeout_seconds=60)
    assert outcome.timed_out
    assert outcome.exit_code == hookrunner.TIMEOUT_EXIT_CODE
    assert outcome.seconds == pytest.approx(60.0)
    assert "timed out after 60s" in outcome.output


def test_provision_failure_marker() -> None:
    outcome = hookrunner.simulate("# replicas-sandbox: provision-failure\necho hi\n")
    assert outcome.provision_error is not None
    assert not outcome.succeeded


async def test_execute_streams_lines_in_scaled_time() -> None:
    lines: list[str] = []

    async def collect(line: str) -> None:
        lines.append(line)

    clock = Clock(0.01)
    with anyio.fail_after(5):
        started = anyio.current_time()
        outcome = await hookrunner.execute("echo a\nsleep 10\necho b\n", clock=clock, on_output=collect)
    assert lines == ["a", "b"]
    assert outcome.exit_code == 0
    assert anyio.current_time() - started >= 0.09
    with pytest.raises(hookrunner.ProvisionFailure):
        await hookrunner.execute("# replicas-sandbox: provision-failure\n", clock=clock)


# --------------------------------------------------------------------------------------------- the API


async def test_warm_hook_get_save_and_versions(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "api")
        state = (await client.get(f"/v1/environments/{env['id']}/warm-hooks")).json()
        assert set(state) == {"warm_hook", "warm_pool"}
        assert_exact_keys(state["warm_hook"], HOOK)
        assert_exact_keys(state["warm_pool"], WARM_POOL)
        assert state["warm_hook"]["version"] == 1
        saved = await client.post(
            f"/v1/environments/{env['id']}/warm-hooks/save", json={"content": "bun install\n"}
        )
        assert saved.status_code == 201
        hook = saved.json()["warm_hook"]
        assert_exact_keys(hook, HOOK)
        assert (hook["version"], hook["is_active"], hook["content"]) == (2, True, "bun install\n")
        state = (await client.get(f"/v1/environments/{env['id']}/warm-hooks")).json()
        assert state["warm_hook"]["id"] == hook["id"]
        assert state["warm_pool"]["generation"] == 2
        # The Global environment has no warm hook and no pool until one is configured.
        empty = (await client.get("/v1/environments/global/warm-hooks")).json()
        assert empty == {"warm_hook": None, "warm_pool": None}
        repo_hooks = (await client.get(f"/v1/environments/{env['id']}/warm-hooks/repository-hooks")).json()
        assert repo_hooks["repository_hooks"][0]["warm_hook"] == "npm ci"


async def test_warm_hook_test_and_save_test(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        base = "/v1/environments/global/warm-hooks"
        with anyio.fail_after(10):
            tested = await client.post(f"{base}/test", json={"content": "echo ok\nexit 5\n"})
        assert tested.status_code == 200
        assert_exact_keys(tested.json()["test"], TEST_RESULT)
        assert tested.json()["test"] == {"exit_code": 5, "output": "ok\n", "timed_out": False}
        assert (await client.get(base)).json()["warm_hook"] is None  # a test never saves
        with anyio.fail_after(10):
            failed = await client.post(f"{base}/save-test", json={"content": "exit 1\n"})
        assert failed.status_code == 201
        assert failed.json()["warm_hook"] is None
        assert failed.json()["test"]["exit_code"] == 1
        assert (await client.get(base)).json()["warm_hook"] is None  # not saved: the test failed
        with anyio.fail_after(10):
            passed = await client.post(f"{base}/save-test", json={"content": "echo fine\n"})
        assert passed.status_code == 201
        assert_exact_keys(passed.json()["warm_hook"], HOOK)
        assert (await client.get(base)).json()["warm_hook"]["content"] == "echo fine\n"


async def test_warm_hook_stream_save_test_and_test_only(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "web")
        url = f"/v1/environments/{env['id']}/warm-hooks/save-test/stream"
        with anyio.fail_after(10):
            async with client.stream("POST", url, json={"content": "echo one\nnpm ci\n"}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = await sse_events(response)
        kinds = [name for name, _ in events]
        assert kinds[0] == "progress"
        assert kinds[-1] == "complete"
        assert next(data["output"] for name, data in events if name == "output") == "one\n"
        assert all(data["type"] == name for name, data in events)
        complete = events[-1][1]
        assert (complete["exit_code"], complete["timed_out"], complete["saved"]) == (0, False, True)
        assert_exact_keys(complete["warm_hook"], HOOK)
        with anyio.fail_after(10):
            async with client.stream(
                "POST", url, json={"content": "echo x\n", "mode": "test_only"}
            ) as response:
                events = await sse_events(response)
        assert events[-1][1]["warm_hook"] is None
        assert events[-1][1]["saved"] is False
        state = (await client.get(f"/v1/environments/{env['id']}/warm-hooks")).json()
        assert state["warm_hook"]["content"] == "echo one\nnpm ci\n"
        with anyio.fail_after(10):
            async with client.stream("POST", url, json={"content": "exit 9\n"}) as response:
                events = await sse_events(response)
        assert events[-1][1]["exit_code"] == 9
        assert events[-1][1]["saved"] is False
        with anyio.fail_after(10):
            failure = "# replicas-sandbox: provision-failure\necho hi\n"
            async with client.stream("POST", url, json={"content": failure}) as response:
                events = await sse_events(response)
        assert events[-1][0] == "error"
        assert "provision" in events[-1][1]["message"]
        bad = await client.post(url, json={"content": "echo\n", "mode": "sometimes"})
        assert_error(bad, 400, contains="mode")


async def test_start_hooks(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "api")
        base = f"/v1/environments/{env['id']}/start-hooks"
        current = (await client.get(base)).json()
        assert set(current) == {"start_hook"}
        assert_exact_keys(current["start_hook"], HOOK)
        saved = await client.post(f"{base}/save", json={"content": "npm start &\n"})
        assert saved.status_code == 201
        assert saved.json()["start_hook"]["version"] == 2
        cleared = await client.post(f"{base}/save", json={"content": ""})
        assert cleared.status_code == 201
        assert cleared.json() == {"start_hook": None}
        assert (await client.get(base)).json() == {"start_hook": None}
        with anyio.fail_after(10):
            tested = await client.post(f"{base}/test", json={"content": "echo booted\n"})
        assert tested.status_code == 200
        assert tested.json() == {"test": {"exit_code": 0, "output": "booted\n", "timed_out": False}}
        with anyio.fail_after(10):
            async with client.stream(
                "POST", f"{base}/test/stream", json={"content": "echo s\nexit 2\n"}
            ) as resp:
                events = await sse_events(resp)
        assert events[-1] == ("complete", {"type": "complete", "exit_code": 2, "timed_out": False})
        assert ("output", {"type": "output", "output": "s\n"}) in events
        repo_hooks = (await client.get(f"{base}/repository-hooks")).json()["repository_hooks"]
        assert repo_hooks == [
            {
                "repository_id": env["repository_id"],
                "repository_name": "acme/api",
                "config_file": "replicas.json",
                "start_hook": "npm run dev &",
            }
        ]
        with anyio.fail_after(10):
            broken = await client.post(
                f"{base}/test", json={"content": "# replicas-sandbox: provision-failure\n"}
            )
        assert_error(broken, 500, contains="failed")


async def test_hook_input_errors(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        base = "/v1/environments/global"
        assert_error(await client.post(f"{base}/warm-hooks/save", json={}), 400, contains="content")
        assert_error(
            await client.post(f"{base}/warm-hooks/save", json={"content": "  "}), 400, contains="empty"
        )
        assert_error(await client.post(f"{base}/warm-hooks/test", content=b"not json"), 400, contains="json")
        assert_error(
            await client.post(f"{base}/start-hooks/test", json={"content": 5}), 400, contains="string"
        )
        huge = "echo x\n" * 10_000
        assert_error(
            await client.post(f"{base}/warm-hooks/save", json={"content": huge}), 400, contains="large"
        )
        unknown = "/v1/environments/00000000-0000-4000-8000-000000000000"
        assert_error(await client.get(f"{unknown}/warm-hooks"), 400, contains="environment not found")
        assert_error(await client.get(f"{unknown}/start-hooks"), 400, contains="environment not found")


async def test_warm_pool_toggle(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "web")
        url = f"/v1/environments/{env['id']}/warm-pools"
        off = await client.put(url, json={"enabled": False})
        assert off.status_code == 200
        assert_exact_keys(off.json()["warm_pool"], WARM_POOL)
        assert off.json()["warm_pool"]["enabled"] is False
        on = await client.put(url, json={"enabled": True})
        pool = on.json()["warm_pool"]
        assert pool["enabled"] is True
        assert pool["target_size"] == 2
        assert pool["warming_count"] + pool["ready_count"] == 2
        assert_error(await client.put(url, json={"enabled": "yes"}), 400, contains="enabled")
        assert_error(await client.put(url, json={}), 400, contains="enabled")


async def test_timed_out_hook_over_http() -> None:
    # A fast clock keeps the simulated 120 s timeout short in wall time.
    async with running_sandbox(seed=0, time_scale=0.001) as sandbox, api(sandbox, sandbox.org_key) as client:
        with anyio.fail_after(10):
            response = await client.post(
                "/v1/environments/global/start-hooks/test", json={"content": "echo a\nsleep 1h\n"}
            )
    assert response.status_code == 200
    result = response.json()["test"]
    assert result["timed_out"] is True
    assert result["exit_code"] == 124
    assert result["output"].startswith("a\n")
