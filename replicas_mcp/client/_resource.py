"""The small base every resource group shares (as anthropic-sdk-python's `APIResource`).

`Resource` holds the HTTP core. `WorkspaceResource` adds what only the workspace (engine-proxy) calls
need: a 409 on `/v1/replica/{id}/...` is turned into `WorkspaceSleepingError` or
`WorkspaceErrorStateError` here, in the layer that knows the API, not in the HTTP core.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replicas_mcp.client._http import HttpCore
from replicas_mcp.client._status_lookup import classify_conflict
from replicas_mcp.client.errors import ConflictError

__all__ = ["Resource", "WorkspaceResource"]


class Resource:
    """A resource group: `client.<group>.<method>(...)` over one shared `HttpCore`."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http


class WorkspaceResource(Resource):
    """A resource group whose calls address one replica's workspace."""

    async def _workspace_call(
        self,
        replica_id: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """`request_json`, with a plain 409 refined to sleeping / error state (see `classify_conflict`)."""
        try:
            return await self._http.request_json(method, path, params=params, json=json, headers=headers)
        except ConflictError as exc:
            raise await classify_conflict(self._http, exc, replica_id) from None
