"""`client.environments.warm_hooks` / `.start_hooks` / `.warm_pool`: the scripts an environment runs.

Hook test streams are not reconnected after a drop: re-sending the POST would run the script again
(and, in save-test mode, save it again), so a drop raises `StreamError` and the caller decides.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from replicas_mcp.client._envelope import unwrap
from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import Resource
from replicas_mcp.client.errors import StreamError, TransportError
from replicas_mcp.client.models.environments import (
    HookStreamEvent,
    HookTestResult,
    SaveAndTestResult,
    StartHookRecord,
    StartHooks,
    WarmHookRecord,
    WarmHooks,
    WarmPoolConfig,
)

if TYPE_CHECKING:
    import httpx2

    from replicas_mcp.client._http import HttpCore

__all__ = ["HOOK_TEST_READ_TIMEOUT", "HookStreamMode", "StartHooksApi", "WarmHooksApi", "WarmPoolApi"]

HookStreamMode = Literal["save_test", "test_only"]

# Hook runs provision a sandbox: quiet gaps of tens of seconds between events are normal.
_HOOK_STREAM_READ_TIMEOUT = 180.0
# Keep-alive events some servers send between real ones.
_HEARTBEAT_EVENTS = frozenset({"heartbeat", "ping", "keepalive"})
# Synchronous hook tests provision a real sandbox and run the script: minutes, not the default 30 s.
HOOK_TEST_READ_TIMEOUT = 300.0


def _env_path(env_id: str, *, suffix: str) -> str:
    return api_path("/v1/environments/{}" + suffix, env_id)


def _hook_event(sse: httpx2.ServerSentEvent) -> HookStreamEvent:
    """A typed event from one SSE frame (JSON object data; other data kept as message/output text)."""
    try:
        parsed: Any = jsonlib.loads(sse.data) if sse.data else {}
    except ValueError:
        parsed = sse.data
    if not isinstance(parsed, dict):
        parsed = {"output" if sse.event == "output" else "message": parsed}
    return HookStreamEvent(event=sse.event, data=parsed, id=sse.id or None)


async def _hook_events(
    frames: AsyncIterator[httpx2.ServerSentEvent], path: str
) -> AsyncGenerator[HookStreamEvent, None]:
    """Events up to and including the terminal `complete` or `error`; a drop before it is a StreamError."""
    try:
        async for frame in frames:
            if frame.event in _HEARTBEAT_EVENTS:
                continue
            event = _hook_event(frame)
            if event.event in _HEARTBEAT_EVENTS:
                continue
            yield event
            if event.is_terminal:
                return
    except TransportError as exc:
        raise StreamError(
            f"hook stream {path} dropped before its result ({exc}); it was not re-sent because that would"
            " run the script again: read the hook's state to see what happened"
        ) from None
    raise StreamError(
        f"hook stream {path} ended without a complete or error event; read the hook's state to see"
        " what happened"
    )


@contextlib.asynccontextmanager
async def _open_hook_stream(
    http: HttpCore, path: str, body: dict[str, Any]
) -> AsyncIterator[AsyncIterator[HookStreamEvent]]:
    async with http.stream_sse("POST", path, json=body, read_timeout=_HOOK_STREAM_READ_TIMEOUT) as frames:
        events = _hook_events(frames, path)
        try:
            yield events
        finally:
            # Close the generator here, inside the connection's lifetime, not at garbage collection.
            await events.aclose()


class WarmHooksApi(Resource):
    """The environment's warm hook: the script run while pre-warming its workspaces."""

    async def get(self, env_id: str) -> WarmHooks:
        """The active warm hook and the warm pool (each None when never configured)."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/warm-hooks"))
        return WarmHooks.model_validate(data)

    async def repository_hooks(self, env_id: str) -> dict[str, Any]:
        """The per-repository warm hooks from `replicas.json` / `replicas.yaml` of the bound repositories."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/warm-hooks/repository-hooks"))
        return dict(data) if isinstance(data, Mapping) else {"repository_hooks": data}

    async def test(self, env_id: str, content: str) -> HookTestResult:
        """Run the script in a sandbox without saving it."""
        path = _env_path(env_id, suffix="/warm-hooks/test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return HookTestResult.model_validate(unwrap(data, "test"))

    async def save(self, env_id: str, content: str) -> WarmHookRecord:
        """Save and activate the script without testing it."""
        path = _env_path(env_id, suffix="/warm-hooks/save")
        data = await self._http.request_json("POST", path, json={"content": content})
        return WarmHookRecord.model_validate(unwrap(data, "warm_hook"))

    async def save_and_test(self, env_id: str, content: str) -> SaveAndTestResult:
        """Test the script and save it if the API does (`result.saved` says whether it did)."""
        path = _env_path(env_id, suffix="/warm-hooks/save-test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return SaveAndTestResult.model_validate(data)

    def stream(
        self, env_id: str, content: str, *, mode: HookStreamMode = "save_test"
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[HookStreamEvent]]:
        """Save-and-test (or test only) with live output::

        async with client.environments.warm_hooks.stream("global", script) as events:
            async for event in events:   # progress..., output..., then complete or error
                ...
        """
        path = _env_path(env_id, suffix="/warm-hooks/save-test/stream")
        return _open_hook_stream(self._http, path, {"content": content, "mode": mode})


class StartHooksApi(Resource):
    """The environment's start hook: the script run at workspace boot."""

    async def get(self, env_id: str) -> StartHooks:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/start-hooks"))
        return StartHooks.model_validate(data)

    async def repository_hooks(self, env_id: str) -> dict[str, Any]:
        """The per-repository start hooks from `replicas.json` / `replicas.yaml` of the bound repositories."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/start-hooks/repository-hooks"))
        return dict(data) if isinstance(data, Mapping) else {"repository_hooks": data}

    async def save(self, env_id: str, content: str) -> StartHookRecord | None:
        """Save and activate the script; empty content clears the start hook (and returns None)."""
        path = _env_path(env_id, suffix="/start-hooks/save")
        data = await self._http.request_json("POST", path, json={"content": content})
        record = unwrap(data, "start_hook")
        return StartHookRecord.model_validate(record) if record is not None else None

    async def test(self, env_id: str, content: str) -> HookTestResult:
        """Run the script in a sandbox without saving it."""
        path = _env_path(env_id, suffix="/start-hooks/test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return HookTestResult.model_validate(unwrap(data, "test"))

    def stream_test(
        self, env_id: str, content: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[HookStreamEvent]]:
        """Test with live output (never saves); same usage as `warm_hooks.stream`."""
        path = _env_path(env_id, suffix="/start-hooks/test/stream")
        return _open_hook_stream(self._http, path, {"content": content})


class WarmPoolApi(Resource):
    """The environment's warm pool (enabled by default on new environments)."""

    async def set(self, env_id: str, *, enabled: bool) -> WarmPoolConfig:
        data = await self._http.request_json(
            "PUT", _env_path(env_id, suffix="/warm-pools"), json={"enabled": enabled}
        )
        return WarmPoolConfig.model_validate(unwrap(data, "warm_pool"))
