"""How closely the sandbox follows the vendor's contract: its strict mode and its wake behaviour.

The sandbox serves the API guide and the OpenAPI contract at once. Where it offers more than the contract
(extra fields the product must not rely on, lenient input), `strict=True` takes the extras away: answers
carry exactly the contract's fields and requests the contract rejects are rejected. Reads of a sleeping
workspace are the one point where the two documents disagree outright, so they have their own knob:
`wake_reads="guide"` answers 409 (the guide), `"contract"` answers 200 with `waking: true` and starts the
wake (the contract). See docs/sandbox.md, "Strict mode".

Event-stream replay is the third: neither document says the stream resumes after `Last-Event-ID` (the
contract only says clients should reconnect), so `replay` (default: only outside strict mode) decides
whether the sandbox honours it or, like an API that ignores the header, always starts at the live end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from replicas_mcp.sandbox.errors import bad_request

WakeReads = Literal["guide", "contract"]
WAKE_READS: tuple[WakeReads, ...] = get_args(WakeReads)

# Non-strict ids of users are kept readable in logs; strict ones are UUIDs, as the contract says.
_USER_NAMESPACE = uuid.UUID("6f1c2d36-3c44-4f0e-9a59-0d5b1f0a7c11")


# Request fields the contract does not make nullable (a JSON null is a 400 in strict mode), per schema.
CREATE_REPLICA_FIELDS = (
    "name", "message", "environment_id", "repository_set_id", "repository_ids", "coding_agent", "model",
    "images", "lifecycle_policy", "config", "plan_mode", "goal_mode", "fast_mode", "thinking_level",
    "webhook_url", "size",
)  # fmt: skip
SEND_MESSAGE_FIELDS = (
    "message", "coding_agent", "chat_id", "model", "images", "plan_mode", "goal_mode", "fast_mode",
    "thinking_level",
)  # fmt: skip
CREATE_AUTOMATION_FIELDS = (
    "name", "description", "scope", "triggers", "prompt", "environment_id", "enabled",
    "workspace_lifecycle_policy", "workspace_auto_stop_minutes", "workspace_size", "config", "plan_mode",
)  # fmt: skip
UPDATE_AUTOMATION_FIELDS = (
    "name", "description", "triggers", "prompt", "environment_id", "enabled", "workspace_lifecycle_policy",
    "workspace_size", "config", "plan_mode",
)  # fmt: skip
CREATE_ENVIRONMENT_FIELDS = ("name", "scope", "mobile_testing_enabled")
UPDATE_ENVIRONMENT_FIELDS = ("name", "mobile_testing_enabled")
UPDATE_VARIABLE_FIELDS = ("key", "value", "personal_override_allowed")
UPDATE_FILE_FIELDS = ("name", "path", "content")


@dataclass(frozen=True)
class Fidelity:
    """`strict`: only the contract's fields and rules. `wake_reads`: sleeping reads as guide or contract.
    `replay`: the event stream resumes after `Last-Event-ID` (None: only when not strict)."""

    strict: bool = False
    wake_reads: WakeReads = "guide"
    replay: bool | None = None

    def __post_init__(self) -> None:
        if self.wake_reads not in WAKE_READS:
            raise ValueError(f"wake_reads must be one of {', '.join(WAKE_READS)}; got {self.wake_reads!r}")

    @property
    def reads_wake(self) -> bool:
        """Reads of a sleeping workspace's chats and history wake it and answer `waking: true`."""
        return self.wake_reads == "contract"

    @property
    def replays(self) -> bool:
        """A stream opened with `Last-Event-ID` starts after that event (an extension: see the module)."""
        return not self.strict if self.replay is None else self.replay

    def user_id(self, user_id: str | None) -> str | None:
        """The id of a key's user as the API shows it: a UUID in strict mode (derived when not one)."""
        if user_id is None or not self.strict:
            return user_id
        try:
            return str(uuid.UUID(user_id))
        except ValueError:
            return str(uuid.uuid5(_USER_NAMESPACE, user_id))

    def reject_nulls(self, body: Mapping[str, Any], fields: Iterable[str]) -> None:
        """Strict mode: a JSON null for a field the contract does not make nullable is a 400."""
        if not self.strict:
            return
        for field in fields:
            if field in body and body[field] is None:
                raise bad_request(
                    f"Invalid field '{field}'",
                    f"'{field}' cannot be null: omit it to leave it unchanged or as its default.",
                )
