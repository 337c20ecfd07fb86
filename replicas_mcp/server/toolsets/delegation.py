"""Workflow tools of the default toolset: delegate a task, wait for it in bounded steps, read the result.

Thin wrappers over `replicas_mcp.delegation` (the logic, tested apart from MCP): arguments in, one
workflow call, a compact result out. Waits report progress as events arrive, so clients that reset their
timeout on progress keep waiting; every wait is bounded (≤ 55 s) and returns a cursor to resume from.
Text the remote agent wrote is fenced as untrusted.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp import delegation as d
from replicas_mcp.server.args import OptionalChatId, ReplicaId
from replicas_mcp.server.errors import describe, replica_not_found_message
from replicas_mcp.server.registry import ToolGroup, ToolResult
from replicas_mcp.server.safety import clean_text, fence, truncate
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.toolsets.replicas import CodingAgent, Thinking
from replicas_mcp.server.transcript import event_lines

tools = ToolGroup("replicas")

# Tests shorten the polling and heartbeat intervals through this.
POLICY: d.WaitPolicy = d.DEFAULT_POLICY
TOOL_TIMEOUT = 100.0  # the longest wait (55 s) plus creating replicas and reading a report

Seconds = Annotated[
    int, Field(ge=0, le=55, description="Max seconds to wait (keep under your client's limit)")
]
CursorArg = Annotated[
    str | None, Field(description="From the previous call: resume, nothing lost or repeated")
]
Task = Annotated[str, Field(min_length=1, max_length=100_000, description="Instructions for the agent")]
Name = Annotated[str | None, Field(pattern=r"^\S+$", max_length=100, description="Unique; default from task")]


# --- results ------------------------------------------------------------------------------------------


class Row(BaseModel):
    """One replica as a wait (or a batch) left it."""

    replica_id: str | None = None  # None: a batch task not started yet
    name: str | None = None
    state: str  # preparing|working|idle|waiting_for_input|sleeping|archived|error|deleted (batch: pending)
    done: bool = False  # the condition holds, or the replica stopped (asleep, error, gone)
    events: int = 0
    turns: int = 0
    prs: list[str] = []
    errors: list[str] = []
    questions: list[str] = []  # fenced: written by the agent
    cursor: str | None = None

    def line(self) -> str:
        parts = [f"{self.name or self.replica_id}: {self.state}{' (done)' if self.done else ''}"]
        if self.events:
            parts.append(f"{self.events} events")
        if self.turns:
            parts.append(f"{self.turns} turn(s) completed")
        parts += [f"PR {url}" for url in self.prs]
        parts += [f"error: {text}" for text in self.errors]
        text = " · ".join(parts)
        if self.questions:
            text += "\nAgent asked:\n" + "\n".join(self.questions)
        return text


def _row(outcome: d.WaitOutcome, name: str | None = None) -> Row:
    digest = outcome.digest
    errors = [truncate(clean_text(text), 300) for text in digest.errors]
    if digest.failed_turns:
        errors.append(f"{digest.failed_turns} turn(s) failed")
    if outcome.error is not None:
        errors.append(f"could not follow it: {describe(outcome.error)}")
    return Row(
        replica_id=outcome.replica_id,
        name=name,
        state=outcome.state,
        done=outcome.satisfied or outcome.stopped,
        events=digest.events,
        turns=digest.turns,
        prs=list(digest.prs),
        errors=errors,
        questions=[fence(q, f"question from replica {outcome.replica_id}") for q in digest.questions],
        cursor=outcome.cursor.encode(),
    )


_NEXT = {
    "waiting_for_input": "The agent asked something: answer with steer_replica.",
    "sleeping": "Asleep: get_replica_result reports what it did; steer_replica wakes it with a new message.",
    "archived": "Archived: get_replica_result reports what it did.",
    "error": "Terminal error: get_replica_result shows it; delete_replica, then delegate again.",
    "deleted": "The replica no longer exists.",
}


def _next_step(row: Row, *, wait_tool: str = "wait_for_replica") -> str:
    if row.state in _NEXT:
        return _NEXT[row.state]
    if row.done:
        return "Done: get_replica_result gives the hand-off report."
    return f"Not done yet: call {wait_tool} again with this cursor."


class WaitResult(Row, ToolResult):
    timed_out: bool
    next: str

    def to_text(self) -> str:
        status = "Timed out" if self.timed_out else "Returned"
        return f"{status}: {self.line()}\ncursor: {self.cursor}\nNext: {self.next}"


class WaitAllResult(ToolResult):
    done: int
    replicas: list[Row]
    next: str

    def to_text(self) -> str:
        rows = "\n".join(f"- {row.line()}\n  cursor: {row.cursor}" for row in self.replicas)
        return f"{self.done}/{len(self.replicas)} done:\n{rows}\nNext: {self.next}"


class RepoView(BaseModel):
    name: str
    branch: str | None = None
    prs: list[str] = []
    added: int | None = None
    removed: int | None = None


class ReportResult(ToolResult):
    replica_id: str
    name: str
    status: str
    outcome: str
    message: str | None = None  # fenced
    message_chars: int = 0
    repos: list[RepoView] = Field(default_factory=list)
    canvas: list[str] = Field(default_factory=list)
    failed_hooks: list[str] = Field(default_factory=list)  # "start environment: exit 1" + fenced output
    questions: list[str] = Field(default_factory=list)  # fenced
    error: str | None = None
    notes: list[str] = Field(default_factory=list)

    def to_text(self) -> str:
        lines = [f"Replica {self.name} ({self.replica_id}): {self.outcome} [status {self.status}]"]
        for repo in self.repos:
            stats = f" +{repo.added}/-{repo.removed}" if repo.added is not None else ""
            prs = f" PRs: {', '.join(repo.prs)}" if repo.prs else ""
            lines.append(f"- {repo.name}{f' on {repo.branch}' if repo.branch else ''}{stats}{prs}")
        if self.error:
            lines.append(f"Workspace error: {self.error}")
        if self.canvas:
            lines.append(f"Canvas: {', '.join(self.canvas)}")
        lines += [f"Failed hook {hook}" for hook in self.failed_hooks]
        if self.message:
            cut = self.message_chars > d.MESSAGE_LIMIT
            more = f" (first {d.MESSAGE_LIMIT} of {self.message_chars} chars)" if cut else ""
            lines.append(f"Final message{more}:\n{self.message}")
        if self.questions:
            lines.append("Open questions:\n" + "\n".join(self.questions))
        lines += self.notes
        return "\n".join(lines)


def _report_result(report: d.Report) -> ReportResult:
    rid = report.replica_id
    return ReportResult(
        replica_id=rid,
        name=report.name,
        status=report.status,
        outcome=report.outcome,
        message=fence(report.message, f"final message of replica {rid}") if report.message else None,
        message_chars=report.message_chars,
        repos=[RepoView(**vars(repo)) for repo in report.repos],
        canvas=[truncate(clean_text(item), 120) for item in report.canvas],
        failed_hooks=[
            f"{truncate(clean_text(hook.hook), 120)}: "
            f"{'timed out' if hook.timed_out else f'exit {hook.exit_code}'}\n"
            + fence(hook.output, f"hook output of replica {rid}")
            for hook in report.failed_hooks
        ],
        questions=[fence(q, f"question from replica {rid}") for q in report.questions],
        error=truncate(clean_text(report.error), 500) if report.error else None,
        notes=report.notes,
    )


class DelegateResult(Row, ToolResult):
    created: bool
    report: str | None = None  # get_replica_result's report as text, once the first turn is over
    next: str

    def to_text(self) -> str:
        head = f"{'Created' if self.created else 'Found existing'} replica {self.name} ({self.replica_id})."
        return f"{head}\n{self.report or self.line()}\ncursor: {self.cursor}\nNext: {self.next}"


class BatchResult(ToolResult):
    started: int
    done: int
    pending: int
    tasks: list[Row]
    next: str

    def to_text(self) -> str:
        rows = [
            f"- {row.name} | {row.replica_id or '-'} | {row.line().split(': ', 1)[1]}"
            + (f"\n  cursor: {row.cursor}" if row.cursor and not row.done else "")
            for row in self.tasks
        ]
        counts = f"{self.started} started now, {self.done}/{len(self.tasks)} done, {self.pending} pending"
        return f"{counts}\n" + "\n".join(rows) + f"\nNext: {self.next}"


class SteerResult(ToolResult):
    replica_id: str
    status: str
    chat_id: str | None = None
    message_id: str | None = None
    position: int | None = None
    removed: int = 0
    note: str


# --- helpers ------------------------------------------------------------------------------------------


def _reporter(ctx: ToolContext) -> d.Progress:
    async def sink(progress: float, message: str) -> None:
        await ctx.report_progress(progress, None, message)

    return d.Progress(sink)


def _cursor(text: str | None, replica_id: str | None) -> d.Cursor | None:
    if text is None:
        return None
    try:
        return d.Cursor.decode(text, replica_id=replica_id)
    except d.CursorError as exc:
        raise ToolError(f"Invalid cursor: {exc}. Omit it to wait from now on.") from None


async def _report(ctx: ToolContext, replica_id: str, chat_id: str | None = None) -> ReportResult:
    try:
        report = await d.build_report(client_of(ctx), replica_id, lines=event_lines, chat_id=chat_id)
    except d.ReplicaGone:
        raise ToolError(replica_not_found_message(replica_id)) from None
    return _report_result(report)


# --- tools --------------------------------------------------------------------------------------------


@tools.tool(title="Delegate a task", read_only=False, idempotent=True, timeout=TOOL_TIMEOUT)
async def delegate_task(
    ctx: ToolContext,
    environment_id: Annotated[str, Field(min_length=1, description="From list_environments")],
    task: Task,
    name: Name = None,
    coding_agent: CodingAgent | None = None,
    model: str | None = None,
    thinking_level: Thinking | None = None,
    plan_mode: bool = False,
    wait_s: Seconds = 40,
) -> DelegateResult:
    """Hand a coding task to a cloud agent: starts a replica, waits up to wait_s for its turn, returns
    the report or a cursor for wait_for_replica. Repeating it (same name/task) never starts another."""
    client = client_of(ctx)
    spec = d.TaskSpec(environment_id, task, name, coding_agent, model, thinking_level, plan_mode)
    item, created = await d.launch(client, spec)
    outcome = await d.wait_for_replica(
        client,
        item.id,
        within=wait_s,
        cursor=d.Cursor.start(item.id) if created else None,
        policy=POLICY,
        progress=_reporter(ctx),
    )
    row = _row(outcome, item.name)
    report = await _report(ctx, item.id) if row.done and row.state != "deleted" else None
    return DelegateResult(
        **row.model_dump(),
        created=created,
        report=report.to_text() if report else None,
        next=_after_report(report) if report else _next_step(row),
    )


def _after_report(report: ReportResult) -> str:
    if report.outcome == "completed":
        return "Review the PRs; steer_replica for follow-ups, delete_replica when finished."
    if report.outcome == "waiting_for_input":
        return _NEXT["waiting_for_input"]
    return _NEXT.get(report.status, "steer_replica to correct it, then wait_for_replica.")


@tools.tool(title="Wait for a replica", read_only=True, timeout=TOOL_TIMEOUT)
async def wait_for_replica(
    ctx: ToolContext,
    replica_id: ReplicaId,
    until: d.Until = "turn_completed",
    timeout_s: Annotated[int, Field(ge=1, le=55)] = 40,
    cursor: CursorArg = None,
) -> WaitResult:
    """Wait, bounded and with progress, until the agent's turn completes (or: idle, pr_opened,
    needs_input, any_event). Returns state, digest, cursor: pass the cursor back to continue."""
    outcome = await d.wait_for_replica(
        client_of(ctx),
        replica_id,
        until=until,
        within=timeout_s,
        cursor=_cursor(cursor, replica_id),
        policy=POLICY,
        progress=_reporter(ctx),
    )
    if outcome.state == "deleted" and cursor is None and not outcome.digest.events:
        raise ToolError(replica_not_found_message(replica_id))
    row = _row(outcome)
    return WaitResult(**row.model_dump(), timed_out=outcome.timed_out, next=_next_step(row))


@tools.tool(title="Get replica result", read_only=True)
async def get_replica_result(
    ctx: ToolContext, replica_id: ReplicaId, chat_id: OptionalChatId = None
) -> ReportResult:
    """Hand-off report: outcome, final agent message, PRs, branches, diff stats, canvas, failed hooks,
    open questions. Never wakes a sleeping replica."""
    return await _report(ctx, replica_id, chat_id)


@tools.tool(title="Steer a replica", read_only=False)
async def steer_replica(
    ctx: ToolContext,
    replica_id: ReplicaId,
    message: Task,
    mode: Annotated[
        Literal["append", "next", "replace_queue"],
        Field(description="Queue it last, first, or alone (clears the queue)"),
    ] = "append",
    chat_id: OptionalChatId = None,
) -> SteerResult:
    """Correct or answer a (busy) agent through its queue; wakes a sleeping replica. Then
    wait_for_replica."""
    steered = await d.steer(client_of(ctx), replica_id, message, mode=mode, chat_id=chat_id)
    if steered.status == "queued":
        ahead = " and the messages ahead of it" if (steered.position or 0) > 1 else ""
        where = f"Queued at position {steered.position}: it runs after the current turn{ahead}."
    else:
        where = {
            "sent": "The agent is working on it now.",
            "waking": "The replica is waking; the message runs once it is ready.",
        }.get(steered.status, "Accepted.")
    dropped = f"Dropped {steered.removed} queued message(s)." if steered.removed else None
    return SteerResult(
        replica_id=replica_id,
        status=steered.status,
        chat_id=steered.chat_id,
        message_id=steered.message_id,
        position=steered.position,
        removed=steered.removed,
        note=" ".join(filter(None, [where, dropped, steered.note, "Follow it with wait_for_replica."])),
    )


class BatchTask(BaseModel):  # plan mode: start the task with /plan
    environment_id: str = Field(min_length=1)
    task: str = Field(min_length=1, max_length=100_000)
    name: str | None = Field(default=None, pattern=r"^\S+$", max_length=100)
    coding_agent: CodingAgent | None = None
    model: str | None = None


def _batch_row(row: d.Launched) -> Row:
    if row.outcome is not None:
        return _row(row.outcome, row.name).model_copy(update={"state": row.outcome.state})
    state = "pending" if row.pending else "failed_to_start"
    errors = [describe(row.error)] if row.error else []
    return Row(name=row.name, state=state, errors=errors)


@tools.tool(title="Delegate several tasks", read_only=False, idempotent=True, timeout=TOOL_TIMEOUT)
async def delegate_batch(
    ctx: ToolContext,
    tasks: Annotated[
        list[BatchTask],
        Field(
            min_length=1, max_length=20, description="{environment_id, task, name?, coding_agent?, model?}"
        ),
    ],
    max_parallel: Annotated[int, Field(ge=1, le=20)] = 5,
    wait_s: Seconds = 40,
) -> BatchResult:
    """Fan out: a replica per task, at most max_parallel working at once; waits up to wait_s, returns a
    table. Call again with the same tasks to start pending ones and join; never duplicates."""
    specs = [d.TaskSpec(t.environment_id, t.task, t.name, t.coding_agent, t.model) for t in tasks]
    try:
        launched = await d.delegate_many(
            client_of(ctx),
            specs,
            max_parallel=max_parallel,
            wait=wait_s,
            policy=POLICY,
            progress=_reporter(ctx),
        )
    except ValueError as exc:
        raise ToolError(f"{exc}. Give those tasks distinct names.") from None
    rows = [_batch_row(row) for row in launched]
    pending = sum(row.state == "pending" for row in rows)
    done = sum(row.done for row in rows)
    if pending:
        step = "Call delegate_batch again with the same tasks: it joins these and starts pending ones."
    elif done < len(rows):
        step = "Join with wait_for_replicas(replica_ids, cursors)."
    else:
        step = "All done: get_replica_result for each replica's report."
    return BatchResult(
        started=sum(row.created for row in launched), done=done, pending=pending, tasks=rows, next=step
    )


@tools.tool(title="Wait for several replicas", read_only=True, timeout=TOOL_TIMEOUT)
async def wait_for_replicas(
    ctx: ToolContext,
    replica_ids: Annotated[list[str], Field(min_length=1, max_length=20)],
    mode: Annotated[Literal["any", "all"], Field(description="Return when any / all are done")] = "all",
    timeout_s: Annotated[int, Field(ge=1, le=55)] = 40,
    cursors: Annotated[list[str] | None, Field(description="From earlier waits, any order")] = None,
) -> WaitAllResult:
    """Join replicas: wait, bounded, until any or all finish their turn; a row and cursor per replica.
    Pass the cursors back to continue."""
    by_replica: dict[str, d.Cursor] = {}
    for text in cursors or []:
        parsed = _cursor(text, None)
        if parsed is not None:
            by_replica[parsed.replica_id] = parsed
    outcomes = await d.wait_many(
        client_of(ctx),
        [(rid, by_replica.get(rid)) for rid in dict.fromkeys(replica_ids)],
        mode=mode,
        within=timeout_s,
        policy=POLICY,
        progress=_reporter(ctx),
    )
    rows = [_row(outcome) for outcome in outcomes]
    done = sum(row.done for row in rows)
    finished = done == len(rows) or (mode == "any" and done > 0)
    step = (
        "Done: get_replica_result for the reports; answer questions with steer_replica."
        if finished
        else "Not done yet: call wait_for_replicas again with these cursors."
    )
    return WaitAllResult(done=done, replicas=rows, next=step)
