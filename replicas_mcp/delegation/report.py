"""The hand-off report: what an agent needs to act on a replica's work, in about 1-2 KB.

`build_report(client, replica_id, lines=...)` reads, never waking a sleeping replica:
- the list record first (status, PRs): a sleeping or archived replica is reported from it alone;
- otherwise the details (branches, PRs and diff stats per repository, chats: which are processing) and,
  while the engine is reachable, the newest history events (the final agent message, whether the last turn
  failed), the question each processing chat is paused on (its history tail), the canvas listing and the
  hook logs (failed hooks only).

Only contract fields are read: the outcome is `phase` over the chats' `processing` and pending
interactive tool calls; a failed workspace's reason is `config.provisioning_error.message` when the record
has it, else what a wait or webhook recorded (the delegation memory, memory.py: the `error` event,
`replica.error`).

Provider-shaped history events are read through `lines(event_type, payload) -> [(role, text)]` (the
server's transcript reader), so this module knows no provider formats. Texts are returned as the agent
wrote them (bounded); the caller fences them before showing them to a model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from replicas_mcp.client.errors import ConflictError, NotFoundError, ReplicasError
from replicas_mcp.client.models.replicas import ASLEEP_STATUSES
from replicas_mcp.delegation.failures import provisioning_error
from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.delegation.phase import ChatFacts, State, phase
from replicas_mcp.delegation.snapshot import pending_of

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import HistoryEvent, ReplicaListItem

LineReader = Callable[[str, Mapping[str, Any]], list[tuple[str, str]]]
Outcome = Literal["completed", "working", "waiting_for_input", "failed", "sleeping"]

HISTORY_EVENTS = 40  # the newest events read for the final message (a turn's tail fits easily)
MESSAGE_LIMIT = 800
HOOK_OUTPUT_LIMIT = 300
CANVAS_LIMIT = 10
_FAILED_TURN_ROLES = frozenset({"turn error", "error"})

ASLEEP_NOTE = (
    "Asleep: the final message, canvas and hooks are read only while it is awake, and reads never wake it."
)
# The cheap way to the last turn's outcome: a wake runs no turn (a follow-up message would start, and bill,
# a new one). A read-only server drops this sentence (it never wakes a replica).
WAKE_TO_READ = (
    "To read them without a new turn: get_replica with wake=true, then wait_for_replica, then "
    "get_replica_result."
)


class ReplicaGone(Exception):
    """The replica does not exist (any more)."""


@dataclass
class RepoResult:
    name: str
    branch: str | None = None
    prs: list[str] = field(default_factory=list)
    added: int | None = None
    removed: int | None = None


@dataclass
class HookFailure:
    hook: str  # e.g. "start environment", "warm acme/api"
    exit_code: int | None
    timed_out: bool
    output: str  # the tail of its output


@dataclass
class Report:
    replica_id: str
    name: str
    status: str
    outcome: Outcome
    message: str | None = None  # the agent's final message, bounded
    message_chars: int = 0  # its full length
    repos: list[RepoResult] = field(default_factory=list)
    canvas: list[str] = field(default_factory=list)  # "notes-1.md (markdown, 96 B)"
    failed_hooks: list[HookFailure] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    error: str | None = None  # the workspace's own error message (status error)
    notes: list[str] = field(default_factory=list)

    @property
    def pr_urls(self) -> list[str]:
        return [url for repo in self.repos for url in repo.prs]


@dataclass
class _Turn:
    message: str | None = None
    failed: bool = False


def last_turn(events: Sequence[HistoryEvent], lines: LineReader) -> _Turn:
    """The final agent message and whether the last turn failed (from the newest turn)."""
    turn = _Turn()
    for event in events:
        rendered = lines(event.type, event.payload)
        if any(role == "user" for role, _ in rendered):
            turn = _Turn()  # a new turn starts with the user's message
        for role, text in rendered:
            if role == "agent" and text:
                turn.message = text
            elif role in _FAILED_TURN_ROLES or (role == "turn" and text == "error"):
                turn.failed = True
    return turn


def _size(num: int) -> str:
    if num < 1024:
        return f"{num} B"
    if num < 1024 * 1024:
        return f"{num / 1024:.1f} KB"
    return f"{num / (1024 * 1024):.1f} MB"


def failed_hooks(logs: Mapping[str, Any], kind: str) -> list[HookFailure]:
    failures = []
    for log in logs.get("logs") or []:
        if not isinstance(log, Mapping):
            continue
        code = log.get("exitCode")
        timed_out = bool(log.get("timedOut"))
        if (isinstance(code, int) and code != 0) or timed_out:
            output = str(log.get("output") or "")
            failures.append(
                HookFailure(
                    hook=f"{kind} {log.get('hookName') or log.get('hookType') or 'hook'}",
                    exit_code=code if isinstance(code, int) else None,
                    timed_out=timed_out,
                    output=output[-HOOK_OUTPUT_LIMIT:],
                )
            )
    return failures


def outcome_of(state: State, turn_failed: bool) -> Outcome:
    """The report's outcome from the replica's phase and whether its last turn failed."""
    if state in ("error", "deleted"):
        return "failed"
    if state in ("sleeping", "archived"):
        return "sleeping"
    if state == "waiting_for_input":
        return "waiting_for_input"
    if state == "idle":
        return "failed" if turn_failed else "completed"
    return "working"


def _repos_from_list(item: ReplicaListItem) -> list[RepoResult]:
    return [
        RepoResult(name=repo.name, prs=[pr.url for pr in item.pull_requests if pr.repository == repo.name])
        for repo in item.repositories
    ]


async def build_report(
    client: ReplicasClient,
    replica_id: str,
    *,
    lines: LineReader,
    chat_id: str | None = None,
    memory: Memory = PROCESS_MEMORY,
) -> Report:
    """The report for one replica (raises `ReplicaGone` if it does not exist; `memory`: failure reasons
    seen by waits and webhooks)."""
    # Fresh: the details read below wakes a workspace that went to sleep after its turn (sleep_when_done
    # does that at once), and a live stream or a recent `preparing` does not say it is still awake.
    item = await client.replicas.status(replica_id, fresh=True)
    if item is None:
        raise ReplicaGone(replica_id)
    if item.status in ASLEEP_STATUSES:
        return Report(
            replica_id=item.id,
            name=item.name,
            status=item.status,
            outcome="sleeping",
            repos=_repos_from_list(item),
            notes=[ASLEEP_NOTE, WAKE_TO_READ],
        )
    # Active, preparing or in error: reading the details does not wake anything. (A replica that falls
    # asleep between the list read and this one would be woken: a window of milliseconds.)
    try:
        details = await client.replicas.get(replica_id)
    except NotFoundError:
        raise ReplicaGone(replica_id) from None
    report = Report(
        replica_id=details.id,
        name=details.name,
        status=details.status,
        outcome="working",
        repos=[
            RepoResult(
                name=status.repository,
                branch=status.branch,
                prs=list(status.pr_urls),
                added=status.git_diff.added if status.git_diff else None,
                removed=status.git_diff.removed if status.git_diff else None,
            )
            for status in details.repository_statuses
        ]
        or _repos_from_list(details),
    )
    if details.status == "error":
        report.error = provisioning_error(details.model_extra) or await memory.recall("failure", replica_id)
        if report.error is None:
            report.notes.append(
                "The API gives no reason for this error state here; the replica.error webhook and the "
                "event stream's error event carry it (wait_for_replica shows it when it happens)."
            )
    turn: _Turn | None = None
    pending: dict[str, str | None] = {}
    if details.status in ("active", "preparing"):
        turn = await _read_engine(client, replica_id, report, lines=lines, chat_id=chat_id)
        pending = await _pending_questions(client, replica_id, [c.id for c in details.chats if c.processing])
    facts = [
        ChatFacts(processing=chat.processing, awaiting_input=pending.get(chat.id) is not None)
        for chat in details.chats
    ]
    state = phase(details.status, facts if details.status == "active" else None)
    report.outcome = outcome_of(state, turn is not None and turn.failed)
    if turn is not None and turn.message is not None:
        report.message_chars = len(turn.message)
        report.message = turn.message[:MESSAGE_LIMIT]
    if report.outcome == "waiting_for_input":
        report.questions = [text for text in pending.values() if text is not None][:3]
    return report


async def _pending_questions(
    client: ReplicasClient, replica_id: str, chat_ids: list[str]
) -> dict[str, str | None]:
    """The question each processing chat is paused on (a chat whose history cannot be read: none)."""
    found: dict[str, str | None] = {}
    for chat_id in chat_ids:
        try:
            found[chat_id] = await pending_of(client, replica_id, chat_id)
        except ReplicasError:
            found[chat_id] = None
    return found


async def _read_engine(
    client: ReplicasClient, replica_id: str, report: Report, *, lines: LineReader, chat_id: str | None
) -> _Turn | None:
    """History, canvas and hooks, read concurrently; a part that fails is left out with a note."""
    turn: list[_Turn] = []

    async def history() -> None:
        page = await client.history.read(replica_id, chat_id=chat_id, limit=HISTORY_EVENTS)
        turn.append(last_turn(page.events, lines))

    async def canvas() -> None:
        items = await client.canvas.list(replica_id)
        report.canvas = [f"{i.filename} ({i.kind}, {_size(i.sizeBytes)})" for i in items[:CANVAS_LIMIT]]
        if len(items) > CANVAS_LIMIT:
            report.canvas.append(f"… {len(items) - CANVAS_LIMIT} more")

    async def hooks() -> None:
        logs = await client.hooks.get(replica_id)
        report.failed_hooks = failed_hooks(logs.warm_hooks, "warm") + failed_hooks(logs.start_hooks, "start")

    async def guarded(part: Callable[[], Any], what: str) -> None:
        try:
            await part()
        except ConflictError:
            report.notes.append(f"{what} unavailable: the workspace stopped while it was being read.")
        except ReplicasError as exc:  # one missing part must not cost the whole report
            report.notes.append(f"{what} unavailable ({type(exc).__name__}); retry for the full report.")

    async with anyio.create_task_group() as group:
        group.start_soon(guarded, history, "history")
        group.start_soon(guarded, canvas, "canvas")
        group.start_soon(guarded, hooks, "hooks")
    return turn[0] if turn else None
