"""What a wait has seen of one replica: its state, a digest of events, and the cursor to resume from.

Pure bookkeeping, no I/O: `observe_item` (a list-endpoint record), `observe_chats` (a REST chats
snapshot, with the pending questions found in the history of its processing chats) and `observe_event`
(one engine event) update it; `satisfied(until)` and `stopped` say whether the wait is over. What the
observed facts mean (working, idle, asking; done or not) is decided by `phase` (pure functions).
Every event consumed is counted once and moves the cursor past it, so a caller that passes each returned
cursor to the next wait sees every event exactly once.

Turns that ended unheard. The API need not replay events after `Last-Event-ID`, so a turn may end while
nobody reads the stream: a look at the chats finds it over (the cursor, or what the wait saw, said a turn
was running; the chats say not). Such an end is counted in `digest.turns` at the look, so a result says a
turn ended when one did. The events of that same turn may still come after the look: an API that replays
sends them, a shared buffer or the network may hold them. So a look's ends stay open: each
`chat.turn.completed` counted while some are open is taken as (or in place of) one of them, not as one
more; and while some are open, the cursor resumes from now (`cursor`), not from before their events, so
the next wait does not hear them either. This never counts a turn twice; it may count too few (never
zero when one ended):
- The look's ends are counted only while none is open. A later look may see the same turn end again (its
  start replayed after the first look), so it adds none until a completion took the open one.
- A completion taken for an open end may be of a newer turn (the open end's own events never come: the API
  did not replay them): one turn fewer. Only a wait that goes on past the look meets this (`until` other
  than `idle`), and it still reports at least one turn.
- REST chats count no turns: a look sees that a chat's turn ended, not how many ended there.
- A cursor from now loses what happens before the next wait opens its stream (as with an API that does
  not replay): a turn run wholly in between is not counted; the next wait's look still sees the state.
- A cursor is taken busy while the replica prepares (its first message runs once it is up); one woken
  without a message runs no turn, yet a wait from that cursor counts one when it finds the replica idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from replicas_mcp.delegation.cursor import Cursor, pr_key
from replicas_mcp.delegation.phase import STOPPED, ChatFacts, State, Until, phase, wait_over
from replicas_mcp.delegation.questions import questions_in

if TYPE_CHECKING:
    from replicas_mcp.client.models import EngineEvent, ReplicaChat, ReplicaListItem

__all__ = ["STOPPED", "Digest", "State", "Tracker", "Until"]

DIGEST_LIST_LIMIT = 5
ERROR_TEXT_LIMIT = 300


@dataclass
class Digest:
    """What happened during one wait (since the cursor it started from)."""

    events: int = 0
    turns: int = 0  # turns ended: completions heard, and ends a look found (each turn once, see above)
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
    processing: bool | None = False  # None: a turn ended, the chat summary saying what next not seen yet
    awaiting_input: bool = False
    queued: list[str] = field(default_factory=list)  # ids of accepted messages not started yet
    # Of those, the ids known only from `chat.turn.accepted` events: a message removed from the queue since
    # has no event, so these are confirmed by reading the queue (see Tracker.unconfirmed_queues).
    unconfirmed: set[str] = field(default_factory=set)
    question: str | None = None  # the newest question asked in the current turn

    def facts(self) -> ChatFacts:
        return ChatFacts(
            processing=self.processing,
            awaiting_input=self.awaiting_input,
            queued=len(self.queued),
            question=self.question if self.awaiting_input else None,
        )


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


class Tracker:
    """The state of one replica as a wait observes it."""

    def __init__(self, replica_id: str, cursor: Cursor | None) -> None:
        self.replica_id = replica_id
        self.digest = Digest()
        self.status: str | None = None  # from the list endpoint; "deleted" once it is gone
        self.name: str | None = None  # from the list endpoint too: results name it beside its id
        self.chats: dict[str, _Chat] = {}
        self.chats_known = False  # a chats snapshot (or chat event) was seen
        self.changes = 0  # state changes noticed by polling (count as events for any_event)
        self._start = cursor
        self._event_id = cursor.event_id if cursor else None
        self._known_prs: set[str] = set(cursor.prs) if cursor else set()
        self._prs_baselined = cursor is not None  # without a cursor, PRs already there are not news
        self.finished_unseen = False  # a turn ended between two waits without its event being replayed
        # Ends of turns counted from a look whose completion events have not come (see the module's doc).
        self._unheard_open = 0
        self._error_text: str | None = None  # the newest `error` event's message

    # --- inputs -----------------------------------------------------------------------------------------

    def observe_item(self, item: ReplicaListItem | None) -> None:
        """A list-endpoint record (never wakes the replica); None when it no longer exists."""
        status = "deleted" if item is None else item.status
        if self.status is not None and status != self.status:
            self.changes += 1
        self.status = status
        if item is not None:
            self.name = item.name
            self._see_prs([pr.url for pr in item.pull_requests])

    def observe_chats(
        self,
        chats: Sequence[ReplicaChat] | None,
        pending: Mapping[str, str | None] | None = None,
        queued: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """A REST snapshot of the replica's chats (None: the engine could not be asked).

        REST chats say whether each is processing, not whether it waits for input: `pending` holds, for the
        chats whose history was read, the question they are paused on (None: none), and `queued` the ids
        of the messages in the queues that were read. A chat not in them keeps what the stream said about
        it while it stays processing. A chat that is not processing has nothing queued and is not paused
        (the contract keeps `processing` true meanwhile).

        A turn that ended since the last observation (the agent was busy, now it is not) counts as
        completed even when its event was never seen (it ended while nobody was reading the stream): see
        the module's doc for how it is never counted twice.
        """
        if chats is None:
            return
        known = self.chats_known
        if known:
            was_busy: bool | None = self.busy
        else:
            was_busy = self._start.busy if self._start else None
        running = [chat_id for chat_id, chat in self.chats.items() if chat.processing is True]
        before = self.state
        observed: dict[str, _Chat] = {}
        for chat in chats:
            old = self.chats.get(chat.id) or _Chat()
            now = _Chat(processing=chat.processing)
            if pending is not None and chat.id in pending:
                question = pending[chat.id]
                now.awaiting_input, now.question = question is not None, question
            elif chat.processing:
                now.awaiting_input, now.question = old.awaiting_input, old.question
            if queued is not None and chat.id in queued:
                now.queued = list(queued[chat.id])
            elif chat.processing:
                now.queued, now.unconfirmed = old.queued, old.unconfirmed
            observed[chat.id] = now
        self.chats = observed
        first, self.chats_known = not self.chats_known, True
        if not first and self.state != before:
            self.changes += 1
        if self.status != "active":
            return
        over = bool(was_busy) and not self.busy
        self.finished_unseen = self.finished_unseen or over
        # Turns the look finds ended: each chat seen running (a start or summary heard, or an earlier look)
        # and now not processing; when nothing was known but the cursor's busy flag, one.
        if known:
            ended = sum(1 for chat_id in running if chat_id in observed and not observed[chat_id].processing)
        else:
            ended = int(over)
        if ended and not self._unheard_open:
            self.digest.turns += ended
            self._unheard_open = ended

    def observe_event(self, event: EngineEvent) -> str:
        """Count one engine event; returns a short description for progress messages."""
        self.digest.events += 1
        if event.id:
            self._event_id = event.id
        payload = event.payload
        chat_id = event.chat_id
        kind = event.type
        if kind == "chat.turn.accepted" and chat_id:
            chat = self._chat(chat_id)
            message_id = payload.get("messageId")
            if payload.get("queued") is True and isinstance(message_id, str):
                if message_id not in chat.queued:  # a snapshot of the queue may have shown it already
                    chat.queued.append(message_id)
                    chat.unconfirmed.add(message_id)
                return "message queued"
            chat.processing, chat.awaiting_input = True, False  # it runs now (an answer resumes the agent)
            return "message accepted"
        if kind == "chat.turn.started" and chat_id:
            chat = self._chat(chat_id)
            message_id = payload.get("messageId")
            if message_id in chat.queued:
                chat.queued.remove(message_id)
            chat.unconfirmed.discard(message_id)
            chat.processing, chat.awaiting_input, chat.question = True, False, None
            if self.status == "preparing":
                self.status = "active"  # turns only run in an active workspace
            return "agent started a turn"
        if kind == "chat.turn.delta" and chat_id:
            asked = questions_in(payload.get("event"))
            for question in asked:
                self.digest.note(self.digest.questions, question)
            if asked:
                self._chat(chat_id).question = asked[-1]
                return "agent asked a question"
            return "agent working"
        if kind == "chat.turn.completed":
            if self._unheard_open:
                self._unheard_open -= 1  # counted already, by the look that found a turn over
            else:
                self.digest.turns += 1
            ok = payload.get("isComplete") is not False
            if not ok:
                self.digest.failed_turns += 1
            if chat_id:
                # The engine follows with chat.updated (working on a queued message, idle, or paused on a
                # question); until then, whether the agent is done is not known.
                chat = self._chat(chat_id)
                chat.processing = True if chat.queued else None
                chat.awaiting_input = False
            return "turn completed" if ok else "turn failed"
        if kind == "chat.interrupted" and chat_id:
            remaining = payload.get("queue")
            if isinstance(remaining, list):
                chat = self._chat(chat_id)
                chat.queued = [item for item in remaining if isinstance(item, str)]
                chat.unconfirmed.clear()
            return "turn interrupted"
        if kind in ("chat.updated", "chat.created"):
            summary = payload.get("chat")
            if isinstance(summary, Mapping) and isinstance(summary.get("id"), str):
                chat = self._chat(summary["id"])
                chat.processing = _flag(summary.get("processing")) or False
                chat.awaiting_input = _flag(summary.get("awaitingInput")) or False
                if not chat.processing:
                    chat.queued = []  # a chat with messages waiting is doing work (contract)
                    chat.unconfirmed.clear()
                if not chat.awaiting_input and not chat.processing:
                    chat.question = None
            return "chat updated"
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
            # The contract's `error` event is "an error occurred in the event stream", with a code it does
            # not enumerate: it is not itself the workspace's end (the list's `error` status is), so no code
            # is read as terminal here. Its message is why, if the workspace turns out to have failed.
            self._error_text = str(message)
            return "workspace error"
        if kind == "engine.ready":
            return "workspace ready"
        # Other kinds change nothing a wait decides on; a progress message is read by people, so words.
        return kind.replace(".", " ").replace("_", " ")

    def observe_queue(self, chat_id: str, queued: Sequence[str]) -> None:
        """A chat's queue as just read: the messages waiting now (a removed one is gone from it)."""
        chat = self._chat(chat_id)
        chat.queued, chat.unconfirmed = list(queued), set()

    @property
    def unconfirmed_queues(self) -> list[str]:
        """The chats whose queued count rests on `chat.turn.accepted` events alone. Those may be older than
        an edit of the queue (a wait resumed from a cursor replays them), so they are confirmed by reading
        the queue before the count is reported."""
        return [chat_id for chat_id, chat in self.chats.items() if chat.unconfirmed and chat.queued]

    def _chat(self, chat_id: str) -> _Chat:
        self.chats_known = True
        return self.chats.setdefault(chat_id, _Chat())

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

    def facts(self) -> list[ChatFacts] | None:
        return [chat.facts() for chat in self.chats.values()] if self.chats_known else None

    @property
    def busy(self) -> bool:
        return any(chat.working for chat in self.facts() or ())

    @property
    def awaiting_input(self) -> bool:
        return any(chat.asking for chat in self.facts() or ())

    @property
    def queued(self) -> int:
        return sum(chat.queued for chat in self.facts() or ())

    @property
    def pending_questions(self) -> list[str]:
        """The questions the agent is paused on now (texts known from the stream or the history)."""
        return [chat.question for chat in self.facts() or () if chat.asking and chat.question]

    @property
    def unsettled(self) -> bool:
        """A turn ended and what follows is not known yet (its chat summary has not arrived)."""
        return any(chat.processing is None for chat in self.chats.values())

    @property
    def state(self) -> State:
        return phase(self.status, self.facts())

    @property
    def failure(self) -> str | None:
        """Why the workspace failed: the newest `error` event's message, once its status is `error`."""
        return self._error_text if self.status == "error" else None

    @property
    def stopped(self) -> bool:
        return self.state in STOPPED

    def satisfied(self, until: Until) -> bool:
        return wait_over(
            until,
            self.state,
            turns_ended=self.digest.turns > 0 or self.finished_unseen,
            new_prs=bool(self.digest.prs),
            changed=self.digest.events > 0 or self.changes > 0 or self.digest.turns > 0,
        )

    # --- output -----------------------------------------------------------------------------------------

    @property
    def resume_id(self) -> str | None:
        """The Last-Event-ID to (re)open the stream with."""
        return self._event_id

    def cursor(self) -> Cursor:
        busy: bool | None = self.busy if self.chats_known else None
        if busy and not any(chat.processing is True or chat.queued for chat in self.chats.values()):
            # Busy only with turns that ended (counted here) before their chat summary came: whether more
            # runs is not known. Busy would make the next wait's look count such a turn again.
            busy = None
        if self.state == "preparing":
            busy = True  # the first message runs once it is ready
        return Cursor(
            replica_id=self.replica_id,
            # While a look's ends are open, their turns' events may still come after `_event_id` (from an
            # API that replays, or a shared buffer): a wait resumed there would count them again. It starts
            # from now instead, and its own look tells what happened meanwhile, as with an API that does
            # not replay (never a turn twice; one run wholly between the two waits is not counted).
            event_id=None if self._unheard_open else self._event_id,
            busy=busy,
            prs=frozenset(self._known_prs),
        )
