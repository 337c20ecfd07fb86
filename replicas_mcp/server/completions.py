"""`completion/complete`: the values a prompt argument or resource-template variable can take, from the
caller's own data.

Completed by the argument's name, wherever it appears (prompts and `replicas://` templates):

- `replica_id`: replica ids, matched by id prefix or by name (the newest 100 replicas);
- `environment_id`: environment ids, matched by id or name; `environment` (a prompt argument that takes a
  name or an id): the names and the ids;
- `automation_id`: automation ids, matched by id or name;
- `chat_id` and `filename` (a canvas file): from the replica named in the request's context, only while
  that replica is active, since reading a sleeping workspace's chats or canvas would wake (and bill) it.

What was typed filters (case-insensitive): prefixes of values and names first, then fragments of names, and
fragments of ids only from `MIN_ID_FRAGMENT` characters on.

Fast and bounded: one upstream list per kind, cached per caller for `CACHE_SECONDS`, each load given at most
`LOAD_SECONDS`; at most 100 values (the protocol's limit), with `total` and `hasMore` when there are more.
Every failed load (an upstream error, a timeout, a response of another shape) completes to nothing rather
than failing the client's request, and is not cached (the next request reads again); one that is not an API
error is told at warning (stderr and the client log), at most once a minute, naming only its type (its text
may quote anything the API sent). In byo-key mode the lists are read with the caller's own key and cached
under the caller's fingerprint.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from mcp.types import CompleteRequestParams, CompleteResult, Completion

from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.server.caller import current_caller
from replicas_mcp.server.tools.arguments import ArgumentError, check_id
from replicas_mcp.server.tools.sdk import add_request_handler
from replicas_mcp.server.user_notices import tell_user

if TYPE_CHECKING:
    from mcp.server import MCPServer, ServerRequestContext

    from replicas_mcp.client import ReplicasClient

MAX_VALUES = 100
LIST_LIMIT = 100
CACHE_SECONDS = 10.0
LOAD_SECONDS = 3.0
MAX_CACHED = 512


# A fragment this short occurs in almost every id (hex UUIDs), so inside ids only longer ones count.
MIN_ID_FRAGMENT = 3


@dataclass(frozen=True)
class Candidate:
    """A value to offer, and the texts (the value itself, a name) a partial input may match.

    `value_is_id` says which of the two is the id: a name matches any fragment, an id only fragments of
    `MIN_ID_FRAGMENT` characters or more (`a` would otherwise match every UUID, and filter nothing)."""

    value: str
    label: str = ""
    value_is_id: bool = True

    def matches(self, partial: str) -> int | None:
        """A rank (lower is better) if `partial` matches, else None: the value's prefix first, then the
        label's prefix, then a fragment of the name, or of the id if long enough (case-insensitive)."""
        needle = partial.strip().lower()
        if not needle:
            return 0
        value, label = self.value.lower(), self.label.lower()
        if value.startswith(needle):
            return 0
        if label.startswith(needle):
            return 1
        ident, name = (value, label) if self.value_is_id else (label, value)
        if needle in name or (len(needle) >= MIN_ID_FRAGMENT and needle in ident):
            return 2
        return None


Loader = Callable[["ReplicasClient", dict[str, str]], Awaitable[list[Candidate]]]


async def _replicas(client: ReplicasClient, _: dict[str, str]) -> list[Candidate]:
    page = await client.replicas.list(limit=LIST_LIMIT)
    return [Candidate(item.id, item.name) for item in page.replicas]


async def _environment_ids(client: ReplicasClient, _: dict[str, str]) -> list[Candidate]:
    return [Candidate(env.id, env.name) for env in await client.environments.list()]


async def _environment_names_and_ids(client: ReplicasClient, _: dict[str, str]) -> list[Candidate]:
    environments = await client.environments.list()
    return [Candidate(env.name, env.id, value_is_id=False) for env in environments] + [
        Candidate(env.id, env.name) for env in environments
    ]


async def _automations(client: ReplicasClient, _: dict[str, str]) -> list[Candidate]:
    page = await client.automations.list(limit=LIST_LIMIT)
    return [Candidate(automation.id, automation.name) for automation in page.automations]


async def _active_replica(client: ReplicasClient, context: dict[str, str]) -> str | None:
    """The context's replica id if that replica is active (reading a sleeping one would wake it)."""
    replica_id = context.get("replica_id", "").strip()
    if not replica_id:
        return None
    page = await client.replicas.list(limit=LIST_LIMIT)
    item = next((item for item in page.replicas if item.id == replica_id), None)
    return replica_id if item is not None and item.status == "active" else None


async def _chats(client: ReplicasClient, context: dict[str, str]) -> list[Candidate]:
    replica_id = await _active_replica(client, context)
    if replica_id is None:
        return []
    return [Candidate(chat.id, chat.title or "") for chat in await client.chats.list(replica_id)]


async def _canvas(client: ReplicasClient, context: dict[str, str]) -> list[Candidate]:
    replica_id = await _active_replica(client, context)
    if replica_id is None:
        return []
    return [Candidate(item.filename, value_is_id=False) for item in await client.canvas.list(replica_id)]


LOADERS: dict[str, Loader] = {
    "replica_id": _replicas,
    "environment_id": _environment_ids,
    "environment": _environment_names_and_ids,
    "automation_id": _automations,
    "chat_id": _chats,
    "filename": _canvas,
}
# Loaders whose answer depends on the context's replica.
_PER_REPLICA = frozenset({"chat_id", "filename"})


class CompletionCache:
    """Loaded candidates by (caller, argument, replica), for `CACHE_SECONDS`; at most `MAX_CACHED`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[tuple[str, str, str], tuple[float, list[Candidate]]] = OrderedDict()
        self._clock = clock

    def get(self, key: tuple[str, str, str]) -> list[Candidate] | None:
        entry = self._entries.get(key)
        if entry is None or self._clock() >= entry[0]:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[str, str, str], candidates: list[Candidate]) -> None:
        self._entries[key] = (self._clock() + CACHE_SECONDS, candidates)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_CACHED:
            self._entries.popitem(last=False)


def rank(candidates: Sequence[Candidate], partial: str) -> list[str]:
    """The matching values, best first, without duplicates."""
    scored = [
        (score, n, c.value) for n, c in enumerate(candidates) if (score := c.matches(partial)) is not None
    ]
    return list(dict.fromkeys(value for _, _, value in sorted(scored)))


def completion_of(values: list[str]) -> Completion:
    shown = values[:MAX_VALUES]
    return Completion(values=shown, total=len(values), has_more=len(values) > len(shown))


class Completer:
    """The `completion/complete` handler."""

    def __init__(self) -> None:
        self.cache = CompletionCache()
        self.loads = 0

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams
    ) -> CompleteResult:
        loader = LOADERS.get(params.argument.name)
        if loader is None:
            return CompleteResult(completion=completion_of([]))
        context = dict(params.context.arguments or {}) if params.context else {}
        candidates = await self._candidates(ctx, params.argument.name, loader, context)
        return CompleteResult(completion=completion_of(rank(candidates, params.argument.value)))

    async def _candidates(
        self, ctx: ServerRequestContext[Any, Any], name: str, loader: Loader, context: dict[str, str]
    ) -> list[Candidate]:
        replica = context.get("replica_id", "") if name in _PER_REPLICA else ""
        if replica and not _id_shaped(replica):
            return []  # no replica has it: nothing to read, and the client's text is not kept as a cache key
        key = (current_caller(), name, replica)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        client = ctx.lifespan_context.client_for_caller()
        # A load that timed out or failed says nothing about the candidates: it completes to nothing now and
        # is not kept, so the next request reads again (kept, it would hide every value for CACHE_SECONDS).
        # The tools will explain an upstream failure when they are called.
        with anyio.move_on_after(LOAD_SECONDS):
            try:
                self.loads += 1
                candidates = await loader(client, context)
            except ReplicasError:
                return []
            except Exception as exc:
                # A completion never fails the client's request. This is not an API error the tools would
                # explain (e.g. a 200 of another shape: pydantic's ValidationError), so it is told; by its
                # type only, as its text quotes what the API sent.
                tell_user("completion", f"completion of {name} failed ({type(exc).__name__}); offering none")
                return []
            self.cache.put(key, candidates)
            return candidates
        return []  # timed out


def _id_shaped(value: str) -> bool:
    try:
        check_id("replica_id", value)
    except ArgumentError:
        return False
    return True


def register_completions(server: MCPServer[Any]) -> Completer:
    """Serve `completion/complete` (and so advertise the completions capability)."""
    completer = Completer()
    add_request_handler(server, "completion/complete", CompleteRequestParams, completer)
    return completer
