"""Page-number pagination turned into an async iterator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

__all__ = ["MAX_PAGES", "iter_pages"]

T = TypeVar("T")

# A guard against a server whose page count never ends (or grows as fast as we read).
MAX_PAGES = 10_000


async def iter_pages(fetch_page: Callable[[int], Awaitable[tuple[list[T], int]]]) -> AsyncIterator[T]:
    """Yield items from page 1 on; `fetch_page(n)` returns (items, total_pages).

    Stops after the last page the server reports, or at the first empty page.
    """
    page = 1
    while page <= MAX_PAGES:
        items, total_pages = await fetch_page(page)
        for item in items:
            yield item
        if not items or page >= total_pages:
            return
        page += 1
