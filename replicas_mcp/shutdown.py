"""The process is stopping: bounded waits in flight end early and return their cursor.

A wait (`delegation/waiting.py`) may hold a request open for up to 55 s; on SIGTERM the HTTP server gives
in-flight requests a short grace (`server/http_app.py`), so each wait registers its deadline scope here and
`begin_shutdown` pulls every such deadline in to `grace` seconds from now. The wait then ends as if its time
were up: with its state and a cursor to resume from, instead of being cut off with nothing.

No dependency on the server or the SDK; scopes are held weakly and only while their wait runs.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

_scopes: weakref.WeakSet[anyio.CancelScope] = weakref.WeakSet()
_stopping = False


def stopping() -> bool:
    return _stopping


@contextmanager
def ends_early_on_shutdown(scope: anyio.CancelScope, grace: float = 0.0) -> Iterator[None]:
    """While inside, `begin_shutdown` may bring `scope`'s deadline forward (it never pushes it back)."""
    if _stopping:
        scope.deadline = min(scope.deadline, anyio.current_time() + grace)
    _scopes.add(scope)
    try:
        yield
    finally:
        _scopes.discard(scope)


def begin_shutdown(grace: float) -> int:
    """Bring every registered wait's deadline forward to `grace` seconds from now (call on the event loop
    thread); returns how many waits were told."""
    global _stopping
    _stopping = True
    now = anyio.current_time()
    scopes = list(_scopes)
    for scope in scopes:
        scope.deadline = min(scope.deadline, now + grace)
    return len(scopes)


def reset() -> None:
    """For tests that run several servers in one process."""
    global _stopping
    _stopping = False
