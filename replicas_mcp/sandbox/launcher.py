"""The seam between automations and workspaces.

The automation store starts replicas through this protocol; the workspace store (`workspaces/store.py`)
implements it. Keeping it a Protocol means automations never import the workspace modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Called once with the outcome of the replica's first turn: None when it completed, else the error text.
OutcomeListener = Callable[[str | None], None]

# What a workspace may be asked for, whether created through the API or by an automation run. The guide
# documents default/delete_when_done/delete_after_inactivity, the spec default/archive_when_done/
# sleep_when_done/delete_after_inactivity: the sandbox accepts the union.
LIFECYCLE_POLICIES = (
    "default",
    "archive_when_done",
    "sleep_when_done",
    "delete_after_inactivity",
    "delete_when_done",
)
SIZES = ("small", "large")


@dataclass(frozen=True)
class LaunchRequest:
    """One replica an automation run starts: where, its first message, and the run's agent settings."""

    org_id: str
    name: str
    environment_id: str
    message: str
    coding_agent: str | None
    model: str | None
    thinking_level: str | None
    lifecycle_policy: str | None
    size: str | None
    user_id: str | None
    source: str = "automation"


class ReplicaLauncher(Protocol):
    def launch(self, request: LaunchRequest, on_finished: OutcomeListener | None = None) -> str:
        """Create the replica in `request.org_id`, boot it in the background, and return its id at once.

        The initial `message` is delivered to the agent once the workspace is active, exactly as for
        an API-created replica. Raises `ApiError` (e.g. 404 for an unknown environment).

        `on_finished` is called exactly once, later: with None when the turn of the initial message has
        completed, or with an error message when that turn failed (`[[turn-error]]`), the workspace
        entered the error state, or the message was dropped before it ran (replica, chat or queue entry
        deleted).
        """
        ...
