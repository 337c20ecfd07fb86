"""Repositories and repository sets available to the organization."""

from __future__ import annotations

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel

__all__ = ["Repository", "RepositorySet"]


class Repository(ApiModel):
    id: str
    name: str
    url: str | None = None
    default_branch: str | None = None


class RepositorySet(ApiModel):
    id: str
    name: str
    description: str | None = None
    repositories: list[Repository] = Field(default_factory=list)
