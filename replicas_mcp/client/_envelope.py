"""Reading the API's response envelopes: `{"replica": {...}}`, `{"chats": [...]}`, or the bare body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["items", "unwrap"]


def unwrap(data: Any, key: str) -> Any:
    """The value under `key` in a `{key: ...}` envelope, or the body itself when it is not wrapped."""
    if isinstance(data, Mapping) and key in data:
        return data[key]
    return data


def items(data: Any, key: str) -> list[Any]:
    """The list under `key` in a list response (a bare list is accepted too; anything else is empty)."""
    value = unwrap(data, key)
    return list(value) if isinstance(value, list) else []
