"""A chat's history, read from the newest event backwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client.errors import RequestValidationError
from replicas_mcp.client.models.chats import HistoryEvent, HistoryPage

__all__ = ["History"]


class History(WorkspaceResource):
    """`client.history`: pages of a replica's chat history, where `offset` counts from the newest."""

    async def read(
        self, replica_id: str, *, chat_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> HistoryPage:
        """`limit` events ending `offset` events before the newest (events in the API's order).

        A sleeping workspace: the contract answers 200 with `waking: true` and no events (kept on the
        page), the guide answers 409 (`WorkspaceSleepingError`).
        """
        if limit < 1 or offset < 0:
            raise RequestValidationError("limit must be >= 1 and offset >= 0", field="limit")
        data = await self._workspace_call(
            replica_id,
            "GET",
            api_path("/v1/replica/{}/history", replica_id),
            params={"chat_id": chat_id, "limit": limit, "offset": offset},
        )
        return HistoryPage.model_validate(data)

    async def iter_from_end(
        self, replica_id: str, *, chat_id: str | None = None, page_size: int = 100
    ) -> AsyncIterator[HistoryEvent]:
        """Every event, newest first, one page at a time.

        Offsets count from the newest event, so events appended while paging shift them: each page's
        `total` is compared with the first page's, the repeats at the page's newest end are dropped
        and later offsets skip past the growth. Nothing is yielded twice.
        """
        consumed = 0  # events of the original history yielded so far
        growth = 0  # events appended since the first page
        first_total: int | None = None
        while first_total is None or consumed < first_total:
            page = await self.read(replica_id, chat_id=chat_id, limit=page_size, offset=consumed + growth)
            if first_total is None:
                first_total = page.total
            new_growth = max(0, page.total - first_total - growth)
            growth += new_growth
            events = page.events[: len(page.events) - new_growth] if new_growth else page.events
            for event in reversed(events):
                yield event
            consumed += len(events)
            if page.waking or not page.events or not page.has_more:
                return
