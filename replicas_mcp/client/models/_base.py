"""The base of every API model, and the open-enum convention.

Models keep unknown fields (`extra="allow"`): the API grows, and the guide and the OpenAPI spec already
disagree in places, so nothing the server sends is dropped. Field names are the wire names.

Open enums: a field whose values the API enumerates is typed `OpenStr` (plain `str`), and the known
values are documented by a `Literal` alias next to it, e.g.::

    ReplicaStatusValue = Literal["preparing", "active", "sleeping", "archived", "error"]
    status: OpenStr  # one of ReplicaStatusValue, or a value this client does not know yet

so an unknown value never fails validation. Compare against the known literals in code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from replicas_mcp.client._redact import redact_text

__all__ = ["ApiModel", "OpenStr"]

OpenStr = str
"""A string enum from the API: known values are listed in a `Literal` alias; unknown ones are accepted."""


class ApiModel(BaseModel):
    """A response or request model that keeps unknown fields and accepts fields by name or alias."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    # A response can echo credentials (a webhook secret, an env var): never print them.
    def __repr__(self) -> str:
        return redact_text(super().__repr__())

    def __str__(self) -> str:
        return redact_text(super().__str__())
