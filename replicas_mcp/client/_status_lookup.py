"""Find a replica in the list endpoint, which (unlike GET /v1/replica/{id}) never wakes it.

Used by `replicas.status`/`find_by_name`, by create reconciliation, and to tell a sleeping workspace
from one in its error state after a 409 (`classify_conflict`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from replicas_mcp.client._pagination import iter_pages
from replicas_mcp.client.errors import (
    ConflictError,
    ReplicasError,
    WorkspaceErrorStateError,
    WorkspaceSleepingError,
)
from replicas_mcp.client.models.replicas import (
    ASLEEP_STATUSES,
    TERMINAL_STATUSES,
    ReplicaListItem,
    ReplicaPage,
)

if TYPE_CHECKING:
    from replicas_mcp.client._http import HttpCore

__all__ = [
    "LIST_PAGE_LIMIT",
    "classify_conflict",
    "find_in_list",
    "iter_replica_list",
    "replica_from_list",
]

logger = logging.getLogger("replicas_mcp.client")

# The list endpoint's maximum page size: fewest round trips for a scan.
LIST_PAGE_LIMIT = 100


async def fetch_replica_page(
    core: HttpCore,
    *,
    page: int,
    limit: int,
    status: str | None = None,
    source: str | None = None,
    user_id: str | None = None,
) -> ReplicaPage:
    data = await core.request_json(
        "GET",
        "/v1/replica",
        params={"page": page, "limit": limit, "status": status, "source": source, "user_id": user_id},
    )
    return ReplicaPage.model_validate(data)


def iter_replica_list(
    core: HttpCore,
    *,
    page_size: int = LIST_PAGE_LIMIT,
    status: str | None = None,
    source: str | None = None,
    user_id: str | None = None,
) -> AsyncIterator[ReplicaListItem]:
    async def fetch(page: int) -> tuple[list[ReplicaListItem], int]:
        result = await fetch_replica_page(
            core, page=page, limit=page_size, status=status, source=source, user_id=user_id
        )
        return result.replicas, result.total_pages

    return iter_pages(fetch)


async def find_in_list(
    core: HttpCore, predicate: Callable[[ReplicaListItem], bool]
) -> ReplicaListItem | None:
    """The first replica in list order that matches, or None after scanning every page."""
    async for item in iter_replica_list(core):
        if predicate(item):
            return item
    return None


async def replica_from_list(core: HttpCore, replica_id: str) -> ReplicaListItem | None:
    return await find_in_list(core, lambda item: item.id == replica_id)


# The guide: engine-proxy calls answer 409 while the workspace is sleeping or in error, and the way to
# tell them apart is the workspace's status. The body text is tried first (free); the list is asked
# only when the text does not say (it never wakes the workspace, unlike GET /v1/replica/{id}).
_ERROR_STATE_TEXT = re.compile(r"error state|in error|status[\s\"':=]+error|terminal|unrecoverabl")
_SLEEPING_TEXT = re.compile(r"sleeping|asleep|archived")


def _conflict_class_from_text(*texts: str | None) -> type[ConflictError] | None:
    """The case the answer's text names, if it names exactly one of them. A text naming both (the guide's
    own wording: "409 when the workspace is in sleeping or error") says neither: the list decides."""
    lowered = " ".join(text or "" for text in texts).lower()
    error_state = _ERROR_STATE_TEXT.search(lowered) is not None
    sleeping = _SLEEPING_TEXT.search(lowered) is not None
    if error_state != sleeping:
        return WorkspaceErrorStateError if error_state else WorkspaceSleepingError
    return None


def _refined(exc: ConflictError, cls: type[ConflictError], note: str = "") -> ConflictError:
    return cls(
        f"{exc.message}{note}",
        status=409,
        error=exc.error,
        details=exc.details,
        request_id=exc.request_id,
        retry_after=exc.retry_after,
    )


async def classify_conflict(core: HttpCore, exc: ConflictError, replica_id: str) -> ConflictError:
    """A workspace call's 409 as `WorkspaceSleepingError` / `WorkspaceErrorStateError` when known.

    From the answer's `error`/`details` text, else from the replica's status in the list endpoint; a
    409 that is neither (or whose lookup fails) stays a plain `ConflictError`.
    """
    if type(exc) is not ConflictError:
        return exc
    details = exc.details if isinstance(exc.details, str) else None
    cls = _conflict_class_from_text(exc.error, details)
    if cls is not None:
        return _refined(exc, cls)
    try:
        item = await replica_from_list(core, replica_id)
    except ReplicasError as lookup_error:
        logger.debug("409 status lookup for %s failed: %s", replica_id, lookup_error)
        return exc
    status = item.status if item is not None else None
    if status in ASLEEP_STATUSES:
        return _refined(exc, WorkspaceSleepingError, f" [workspace status: {status}]")
    if status in TERMINAL_STATUSES:
        return _refined(exc, WorkspaceErrorStateError, f" [workspace status: {status}]")
    return exc
