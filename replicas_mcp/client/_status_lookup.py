"""Find a replica in the list endpoint, which (unlike GET /v1/replica/{id}) never wakes it.

Used by `replicas.status`/`find_by_name`, by create reconciliation, and to tell a sleeping workspace
from one in its error state when a 409's text does not say.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from replicas_mcp.client._pagination import iter_pages
from replicas_mcp.client.models.replicas import ReplicaListItem, ReplicaPage

if TYPE_CHECKING:
    from replicas_mcp.client._http import HttpCore

__all__ = ["LIST_PAGE_LIMIT", "find_in_list", "iter_replica_list", "replica_from_list"]

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
