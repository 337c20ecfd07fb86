"""Replicas (workspaces): list, look up without waking, create exactly once, read, wake, message, delete."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from replicas_mcp.client._envelope import unwrap
from replicas_mcp.client._fields import UNSET, Unset, request_body
from replicas_mcp.client._http import API_VERSION, API_VERSION_HEADER, api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client._status_lookup import (
    fetch_replica_page,
    iter_replica_list,
    replica_from_list,
)
from replicas_mcp.client.errors import (
    APIStatusError,
    ConflictError,
    ConnectError,
    CreateOutcomeUnknownError,
    NotFoundError,
    RateLimitedError,
    ReplicasError,
    RequestValidationError,
    ServerError,
    TransportError,
    WakeTimeoutError,
    WorkspaceErrorStateError,
    WorkspaceSleepingError,
)
from replicas_mcp.client.models.replicas import (
    ReplicaDetails,
    ReplicaListItem,
    ReplicaPage,
    SendMessageResult,
)

__all__ = ["Replicas"]

logger = logging.getLogger("replicas_mcp.client")

_INCLUDE_VALUES = frozenset({"environment", "diffs"})
# A create must never be sent twice: only a 429 (the server refused before acting) is retried.
_CREATE_RETRY_STATUSES = frozenset({429})


# How far the server's clock may be behind this one when deciding that a replica found by name after an
# unknown create is that create's (an older replica of the same name is someone else's).
RECONCILE_CLOCK_SKEW = timedelta(minutes=10)


def _created_since(item: ReplicaListItem, since: datetime) -> bool:
    """Whether the replica was created at or after `since` (allowing for clock skew)."""
    if not item.created_at:
        return False
    try:
        created = datetime.fromisoformat(item.created_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created >= since - RECONCILE_CLOCK_SKEW


def _newest(items: Sequence[ReplicaListItem]) -> ReplicaListItem | None:
    # ISO-8601 timestamps from one server sort correctly as strings; missing ones sort first.
    return max(items, key=lambda item: item.created_at or "", default=None)


class Replicas(WorkspaceResource):
    """`client.replicas`: the workspaces of the organization."""

    # Reconciliation looks for the replica by name after these delays (seconds): the list may lag.
    reconcile_delays: tuple[float, ...] = (0.0, 0.5, 1.5)

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        status: str | None = None,
        source: str | None = None,
        user_id: str | None = None,
    ) -> ReplicaPage:
        return await fetch_replica_page(
            self._http, page=page, limit=limit, status=status, source=source, user_id=user_id
        )

    def iter(
        self, *, status: str | None = None, source: str | None = None, page_size: int = 50
    ) -> AsyncIterator[ReplicaListItem]:
        """Every replica, page by page (`async for replica in client.replicas.iter(): ...`)."""
        return iter_replica_list(self._http, page_size=page_size, status=status, source=source)

    async def find_by_name(self, name: str) -> ReplicaListItem | None:
        """The newest replica with this exact name, from the list endpoint (never wakes it)."""
        return (await self.find_by_names([name])).get(name)

    async def find_by_names(self, names: Iterable[str]) -> dict[str, ReplicaListItem]:
        """The newest replica for each of `names` that exists, in one pass over the list endpoint."""
        wanted = set(names)
        matches: dict[str, list[ReplicaListItem]] = {}
        async for item in iter_replica_list(self._http):
            if item.name in wanted:
                matches.setdefault(item.name, []).append(item)
        return {name: newest for name, items in matches.items() if (newest := _newest(items)) is not None}

    async def status(self, replica_id: str, *, fresh: bool = False) -> ReplicaListItem | None:
        """The replica as the list shows it (status included) without waking it; None if absent.

        `fresh`: the answer must come from upstream now (a read that would wake a sleeping workspace relies
        on it). This client always reads the list; a caching view (the server's) honours the flag."""
        return await replica_from_list(self._http, replica_id)

    async def create(
        self,
        *,
        name: str,
        message: str,
        environment_id: str | Unset | None = UNSET,
        repository_ids: Sequence[str] | Unset | None = UNSET,
        repository_set_id: str | Unset | None = UNSET,
        coding_agent: str | Unset | None = UNSET,
        model: str | Unset | None = UNSET,
        images: Sequence[Mapping[str, Any]] | Unset | None = UNSET,
        lifecycle_policy: str | Unset | None = UNSET,
        config: Mapping[str, Any] | Unset | None = UNSET,
        plan_mode: bool | Unset | None = UNSET,
        goal_mode: bool | Unset | None = UNSET,
        fast_mode: bool | Unset | None = UNSET,
        thinking_level: str | Unset | None = UNSET,
        webhook_url: str | Mapping[str, str] | Unset | None = UNSET,
        size: str | Unset | None = UNSET,
    ) -> ReplicaListItem:
        """Create a replica (fire-and-forget API version: returns while it is `preparing`).

        The request is sent at most once. If its outcome is unknown (a timeout after sending, a
        dropped connection, a 5xx), the replica is looked up by name: found, it is returned;
        not found, `CreateOutcomeUnknownError` is raised and nothing is re-sent.

        `lifecycle_policy` is an open enum: the guide's `delete_when_done` and the contract's
        `archive_when_done` / `sleep_when_done` are all passed through (see `LifecyclePolicyValue`).
        """
        body = request_body(
            name=name,
            message=message,
            environment_id=environment_id,
            repository_ids=list(repository_ids) if isinstance(repository_ids, Sequence) else repository_ids,
            repository_set_id=repository_set_id,
            coding_agent=coding_agent,
            model=model,
            images=[dict(image) for image in images] if isinstance(images, Sequence) else images,
            lifecycle_policy=lifecycle_policy,
            config=dict(config) if isinstance(config, Mapping) else config,
            plan_mode=plan_mode,
            goal_mode=goal_mode,
            fast_mode=fast_mode,
            thinking_level=thinking_level,
            webhook_url=dict(webhook_url) if isinstance(webhook_url, Mapping) else webhook_url,
            size=size,
        )
        policy = dataclasses.replace(self._http.policy, unsafe_retry_statuses=_CREATE_RETRY_STATUSES)
        started = datetime.now(UTC)
        try:
            data = await self._http.request_json(
                "POST",
                "/v1/replica",
                json=body,
                headers={API_VERSION_HEADER: API_VERSION},
                policy=policy,
            )
        except ConnectError:
            raise  # provably not created
        except RateLimitedError as exc:
            if exc.status == 429:
                raise  # refused before acting: provably not created
            # A 503 asking for a longer wait than the client allows (see `_final_error`): like any 5xx,
            # the server may have acted before answering.
            return await self._reconcile(name, exc, started)
        except (TransportError, ServerError) as exc:
            return await self._reconcile(name, exc, started)
        return ReplicaListItem.model_validate(unwrap(data, "replica"))

    async def _reconcile(self, name: str, cause: ReplicasError, started: datetime) -> ReplicaListItem:
        logger.warning("create of replica %r had an unknown outcome (%s); looking it up by name", name, cause)
        for delay in self.reconcile_delays:
            if delay:
                await anyio.sleep(delay)
            try:
                found = await self.find_by_name(name)
            except ReplicasError as lookup_error:
                raise CreateOutcomeUnknownError(
                    f"create of replica {name!r} may have happened ({cause}); looking it up failed"
                    f" ({lookup_error}). It was not re-sent.",
                    name=name,
                    cause=cause,
                ) from cause
            # An older replica of that name is not this create's: returning it would pass off someone
            # else's replica (and task) as the one just asked for.
            if found is not None and _created_since(found, started):
                logger.info("reconciled create of replica %r: found %s (%s)", name, found.id, found.status)
                return found
        raise CreateOutcomeUnknownError(
            f"create of replica {name!r} may or may not have happened ({cause}) and no replica with that"
            " name was found. It was not re-sent; check again later with find_by_name.",
            name=name,
            cause=cause,
        ) from cause

    async def get(self, replica_id: str, *, include: Iterable[str] = ()) -> ReplicaDetails:
        """Full details. Note: this WAKES a sleeping replica (`waking` is then true)."""
        wanted = list(dict.fromkeys(include))
        unknown = [value for value in wanted if value not in _INCLUDE_VALUES]
        if unknown:
            raise RequestValidationError(
                f"include accepts {sorted(_INCLUDE_VALUES)}, got {unknown}", field="include"
            )
        data = await self._workspace_call(
            replica_id,
            "GET",
            api_path("/v1/replica/{}", replica_id),
            params={"include": ",".join(wanted) or None},
        )
        return ReplicaDetails.model_validate(unwrap(data, "replica"))

    async def delete(self, replica_id: str) -> None:
        """Delete (idempotent for replicas of this organization)."""
        await self._workspace_call(replica_id, "DELETE", api_path("/v1/replica/{}", replica_id))

    async def exists(self, replica_id: str) -> bool:
        """Whether the replica still exists, without waking it: one canvas listing, which the guide has
        answer 409 while the workspace sleeps or is in error (200 while awake) and 404 once it is gone."""
        try:
            await self._http.request_json("GET", api_path("/v1/replica/{}/canvas", replica_id))
        except NotFoundError:
            return False
        except ConflictError:
            return True  # asleep or in error: there, and left as it is
        return True

    async def wake(self, replica_id: str) -> dict[str, Any]:
        """Start waking a sleeping or archived replica.

        `POST /v1/replica/{id}/wake` is the guide's endpoint (the contract has none), and the guide also
        lists it among the calls that answer 409 while the workspace sleeps. So when it answers that (or
        is not there: 404, 405), the contract's way is taken: reading the details wakes the workspace
        (`waking: true`). A workspace in its error state stays a `WorkspaceErrorStateError`.
        """
        try:
            data = await self._workspace_call(replica_id, "POST", api_path("/v1/replica/{}/wake", replica_id))
        except (WorkspaceSleepingError, NotFoundError) as exc:
            logger.info("wake of %s answered %s; waking it by reading its details", replica_id, exc.status)
        except APIStatusError as exc:
            if exc.status != 405:
                raise
            logger.info("wake of %s answered 405; waking it by reading its details", replica_id)
        else:
            return dict(data) if isinstance(data, dict) else {}
        details = await self.get(replica_id)  # a NotFoundError here: the replica itself is gone
        return {"success": True, "waking": bool(details.waking), "status": details.status}

    async def wake_and_wait(
        self,
        replica_id: str,
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - the documented interface; the loop enforces it
        poll_interval: float = 1.0,
    ) -> ReplicaListItem:
        """Wake the replica and poll its status (list-based) until it is active, within `timeout`.

        Raises `WorkspaceErrorStateError` if it is (or goes) into its error state, `NotFoundError` if
        it disappears, and `WakeTimeoutError` if it is not active in time.
        """
        deadline = time.monotonic() + timeout
        await self.wake(replica_id)
        last_status = "unknown"
        while True:
            item = await self.status(replica_id)
            if item is None:
                raise NotFoundError(
                    f"replica {replica_id} is no longer listed while waiting for it to wake", status=404
                )
            last_status = item.status
            if item.status == "active":
                return item
            if item.status == "error":
                raise WorkspaceErrorStateError(
                    f"replica {replica_id} is in its error state and cannot be woken", status=409
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WakeTimeoutError(
                    f"replica {replica_id} was not active within {timeout:.0f}s (last status: {last_status})",
                    last_status=last_status,
                )
            await anyio.sleep(min(poll_interval, remaining))

    async def send_message(
        self,
        replica_id: str,
        message: str,
        *,
        chat_id: str | Unset | None = UNSET,
        coding_agent: str | Unset | None = UNSET,
        model: str | Unset | None = UNSET,
        images: Sequence[Mapping[str, Any]] | Unset | None = UNSET,
        plan_mode: bool | Unset | None = UNSET,
        goal_mode: bool | Unset | None = UNSET,
        fast_mode: bool | Unset | None = UNSET,
        thinking_level: str | Unset | None = UNSET,
    ) -> SendMessageResult:
        """Send a message (wakes a sleeping replica; queues if the agent is busy)."""
        body = request_body(
            message=message,
            chat_id=chat_id,
            coding_agent=coding_agent,
            model=model,
            images=[dict(image) for image in images] if isinstance(images, Sequence) else images,
            plan_mode=plan_mode,
            goal_mode=goal_mode,
            fast_mode=fast_mode,
            thinking_level=thinking_level,
        )
        data = await self._workspace_call(
            replica_id, "POST", api_path("/v1/replica/{}/messages", replica_id), json=body
        )
        return SendMessageResult.model_validate(data)
