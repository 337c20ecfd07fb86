"""What a replica's observed facts mean: working, idle, asking or stopped, and whether a wait is over.

Pure functions over facts that the vendor contract provides, so every reader (the wait loop, the
watcher, the stream hub, the list and detail views, the report) gives a replica the same meaning:

- `phase(status, chats)`: the state a model is shown.
- `wait_over(until, state, ...)`: whether a wait's condition holds.

Where the facts come from (all in the contract):
- `status`: the replica list record (`active`, `preparing`, `sleeping`, `archived`, `error`), or
  "deleted" once it is gone.
- per chat, `processing`: the REST chat list, or the event stream's chat summaries (`chat.updated`).
- per chat, `awaiting_input`: the stream's chat summaries (`awaitingInput`: the agent made an interactive
  tool call such as AskUserQuestion or ExitPlanMode and is paused until it is resolved; `processing` stays
  true meanwhile), or, from a REST snapshot, a pending interactive tool call at the end of a processing
  chat's history (`questions.pending_question`). REST chats carry no `awaitingInput`.
- per chat, `queued`: messages accepted but not started (`chat.turn.accepted` with `queued: true` until
  their `chat.turn.started`), or the queue endpoint.

"Done" (`until="idle"`, the default) means nothing is left for the agent to do: no chat is working and
nothing is queued, or the agent is paused on a question (someone has to answer it). A question with an
answer already queued behind it is not waiting: the answer is on its way, so the replica is working.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from replicas_mcp.client.models.replicas import ASLEEP_STATUSES, TERMINAL_STATUSES

Until = Literal["idle", "turn_completed", "needs_input", "pr_opened", "any_event"]
DEFAULT_UNTIL: Until = "idle"
State = Literal[
    "preparing", "working", "idle", "waiting_for_input", "sleeping", "archived", "error", "deleted", "unknown"
]
# States in which nothing more happens until someone acts (wakes, messages, deletes): a wait ends there.
STOPPED: frozenset[str] = ASLEEP_STATUSES | TERMINAL_STATUSES | {"deleted"}
# States in which the agent has nothing left to do on its own: what `until="idle"` waits for.
SETTLED: frozenset[str] = frozenset({"idle", "waiting_for_input"})


@dataclass(frozen=True)
class ChatFacts:
    """One chat as observed."""

    processing: bool | None  # None: unknown (a turn just ended and its chat summary has not arrived)
    awaiting_input: bool = False
    queued: int = 0  # messages accepted but not started yet
    question: str | None = None  # the pending question's text, when known (bounded, unfenced)

    @property
    def asking(self) -> bool:
        """Paused on a question nobody has answered yet (an answer in the queue is on its way)."""
        return self.awaiting_input and not self.queued

    @property
    def working(self) -> bool:
        """The agent has (or may have) something to do in this chat."""
        return not self.asking and (self.processing is not False or self.queued > 0)


def phase(status: str | None, chats: Iterable[ChatFacts] | None) -> State:
    """The replica's state from its status and its chats (None: chats not observed yet)."""
    if status in STOPPED:
        return status  # type: ignore[return-value]
    if status == "preparing":
        return "preparing"
    if status != "active":
        return "unknown"
    if chats is None:
        return "working"  # awake, but nobody has looked: assume the agent may be working
    facts = list(chats)
    if any(chat.asking for chat in facts):
        return "waiting_for_input"  # a question blocks the work behind it: report it first
    if any(chat.working for chat in facts):
        return "working"
    return "idle"


def wait_over(
    until: Until, state: State, *, turns_ended: bool = False, new_prs: bool = False, changed: bool = False
) -> bool:
    """Whether a wait for `until` is satisfied (a stopped replica ends any wait on its own).

    - `idle`: the agent has nothing left to do (no turn running, nothing queued) or waits for an answer.
    - `turn_completed`: a turn ended since the cursor (`turns_ended`), even with more queued behind it,
      or there is no turn to wait for.
    - `needs_input`: the agent is paused on a question.
    - `pr_opened`: a pull request appeared since the cursor (`new_prs`).
    - `any_event`: anything happened (`changed`).
    """
    if until == "any_event":
        return changed
    if until == "pr_opened":
        return new_prs
    if until == "needs_input":
        return state == "waiting_for_input"
    if until == "turn_completed":
        return turns_ended or state in SETTLED
    return state in SETTLED
