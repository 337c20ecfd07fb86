"""HTTP routes: warm hooks, start hooks (get, repository hooks, test, save, save-test, SSE), warm pools.

Hook tests never run the script: `hookrunner` predicts the outcome and replays it in scaled time. A test
first "provisions" an isolated sandbox (`PROVISION_SECONDS`, scaled). Save-and-test persists the script only
when the test passes (the API guide's rule; the spec's description says it always persists — see
docs/sandbox-config.md); when it fails the response still has status 201, with `warm_hook: null`.

Streams (`text/event-stream`) emit `event: <type>` frames whose JSON data repeats `type`:
`progress {message}`, `output {output}`, then `complete {exit_code, timed_out[, warm_hook, saved]}` or
`error {message, details}` when the test sandbox fails to provision.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox.environments import hookrunner, shapes
from replicas_mcp.sandbox.environments.access import config_of
from replicas_mcp.sandbox.environments.records import EnvironmentRecord, HookRecord
from replicas_mcp.sandbox.environments.store import OrgConfig
from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.http import (
    caller_of,
    expect_bool,
    expect_choice,
    expect_str,
    read_object,
    require,
    respond,
    sse_frame,
    sse_response,
)

PROVISION_SECONDS = 1.0
MAX_SCRIPT_BYTES = 65_536
STREAM_MODES = ("save_test", "test_only")


def _environment(request: Request) -> EnvironmentRecord:
    # None of the hook routes lists a 404 in the spec: an unknown environment is a 400.
    return config_of(request).visible_environment(
        request.path_params["environment_id"], caller_of(request), missing_status=400
    )


async def _script(request: Request, *, allow_empty: bool = False) -> tuple[str, dict[str, Any]]:
    body = await read_object(request)
    content = expect_str(require(body, "content"), "content", allow_empty=allow_empty)
    if len(content.encode("utf-8")) > MAX_SCRIPT_BYTES:
        raise ApiError(400, "Hook script too large", f"Scripts are limited to {MAX_SCRIPT_BYTES:,} bytes.")
    return content, body


async def _run_test(config: OrgConfig, script: str) -> hookrunner.HookOutcome:
    """Run a synchronous hook test; a failed sandbox is the API's 500."""
    await config.clock.sleep(PROVISION_SECONDS)
    try:
        return await hookrunner.execute(
            script, clock=config.clock, timeout_seconds=config.hook_timeout_seconds
        )
    except hookrunner.ProvisionFailure as exc:
        raise ApiError(500, "Hook test failed to run", f"{exc}; try again.") from None


def _hook_json(config: OrgConfig, hook: HookRecord | None) -> dict[str, Any] | None:
    return None if hook is None else hook.to_json(config.org_id)


# ------------------------------------------------------------------------------------------ warm hooks
async def get_warm_hooks(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    return respond(
        {
            "warm_hook": _hook_json(config, env.active_warm_hook),
            "warm_pool": shapes.warm_pool_json(config, env),
        }
    )


async def get_warm_repository_hooks(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    return respond({"repository_hooks": shapes.repository_hooks_json(config, env, "warm_hook")})


async def test_hook(request: Request) -> JSONResponse:
    """`POST .../warm-hooks/test` and `.../start-hooks/test`: run a script without saving it."""
    config = config_of(request)
    _environment(request)  # resolved for its 400 only: a test never touches the environment
    script, _ = await _script(request)
    outcome = await _run_test(config, script)
    return respond({"test": outcome.result()})


async def save_warm_hook(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    script, _ = await _script(request)
    hook = config.save_warm_hook(env, script)
    return respond({"warm_hook": hook.to_json(config.org_id)}, 201)


async def save_and_test_warm_hook(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    script, _ = await _script(request)
    outcome = await _run_test(config, script)
    hook = config.save_warm_hook(env, script) if outcome.succeeded else None
    return respond({"warm_hook": _hook_json(config, hook), "test": outcome.result()}, 201)


async def stream_warm_hook(request: Request) -> Response:
    config, env = config_of(request), _environment(request)
    script, body = await _script(request)
    mode = expect_choice(body.get("mode", "save_test"), "mode", STREAM_MODES)
    return sse_response(_hook_stream(config, env, script, kind="warm", save=mode == "save_test"))


# ----------------------------------------------------------------------------------------- start hooks
async def get_start_hooks(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    return respond({"start_hook": _hook_json(config, env.active_start_hook)})


async def get_start_repository_hooks(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    return respond({"repository_hooks": shapes.repository_hooks_json(config, env, "start_hook")})


async def save_start_hook(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    script, _ = await _script(request, allow_empty=True)
    hook = config.save_start_hook(env, script)
    return respond({"start_hook": _hook_json(config, hook)}, 201)


async def stream_start_hook(request: Request) -> Response:
    config, env = config_of(request), _environment(request)
    script, _ = await _script(request)
    return sse_response(_hook_stream(config, env, script, kind="start", save=False))


async def _hook_stream(
    config: OrgConfig, env: EnvironmentRecord, script: str, *, kind: str, save: bool
) -> AsyncIterator[bytes]:
    yield sse_frame("progress", {"message": "Provisioning isolated sandbox"})
    await config.clock.sleep(PROVISION_SECONDS)
    outcome = hookrunner.simulate(script, timeout_seconds=config.hook_timeout_seconds)
    if outcome.provision_error is not None:
        yield sse_frame(
            "error", {"message": outcome.provision_error, "details": "Nothing was saved; try again."}
        )
        return
    yield sse_frame("progress", {"message": f"Running {kind} hook"})
    async for line in hookrunner.replay(outcome, clock=config.clock):
        yield sse_frame("output", {"output": line + "\n"})
    verdict = "timed out" if outcome.timed_out else f"exited with code {outcome.exit_code}"
    yield sse_frame("progress", {"message": f"Hook {verdict}; tearing down sandbox"})
    complete: dict[str, Any] = {"exit_code": outcome.exit_code, "timed_out": outcome.timed_out}
    if kind == "warm":
        hook = config.save_warm_hook(env, script) if save and outcome.succeeded else None
        complete["warm_hook"] = _hook_json(config, hook)
        complete["saved"] = hook is not None
    yield sse_frame("complete", complete)


# ------------------------------------------------------------------------------------------- warm pool
async def put_warm_pool(request: Request) -> JSONResponse:
    config, env = config_of(request), _environment(request)
    body = await read_object(request)
    config.set_warm_pool(env, enabled=expect_bool(require(body, "enabled"), "enabled"))
    return respond({"warm_pool": shapes.warm_pool_json(config, env)})


def hook_routes() -> list[BaseRoute]:
    base = "/v1/environments/{environment_id}"
    return [
        Route(f"{base}/warm-hooks", get_warm_hooks, methods=["GET"]),
        Route(f"{base}/warm-hooks/repository-hooks", get_warm_repository_hooks, methods=["GET"]),
        Route(f"{base}/warm-hooks/test", test_hook, methods=["POST"]),
        Route(f"{base}/warm-hooks/save", save_warm_hook, methods=["POST"]),
        Route(f"{base}/warm-hooks/save-test", save_and_test_warm_hook, methods=["POST"]),
        Route(f"{base}/warm-hooks/save-test/stream", stream_warm_hook, methods=["POST"]),
        Route(f"{base}/start-hooks", get_start_hooks, methods=["GET"]),
        Route(f"{base}/start-hooks/repository-hooks", get_start_repository_hooks, methods=["GET"]),
        Route(f"{base}/start-hooks/save", save_start_hook, methods=["POST"]),
        Route(f"{base}/start-hooks/test", test_hook, methods=["POST"]),
        Route(f"{base}/start-hooks/test/stream", stream_start_hook, methods=["POST"]),
        Route(f"{base}/warm-pools", put_warm_pool, methods=["PUT"]),
    ]
