"""Repositories and repository sets the organization has connected."""

from __future__ import annotations

import builtins

from replicas_mcp.client._envelope import items
from replicas_mcp.client._resource import Resource
from replicas_mcp.client.models.repositories import Repository, RepositorySet

__all__ = ["Repositories"]


class Repositories(Resource):
    """`client.repositories`: what a replica or environment can be bound to."""

    async def list(self) -> list[Repository]:
        data = await self._http.request_json("GET", "/v1/replica/repositories")
        return [Repository.model_validate(item) for item in items(data, "repositories")]

    async def list_sets(self) -> builtins.list[RepositorySet]:
        data = await self._http.request_json("GET", "/v1/replica/repository-sets")
        return [RepositorySet.model_validate(item) for item in items(data, "repository_sets")]
