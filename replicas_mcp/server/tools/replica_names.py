"""A replica's name where its id is expected: resolved before the tool body runs, for every tool.

`create_replica` and `delegate_task` require a name, so a model naturally calls
`send_replica_message(replica_id="long-runner")`. Replica ids are UUIDs (the contract's path parameters are
`format: uuid`); a `replica_id` (one, or each of a list) that is not UUID-shaped is looked up by name in the
caller's knowledge (`KnowingReplicas.named`: the incremental name index, which reads the newest-first list
only until replicas it already knows, so at most one list page for a name it has indexed). Names have no
whitespace but the API does not promise them unique:

- exactly one replica has the name: the call goes on with its id (results show both);
- several: the call stops, listing them (name, id, status, created), and asks for the id;
- none: the value goes on unchanged, and the tool says "not found" as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.client.models import ReplicaListItem
from replicas_mcp.server.safety import clean_text
from replicas_mcp.server.state import AppState, client_of
from replicas_mcp.server.state.view import KnowingReplicas
from replicas_mcp.server.tools.arguments import is_uuid

REPLICA_ARGUMENT = "replica_id"
_LISTED = 10  # rows of an ambiguous name shown; the rest are counted


def is_replica_id(value: str) -> bool:
    """Whether the value has the shape of a replica id (a UUID); anything else may be a name."""
    return is_uuid(value)


async def with_replica_ids(
    ctx: Context[Any, Any] | None, arguments: Mapping[str, Any], id_args: frozenset[str]
) -> dict[str, Any]:
    """The arguments with each replica name in `replica_id` replaced by the id of the one replica that has
    it (see the module docstring). Client errors of the lookup propagate (the wrapper maps them)."""
    out = dict(arguments)
    value = out.get(REPLICA_ARGUMENT)
    if ctx is None or REPLICA_ARGUMENT not in id_args or value is None:
        return out
    values = [value] if isinstance(value, str) else value
    names = [v for v in values if isinstance(v, str) and not is_replica_id(v)]
    if not names or not isinstance(ctx.request_context.lifespan_context, AppState):
        return out  # nothing to look up, or a server without this project's state (SDK tests)
    replicas = client_of(ctx).replicas
    if not isinstance(replicas, KnowingReplicas):  # no name index: as sent
        return out
    ids: dict[str, str] = {}
    for name in dict.fromkeys(names):
        found = await replicas.named(name)
        if len(found) > 1:
            raise ToolError(_ambiguous(name, found))
        if found:
            ids[name] = found[0].id
    if isinstance(value, str):
        out[REPLICA_ARGUMENT] = ids.get(value, value)
    else:
        out[REPLICA_ARGUMENT] = [ids.get(v, v) if isinstance(v, str) else v for v in value]
    return out


def _ambiguous(name: str, found: list[ReplicaListItem]) -> str:
    rows = "\n".join(
        f"- {clean_text(r.name)} | {r.id} | {r.status} | created {r.created_at or '?'}"
        for r in found[:_LISTED]
    )
    more = f"\n(and {len(found) - _LISTED} more)" if len(found) > _LISTED else ""
    return (
        f"{len(found)} replicas are named {name!r}; nothing was done. Pass replica_id as the id of the one "
        f"you mean:\n{rows}{more}"
    )
