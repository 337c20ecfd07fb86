"""The hand-off report: what an agent needs to act on a replica's work, in about 1-2 KB.

`build_report(client, replica_id, lines=...)` reads, never waking a sleeping replica:
- the list record first (status, PRs): a sleeping or archived replica is reported from it alone;
- otherwise the details (branches, PRs and diff stats per repository, chats, error message) and, while the
  engine is reachable, the newest history events (the final agent message, whether the last turn failed,
  questions asked), the canvas listing and the hook logs (failed hooks only).

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
from replicas_mcp.client.models.replicas import ASLEEP_STATUSES, TERMINAL_STATUSES
from replicas_mcp.delegation.questions import questions_in

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import HistoryEvent, ReplicaDetails, ReplicaListItem

LineReader = Callable[[str, Mapping[str, Any]], list[tuple[str, str]]]
Outcome = Literal["completed", "working", "waiting_for_input", "failed", "sleeping"]

HISTORY_EVENTS = 40  # the newest events read for the final message (a turn's tail fits easily)
MESSAGE_LIMIT = 800
HOOK_OUTPUT_LIMIT = 300
CANVAS_LIMIT = 10
_FAILED_TURN_ROLES = frozenset({"turn error", "error"})


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
    questions: list[str] = field(default_factory=list)


def last_turn(events: Sequence[HistoryEvent], lines: LineReader) -> _Turn:
    """The final agent message, whether the last turn failed, and its questions (from the newest turn)."""
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
        for question in questions_in(event.payload):
            if question not in turn.questions:
                turn.questions.append(question)
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


def _outcome(status: str, details: ReplicaDetails | None, turn: _Turn | None) -> Outcome:
    if status in TERMINAL_STATUSES:
        return "failed"
    if status in ASLEEP_STATUSES:
        return "sleeping"
    if status != "active" or details is None:
        return "working"
    chats = details.chats
    if any(chat.processing for chat in chats):
        return "working"
    if any(chat.awaitingInput for chat in chats):
        return "waiting_for_input"
    if turn is not None and turn.failed:
        return "failed"
    return "completed"


def _repos_from_list(item: ReplicaListItem) -> list[RepoResult]:
    return [
        RepoResult(name=repo.name, prs=[pr.url for pr in item.pull_requests if pr.repository == repo.name])
        for repo in item.repositories
    ]


async def build_report(
    client: ReplicasClient, replica_id: str, *, lines: LineReader, chat_id: str | None = None
) -> Report:
    """The report for one replica (raises `ReplicaGone` if it does not exist)."""
    item = await client.replicas.status(replica_id)
    if item is None:
        raise ReplicaGone(replica_id)
    if item.status in ASLEEP_STATUSES:
        return Report(
            replica_id=item.id,
            name=item.name,
            status=item.status,
            outcome="sleeping",
            repos=_repos_from_list(item),
            notes=[
                "Asleep: the final message, canvas and hooks are read only while it is awake, and reads "
                "never wake it; send_replica_message (a follow-up) wakes it."
            ],
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
    error_message = (details.model_extra or {}).get("error_message")
    if isinstance(error_message, str):
        report.error = error_message
    turn: _Turn | None = None
    if details.status in ("active", "preparing"):
        turn = await _read_engine(client, replica_id, report, lines=lines, chat_id=chat_id)
    report.outcome = _outcome(details.status, details, turn)
    if turn is not None:
        if turn.message is not None:
            report.message_chars = len(turn.message)
            report.message = turn.message[:MESSAGE_LIMIT]
        if report.outcome == "waiting_for_input":
            report.questions = turn.questions[:3]
    return report


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
