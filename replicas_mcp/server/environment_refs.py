"""What an `environment_id` argument may be given, and what a call is told when it names no environment.

Models hold environments by name ("api"), so every tool argument typed `args.EnvironmentId` or
`args.TaskEnvironmentId` is resolved before the call (the tool wrapper runs `resolve_environment`, see
`tools.arguments.Resolved`):

- a UUID (the contract's ids) or `global` (the documented alias of the Global environment) is used as given,
  with no request: the hot path (`delegate_task` with an id) costs nothing more;
- anything else is a name: the environment list is read once, and the one environment with exactly that
  name (else the one whose name matches ignoring case) is used. Several: the error lists them. None: the
  error lists the environments by name and id.

Rows and errors name each environment's repository (`acme/api`) from `repository_names`: one list read per
caller, reused for `REPOSITORIES_FRESH_FOR` seconds, so a call pays no extra request beyond that one cached
lookup.

When a call made with an id fails upstream as not found (or as a bad request: some endpoints answer 400
for an unknown environment), `missing_environment` reads the list: if the id is not in it, the error lists
the environments instead of the API's words, which point to `global`: a workspace with no repository, the
wrong fallback for a task about code. The value given is never repeated (it may be a secret pasted into the
wrong argument).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.server.safety import clean_text, truncate
from replicas_mcp.server.state.view import KnowingClient
from replicas_mcp.server.tools.arguments import is_uuid

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import Environment

GLOBAL = "global"
LISTED = 20  # environments an error lists: enough for most organizations, bounded for all
_NAME_SHOWN = 60
# Seconds a caller's repository list is reused (repositories are connected rarely); a repository id missing
# from it is looked up again once the list is `_MISS_FRESH_FOR` seconds old.
REPOSITORIES_FRESH_FOR = 300.0
_MISS_FRESH_FOR = 10.0
_NO_REPLICA = ""  # memo slots are per replica; this one is no replica's (acting on one never forgets it)


def is_environment_id(value: str) -> bool:
    """An id the API takes as is: a UUID, or the Global environment's alias."""
    return value == GLOBAL or is_uuid(value)


async def resolve_environment(client: ReplicasClient, value: str) -> str:
    """The environment id a call is made with: `value` itself when it is an id, else the id of the one
    environment named `value` (raises `ToolError` listing the candidates or all environments)."""
    if is_environment_id(value):
        return value
    environments = await client.environments.list()
    matches = [env for env in environments if env.name == value] or [
        env for env in environments if env.name.casefold() == value.casefold()
    ]
    if len(matches) == 1:
        return matches[0].id
    repos = await repository_names(client, (env.repository_id for env in environments))
    if matches:
        raise ToolError(
            f"{len(matches)} environments have that name: {_listed(matches, repos)}. Pass the id of the one "
            "you mean as environment_id."
        )
    raise ToolError(
        _none_named(environments, repos, "No environment has that name or id in this organization")
    )


async def missing_environment(client: ReplicasClient, value: str) -> str | None:
    """After a call with this environment id failed as not found: the message to show when no environment
    has that id, or None when one has (the failure was about something else, e.g. an item in it)."""
    if value == GLOBAL:
        return None
    environments = await client.environments.list()
    if any(env.id == value for env in environments):
        return None
    repos = await repository_names(client, (env.repository_id for env in environments))
    return _none_named(environments, repos, "No environment has that id in this organization")


async def repository_names(client: ReplicasClient, wanted: Iterable[str | None]) -> dict[str, str]:
    """The names (`acme/api`) of the organization's repositories by id, for the `wanted` ids: from this
    caller's cached list when it has them (see the module docstring). Empty when the list cannot be read:
    the names are a help, not a reason to fail the call."""
    needed = {ident for ident in wanted if ident}
    if not needed:
        return {}

    async def read() -> dict[str, str]:
        return {repo.id: repo.name for repo in await client.repositories.list()}

    try:
        if not isinstance(client, KnowingClient):  # outside a running server: no per-caller memo
            return await read()
        names = await client.recently(_NO_REPLICA, "repository names", REPOSITORIES_FRESH_FOR, read)
        if not needed <= names.keys():  # connected since it was read: read again, at most every 10 s
            names = await client.recently(_NO_REPLICA, "repository names", _MISS_FRESH_FOR, read)
    except ReplicasError:
        return {}
    return names


def _none_named(environments: list[Environment], repos: dict[str, str], said: str) -> str:
    if not environments:
        return f"{said}, and it has no environments yet."
    return (
        f"{said}. Its environments: {_listed(environments, repos)}. Pass one's id (or its exact name) as "
        "environment_id."
    )


def _listed(environments: list[Environment], repos: dict[str, str]) -> str:
    shown = "; ".join(_one(env, repos) for env in environments[:LISTED])
    more = len(environments) - LISTED
    return f"{shown}; and {more} more" if more > 0 else shown


def _one(env: Environment, repos: dict[str, str]) -> str:
    name = f"{truncate(clean_text(env.name), _NAME_SHOWN)} = {env.id}"
    if env.is_global:
        return f"{name} (Global: no repository)"
    if env.repository_set_id:
        return f"{name} (a repository set)"
    if env.repository_id:
        repo = repos.get(env.repository_id)
        return f"{name} ({truncate(clean_text(repo), _NAME_SHOWN)})" if repo else name
    return f"{name} (no repository)"
