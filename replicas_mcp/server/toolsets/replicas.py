"""The default toolset: find, create, message, read and remove workspaces ("replicas")."""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp.client.errors import WorkspaceSleepingError
from replicas_mcp.delegation.asking import asking
from replicas_mcp.delegation.launch import remember_start
from replicas_mcp.delegation.steering import SteerMode, steer
from replicas_mcp.server.args import (
    OptionalChatId,
    PageNumber,
    PageSize,
    ReplicaId,
    TaskEnvironmentId,
    Wake,
    may_wake,
    next_page,
    read_only,
)
from replicas_mcp.server.environment_refs import repository_names
from replicas_mcp.server.liveness import ASLEEP, TERMINAL, ensure_awake, lookup
from replicas_mcp.server.paging import DEFAULT_MAX_CHARS, MaxChars, Offset, page_text
from replicas_mcp.server.safety import CONVERSATION, fence
from replicas_mcp.server.state import ToolContext, app_state, client_of
from replicas_mcp.server.state.looks import look_at_chats_once
from replicas_mcp.server.tools import ToolGroup, ToolResult
from replicas_mcp.server.toolsets.replica_questions import ask_delete_replica, ask_send
from replicas_mcp.server.transcript import event_lines, fit_newest, render_events
from replicas_mcp.server.views import (
    ChatSummary,
    Done,
    ReplicaSummary,
    chat_summary,
    preview,
    replica_summary,
)

tools = ToolGroup("replicas")

CodingAgent = Literal["claude", "codex", "cursor", "opencode"]
Thinking = Literal["low", "medium", "high", "max"]

Message = Annotated[
    str, Field(min_length=1, max_length=100_000, description="Instructions; may start with /plan or /fast")
]

# History pages are sized by max_chars (a rendered event is rarely under ~40 characters), so reading a long
# history to its start takes a handful of calls, not one per 50 events; bounded by what the API serves.
HISTORY_PAGE_EVENTS = 50
HISTORY_CHARS_PER_EVENT = 40
HISTORY_PAGE_MAX = 1000


def history_page_events(max_chars: int) -> int:
    """How many events to read for a transcript of at most `max_chars` characters."""
    return max(HISTORY_PAGE_EVENTS, min(HISTORY_PAGE_MAX, max_chars // HISTORY_CHARS_PER_EVENT))


WAKING = (
    "Waking (10-60 s): chats and diffs are not readable yet. Call get_replica again in 10-60 s, or "
    "wait_for_replica with until=idle to wait until it is ready."
)


# --- results ------------------------------------------------------------------------------------------


class Repo(BaseModel):
    id: str
    name: str


class RepositoryList(ToolResult):
    repositories: list[Repo]


class EnvironmentItem(BaseModel):
    id: str
    name: str
    is_global: bool = False
    repository: str | None = None  # its name, e.g. acme/api
    repository_id: str | None = None
    repository_set_id: str | None = None
    description: str | None = None


class EnvironmentList(ToolResult):
    environments: list[EnvironmentItem]


class ReplicaList(ToolResult):
    replicas: list[ReplicaSummary]
    total: int
    next_page: int | None = None


class RepoState(BaseModel):
    name: str
    branch: str | None = None
    prs: list[str] = []
    added: int | None = None
    removed: int | None = None


class ReplicaView(ToolResult):
    id: str
    name: str
    status: str
    repos: list[RepoState] = Field(default_factory=list)
    chats: list[ChatSummary] = Field(default_factory=list)
    note: str | None = None
    diff: str | None = None
    next_offset: int | None = None


class CreatedReplica(ToolResult):
    id: str
    status: str
    note: str


class MessageSent(ToolResult):
    status: str  # sent | queued | waking
    chat_id: str | None = None
    position: int | None = None  # 1-based place in the queue, when queued
    dropped: int | None = None  # replace_queue: queued messages removed
    note: str


class History(ToolResult):
    transcript: str
    events: int
    total: int
    next_offset: int | None = None

    def to_text(self) -> str:
        more = (
            f"\n[{self.events} newest of {self.total} events shown; for older ones call read_replica_history "
            f"with offset={self.next_offset}]"
            if self.next_offset is not None
            else ""
        )
        return f"{self.transcript}{more}"


# --- tools --------------------------------------------------------------------------------------------


@tools.tool(title="List repositories", read_only=True)
async def list_repositories(ctx: ToolContext) -> RepositoryList:
    """Repositories connected to the organization."""
    repos = await client_of(ctx).repositories.list()
    return RepositoryList(repositories=[Repo(id=r.id, name=r.name) for r in repos])


@tools.tool(title="List environments", read_only=True)
async def list_environments(ctx: ToolContext) -> EnvironmentList:
    """Environments to delegate to, with their repository. Next: delegate_task."""
    client = client_of(ctx)
    envs = await client.environments.list()
    repos = await repository_names(client, (env.repository_id for env in envs))  # cached: no request
    return EnvironmentList(
        environments=[
            EnvironmentItem(
                id=env.id,
                name=env.name,
                is_global=env.is_global,
                repository=repos.get(env.repository_id or ""),
                repository_id=env.repository_id,
                repository_set_id=env.repository_set_id,
                description=preview(env.description),
            )
            for env in envs
        ]
    )


@tools.tool(title="List replicas", read_only=True)
async def list_replicas(
    ctx: ToolContext,
    status: Literal["active", "sleeping", "preparing", "error"] | None = None,
    needs_input: bool = False,
    page: PageNumber = 1,
    limit: PageSize = 20,
) -> ReplicaList:
    """Replicas (coding-agent workspaces): status, repos, PRs, question if asking (filter needs_input).
    Never wakes one."""
    client = client_of(ctx)
    if needs_input:
        return await _asking_replicas(ctx, page=page, limit=limit)
    result = await client.replicas.list(page=page, limit=limit, status=status)
    questions = await asking(client, result.replicas)
    return ReplicaList(
        replicas=[replica_summary(item, questions.get(item.id)) for item in result.replicas],
        total=result.total,
        next_page=next_page(result.page, result.total_pages),
    )


async def _asking_replicas(ctx: ToolContext, *, page: int, limit: int) -> ReplicaList:
    """The replicas waiting for an answer: only active ones can be (a question keeps a chat processing),
    so only those are looked at."""
    client = client_of(ctx)
    active = [item async for item in client.replicas.iter(status="active")]
    questions = await asking(client, active)
    waiting = [item for item in active if item.id in questions]
    start = (page - 1) * limit
    shown = waiting[start : start + limit]
    return ReplicaList(
        replicas=[replica_summary(item, questions[item.id]) for item in shown],
        total=len(waiting),
        next_page=page + 1 if start + limit < len(waiting) else None,
    )


@tools.tool(title="Get replica", read_only=True)
async def get_replica(
    ctx: ToolContext,
    replica_id: ReplicaId,
    wake: Wake = False,
    include_diff: Annotated[bool, Field(description="Add the git diff (paged)")] = False,
    max_chars: MaxChars = DEFAULT_MAX_CHARS,
    offset: Offset = 0,
) -> ReplicaView:
    """Status, chats (busy, asking, who wrote last), branches, PRs, diff stats; the diff with
    include_diff. Asleep: status only; wake=true wakes it."""
    client = client_of(ctx)
    item = await lookup(client, replica_id)
    if item.status in ASLEEP | TERMINAL:
        repos = [
            RepoState(name=repo.name, prs=[pr.url for pr in item.pull_requests if pr.repository == repo.name])
            for repo in item.repositories
        ]
        view = ReplicaView(id=item.id, name=item.name, status=item.status, repos=repos)
        if item.status in TERMINAL:
            view.note = (
                "Terminal error state: it cannot be woken. get_replica_result shows what it did; "
                "delete_replica removes it, and delegate_task with a new name retries the work."
            )
        elif not wake or read_only(ctx):
            view.note = (
                f"{item.status.capitalize()}: chats, diffs and its final message need it awake; reads never "
                "wake it. Call get_replica with wake=true to wake it (10-60 s, billed); send_replica_message "
                "also wakes it."
            )
        else:
            with contextlib.suppress(WorkspaceSleepingError):  # some deployments say so while waking
                await client.replicas.wake(replica_id)
            view.status = "waking"
            view.note = WAKING
        return view
    details = await client.replicas.get(replica_id, include=("diffs",) if include_diff else ())
    view = ReplicaView(
        id=details.id,
        name=details.name,
        status=details.status,
        repos=[
            RepoState(
                name=status.repository,
                branch=status.branch,
                prs=status.pr_urls,
                added=status.git_diff.added if status.git_diff else None,
                removed=status.git_diff.removed if status.git_diff else None,
            )
            for status in details.repository_statuses
        ],
    )
    if details.waking:
        view.status = "waking"
        view.note = WAKING
    looks = (
        await look_at_chats_once(client, replica_id, details.chats, lines=event_lines)
        if details.status == "active" and not details.waking
        else []
    )
    view.chats = [chat_summary(look.chat, look, replica_id) for look in looks] or [
        chat_summary(chat) for chat in details.chats
    ]
    if include_diff:
        diff = "\n".join(
            f"# {status.repository}\n{status.git_diff.full_diff}"
            for status in details.repository_statuses
            if status.git_diff and status.git_diff.full_diff
        )
        part = page_text(diff, offset, max_chars)
        view.diff = fence(part.text, f"git diff of replica {replica_id}") if diff else ""
        view.next_offset = part.next_offset
    return view


@tools.tool(title="Create replica", read_only=False, destructive=False, idempotent=False)
async def create_replica(
    ctx: ToolContext,
    name: Annotated[str, Field(pattern=r"^\S+$", max_length=100, description="Unique, e.g. fix-login-bug")],
    message: Message,
    environment_id: TaskEnvironmentId,
    coding_agent: CodingAgent | None = None,
    model: Annotated[str | None, Field(description="e.g. sonnet, opus, gpt-5.5")] = None,
    thinking_level: Thinking | None = None,
    lifecycle_policy: Literal["default", "delete_when_done", "delete_after_inactivity"] | None = None,
) -> CreatedReplica:
    """Start a workspace whose agent works on `message`; returns at once (delegate_task waits too).
    Next: wait_for_replica."""
    client = client_of(ctx)
    # Names are how replicas are found again (delegate_task reuses by name): a second one would shadow it.
    existing = await client.replicas.find_by_name(name)
    if existing is not None:
        raise ToolError(
            f"Replica {existing.name} ({existing.id}, {existing.status}) already exists; nothing was "
            f"created. Send it more work with send_replica_message(replica_id={existing.id!r}), or choose "
            "another name."
        )
    item = await client.replicas.create(
        name=name,
        message=message,
        environment_id=environment_id,
        coding_agent=coding_agent,
        model=model,
        thinking_level=thinking_level,
        lifecycle_policy=lifecycle_policy,
    )
    # delegate_task with this name later must tell this task from another, even before it can read history.
    await remember_start(app_state(ctx).shared.memory, item.id, message, environment_id)
    return CreatedReplica(
        id=item.id,
        status=item.status,
        note=(
            "The agent starts once the workspace is ready. Follow it with wait_for_replica, then "
            "get_replica_result for the outcome."
        ),
    )


# Not destructive: a message is added; only mode=replace_queue drops queued ones, and that is asked first.
@tools.tool(
    title="Send replica message", read_only=False, destructive=False, idempotent=False, confirm=ask_send
)
async def send_replica_message(
    ctx: ToolContext,
    replica_id: ReplicaId,
    message: Message,
    chat_id: OptionalChatId = None,
    thinking_level: Thinking | None = None,
    mode: Annotated[
        SteerMode, Field(description="Queue it last; next: first; replace_queue: drop queue first")
    ] = "append",
) -> MessageSent:
    """Follow up, answer or correct the agent; wakes a sleeping replica, queued while busy. Returns
    status, queue position. Next: wait_for_replica."""
    sent = await steer(
        client_of(ctx), replica_id, message, mode=mode, chat_id=chat_id, thinking_level=thinking_level
    )
    if sent.status == "queued":
        ahead = " and the messages ahead of it" if (sent.position or 0) > 1 else ""
        where = f"The agent is busy; queued at position {sent.position}, after the current turn{ahead}."
    else:
        where = {
            "sent": "The agent is working on it.",
            "waking": "The replica is waking; the message runs once it is ready.",
        }.get(sent.status, "Accepted.")
    dropped = f"Dropped {sent.removed} queued message(s)." if sent.removed else None
    return MessageSent(
        status=sent.status,
        chat_id=sent.chat_id,
        position=sent.position,
        dropped=sent.removed if mode == "replace_queue" else None,
        note=" ".join(filter(None, [where, dropped, sent.note, "Follow it with wait_for_replica."])),
    )


@tools.tool(title="Read replica history", read_only=True)
async def read_replica_history(
    ctx: ToolContext,
    replica_id: ReplicaId,
    chat_id: OptionalChatId = None,
    max_chars: MaxChars = DEFAULT_MAX_CHARS,
    offset: Offset = 0,
    wake: Wake = False,
) -> History:
    """The agent's conversation as a transcript: the newest events that fit max_chars; older via
    offset=next_offset."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    page = await client.history.read(
        replica_id, chat_id=chat_id, limit=history_page_events(max_chars), offset=offset
    )
    rendered = render_events((ev.timestamp, ev.type, ev.payload) for ev in page.events)
    body, considered = fit_newest(rendered, max_chars)
    shown_until = offset + considered
    body = body or "(no messages yet)"
    if page.waking:
        body += "\n(The replica was waking; newer events may appear shortly.)"
    return History(
        transcript=fence(body, f"history of replica {replica_id}", by=CONVERSATION),
        events=considered,
        total=page.total,
        next_offset=shown_until if shown_until < page.total else None,
    )


@tools.tool(
    title="Delete replica", read_only=False, destructive=True, idempotent=True, confirm=ask_delete_replica
)
async def delete_replica(ctx: ToolContext, replica_id: ReplicaId) -> Done:
    """Delete a replica for good; unpushed work is lost."""
    client = client_of(ctx)
    item = await client.replicas.status(replica_id)  # its name (a list read: wakes nothing)
    await client.replicas.delete(replica_id)
    named = f"{item.name} ({replica_id})" if item is not None else replica_id
    return Done(message=f"Replica {named} deleted.")
