"""What a wait has seen of one replica: its state, a digest of events, and the cursor to resume from.

Pure bookkeeping, no I/O: `observe_item` (a list-endpoint record), `observe_chats` (a chats snapshot) and
`observe_event` (one engine event) update it; `satisfied(until)` and `stopped` say whether the wait is over.
Every event consumed is counted once and moves the cursor past it, so a caller that passes each returned
cursor to the next wait sees every event exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from replicas_mcp.client.models.replicas import ASLEEP_STATUSES, TERMINAL_STATUSES
from replicas_mcp.delegation.cursor import Cursor, pr_key
from replicas_mcp.delegation.questions import questions_in

if TYPE_CHECKING:
    from replicas_mcp.client.models import EngineEvent, ReplicaChat, ReplicaListItem

Until = Literal["turn_completed", "idle", "pr_opened", "needs_input", "any_event"]
State = Literal[
    "preparing", "working", "idle", "waiting_for_input", "sleeping", "archived", "error", "deleted", "unknown"
]
# States in which nothing more happens until someone acts (wakes, messages, deletes): a wait ends there.
STOPPED: frozenset[str] = ASLEEP_STATUSES | TERMINAL_STATUSES | {"deleted"}
DIGEST_LIST_LIMIT = 5
ERROR_TEXT_LIMIT = 300


@dataclass
class Digest:
    """What happened during one wait (since the cursor it started from)."""

    events: int = 0
    turns: int = 0
    failed_turns: int = 0
    prs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    def note(self, items: list[str], text: str) -> None:
        """Append, without repeats, keeping the newest few."""
        if text and text not in items:
            items.append(text)
            del items[:-DIGEST_LIST_LIMIT]


@dataclass
class _Chat:
    processing: bool = False
    awaiting_input: bool = False
    asked: bool = False  # a question was seen in the current turn


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


class Tracker:
    """The state of one replica as a wait observes it."""

    def __init__(self, replica_id: str, cursor: Cursor | None) -> None:
        self.replica_id = replica_id
        self.digest = Digest()
        self.status: str | None = None  # from the list endpoint; "deleted" once it is gone
        self.chats: dict[str, _Chat] = {}
        self.chats_known = False  # a chats snapshot (or chat event) was seen
        self.changes = 0  # state changes noticed by polling (count as events for any_event)
        self._start = cursor
        self._event_id = cursor.event_id if cursor else None
        self._known_prs: set[str] = set(cursor.prs) if cursor else set()
        self._prs_baselined = cursor is not None  # without a cursor, PRs already there are not news
        self.finished_unseen = False  # a turn ended between two waits without its event being replayed

    # --- inputs -----------------------------------------------------------------------------------------

    def observe_item(self, item: ReplicaListItem | None) -> None:
        """A list-endpoint record (never wakes the replica); None when it no longer exists."""
        status = "deleted" if item is None else item.status
        if self.status is not None and status != self.status:
            self.changes += 1
        self.status = status
        if item is not None:
            self._see_prs([pr.url for pr in item.pull_requests])

    def observe_chats(self, chats: Sequence[ReplicaChat] | None) -> None:
        """A snapshot of the replica's chats (None: the engine could not be asked).

        A turn that ended since the last observation (the agent was busy, now it is not) counts as
        completed even when its event was never seen (it ended while nobody was reading the stream).
        """
        if chats is None:
            return
        if self.chats_known:
            was_busy: bool | None = self.busy
        else:
            was_busy = self._start.busy if self._start else None
        before = (self.busy, self.awaiting_input)
        self.chats = {
            chat.id: _Chat(
                processing=chat.processing,
                awaiting_input=chat.awaitingInput,
            )
            for chat in chats
        }
        first, self.chats_known = not self.chats_known, True
        if not first and (self.busy, self.awaiting_input) != before:
            self.changes += 1
        if was_busy and self.status == "active" and not self.busy:
            self.finished_unseen = True

    def observe_event(self, event: EngineEvent) -> str:
        """Count one engine event; returns a short description for progress messages."""
        self.digest.events += 1
        if event.id:
            self._event_id = event.id
        payload = event.payload
        chat_id = event.chat_id
        kind = event.type
        if kind == "chat.turn.started" and chat_id:
            self.chats[chat_id] = _Chat(processing=True)
            self.chats_known = True
            if self.status == "preparing":
                self.status = "active"  # turns only run in an active workspace
            return "agent started a turn"
        if kind == "chat.turn.delta" and chat_id:
            asked = questions_in(payload.get("event"))
            for question in asked:
                self.digest.note(self.digest.questions, question)
            if asked:
                self.chats.setdefault(chat_id, _Chat(processing=True)).asked = True
                return "agent asked a question"
            return "agent working"
        if kind == "chat.turn.completed":
            self.digest.turns += 1
            ok = payload.get("isComplete") is not False
            if not ok:
                self.digest.failed_turns += 1
            if chat_id:
                # The engine follows with chat.updated; until then the turn's end is what we know.
                chat = self.chats.setdefault(chat_id, _Chat())
                chat.processing = False
                chat.awaiting_input = chat.asked
                self.chats_known = True
            return "turn completed" if ok else "turn failed"
        if kind in ("chat.updated", "chat.created"):
            summary = payload.get("chat")
            if isinstance(summary, Mapping) and isinstance(summary.get("id"), str):
                chat = self.chats.setdefault(summary["id"], _Chat())
                chat.processing = _flag(summary.get("processing")) or False
                chat.awaiting_input = _flag(summary.get("awaitingInput")) or False
                self.chats_known = True
            return "chat updated"
        if kind == "chat.deleted" and chat_id:
            self.chats.pop(chat_id, None)
            return "chat deleted"
        if kind in ("repo.status.changed", "repo.discovered"):
            repos = payload.get("repos")
            urls = [
                url
                for repo in (repos if isinstance(repos, list) else [])
                if isinstance(repo, Mapping)
                for url in (repo.get("prUrls") or [])
                if isinstance(url, str)
            ]
            return "pull request opened" if self._see_prs(urls) else "repository changed"
        if kind == "hooks.failed":
            self.digest.note(self.digest.errors, "a start hook failed")
            return "hook failed"
        if kind == "error":
            message = payload.get("message") or payload.get("code") or "error"
            self.digest.note(self.digest.errors, str(message)[:ERROR_TEXT_LIMIT])
            if payload.get("code") == "workspace_error":
                self.status = "error"
            return "workspace error"
        if kind == "engine.ready":
            return "workspace ready"
        return kind

    def _see_prs(self, urls: Iterable[str]) -> bool:
        new = False
        for url in urls:
            key = pr_key(url)
            if key in self._known_prs:
                continue
            self._known_prs.add(key)
            if self._prs_baselined:
                self.digest.note(self.digest.prs, url)
                new = True
        self._prs_baselined = True
        return new

    # --- state ------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return any(chat.processing for chat in self.chats.values())

    @property
    def awaiting_input(self) -> bool:
        return any(chat.awaiting_input for chat in self.chats.values())

    @property
    def state(self) -> State:
        status = self.status
        if status in STOPPED:
            return status  # type: ignore[return-value]
        if status == "preparing":
            return "preparing"
        if status != "active":
            return "unknown"
        if self.busy or not self.chats_known:
            return "working"
        return "waiting_for_input" if self.awaiting_input else "idle"

    @property
    def stopped(self) -> bool:
        return self.state in STOPPED

    def satisfied(self, until: Until) -> bool:
        state = self.state
        if until == "any_event":
            return self.digest.events > 0 or self.changes > 0
        if until == "pr_opened":
            return bool(self.digest.prs)
        if until == "needs_input":
            return state == "waiting_for_input"
        if until == "idle":
            return state in ("idle", "waiting_for_input")
        # turn_completed: a turn ended since the cursor (seen, or inferred from the state), or the agent
        # is not working at all (there is no turn to wait for). Unlike `idle`, it also returns at the end
        # of a turn that is followed by queued messages.
        return self.digest.turns > 0 or self.finished_unseen or state in ("idle", "waiting_for_input")

    # --- output -----------------------------------------------------------------------------------------

    @property
    def resume_id(self) -> str | None:
        """The Last-Event-ID to (re)open the stream with."""
        return self._event_id

    def cursor(self) -> Cursor:
        busy: bool | None = self.busy if self.chats_known else None
        if self.state == "preparing":
            busy = True  # the first message runs once it is ready
        return Cursor(
            replica_id=self.replica_id,
            event_id=self._event_id,
            busy=busy,
            prs=frozenset(self._known_prs),
        )
