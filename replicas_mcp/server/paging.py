"""Paging long text (diffs, hook output, canvas documents) by characters: `max_chars` and `offset`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

DEFAULT_MAX_CHARS = 8000

MaxChars = Annotated[int, Field(ge=200, le=100_000)]  # the name and the default say enough
Offset = Annotated[int, Field(ge=0, description="From next_offset")]


@dataclass(frozen=True)
class TextPage:
    text: str
    offset: int
    total: int
    next_offset: int | None  # None: this page reaches the end

    def hint(self, call: str) -> str:
        """One line telling the model how to get the next part, or that there is none."""
        if self.next_offset is None:
            return ""
        return (
            f"[chars {self.offset}-{self.offset + len(self.text)} of {self.total}; "
            f"for the next part call {call} with offset={self.next_offset}]"
        )


def page_text(text: str, offset: int, max_chars: int) -> TextPage:
    """The slice of `text` starting at `offset`, at most `max_chars` long, cut at a line end when possible."""
    total = len(text)
    start = min(offset, total)
    end = min(start + max_chars, total)
    if end < total:
        newline = text.rfind("\n", start, end)
        # Cut at a line end unless that would drop more than half of the page.
        if newline > start + max_chars // 2:
            end = newline + 1
    return TextPage(text=text[start:end], offset=start, total=total, next_offset=end if end < total else None)
