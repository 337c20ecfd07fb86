"""What the workspace side needs from the configuration side (`environments/`), as protocols.

The workspace state depends on these shapes rather than on the concrete `OrgConfig`, so each side can
be read, typed and tested on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from replicas_mcp.sandbox.tenancy import Caller


class EnvironmentLike(Protocol):
    @property
    def id(self) -> str: ...


class RepositoryLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def default_branch(self) -> str: ...
    @property
    def warm_hook(self) -> str | None: ...  # from the repository's replicas.json
    @property
    def start_hook(self) -> str | None: ...


class OrgConfigPort(Protocol):
    def environment(self, environment_id: str) -> EnvironmentLike: ...

    def visible_environment(self, environment_id: str, caller: Caller) -> EnvironmentLike: ...

    def repositories_for(self, environment_id: str) -> Sequence[RepositoryLike]: ...

    def environment_for_repositories(
        self, repository_ids: list[str] | None, repository_set_id: str | None
    ) -> EnvironmentLike: ...

    def environment_summary(self, environment_id: str) -> dict[str, object]: ...

    def start_hook_script(self, environment_id: str) -> str | None: ...

    def warm_hook_script(self, environment_id: str) -> str | None: ...
