"""Workflow tools of the default toolset: delegate tasks, wait for them in bounded steps, read the result.

Thin wrappers over `replicas_mcp.delegation` (the logic, tested apart from MCP): arguments in, one
workflow call, a compact result out. Waits report progress as events arrive, so clients that reset their
timeout on progress keep waiting; every wait is bounded (≤ 55 s) and returns a cursor to resume from.
Text the remote agent wrote is fenced as untrusted.

Three tools, kept small for the default toolset's tools/list budget: `delegate_task` takes one task or a
list (fan-out), `wait_for_replica` one replica or several (join, any|all); results are a row per replica.
Steering a busy agent is `send_replica_message(mode=next|replace_queue)` (toolsets/replicas.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Annotated

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AfterValidator, Field, WithJsonSchema

from replicas_mcp import delegation as d
from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.delegation.memory import Memory
from replicas_mcp.server.args import Id, TaskEnvironmentId
from replicas_mcp.server.caller import current_caller
from replicas_mcp.server.errors import describe, replica_not_found_message
from replicas_mcp.server.hints import served
from replicas_mcp.server.state import ToolContext, app_state, client_of
from replicas_mcp.server.state.view import unless_changed
from replicas_mcp.server.tools import ToolGroup
from replicas_mcp.server.toolsets.delegation_report import ReportResult, report_result
from replicas_mcp.server.toolsets.delegation_rows import (
    DelegateResult,
    Launch,
    Row,
    WaitResult,
    row_of,
)
from replicas_mcp.server.toolsets.replicas import CodingAgent, Thinking
from replicas_mcp.server.transcript import event_lines

tools = ToolGroup("replicas")

# Tests shorten the polling and heartbeat intervals through this.
POLICY: d.WaitPolicy = d.DEFAULT_POLICY
TOOL_TIMEOUT = 100.0  # the longest wait (55 s) plus creating replicas and reading a report
FAN_OUT_LIMIT = 20  # tasks per delegate_task call, replicas per wait_for_replica call
NAME_LIMIT = 96  # with "-20" appended for a list's tasks, within the API's 100

Seconds = Annotated[int, Field(ge=0, le=55)]
Text = Annotated[str, Field(min_length=1, max_length=100_000)]
# One or several: published as {"type": ["string", "array"], "items": ...}, shorter than pydantic's anyOf.
_ONE_OR_MORE = WithJsonSchema({"type": ["string", "array"], "items": {"type": "string"}})
Tasks = Annotated[
    Text | Annotated[list[Text], Field(min_length=1, max_length=FAN_OUT_LIMIT)],
    _ONE_OR_MORE,
    Field(description="Instructions; a list fans out"),
]


def _name(value: str | None) -> str | None:
    if value is not None and (len(value) > NAME_LIMIT or not re.fullmatch(r"\S+", value)):
        raise ValueError(f"a name has no spaces and at most {NAME_LIMIT} characters")
    return value


# Checked by the validator rather than published as pattern/maxLength: the description says it.
Name = Annotated[
    str | None,
    AfterValidator(_name),
    Field(description="Unique, no spaces (lists: name-1, name-2); default from task"),
]
Ids = Annotated[
    Id | Annotated[list[Id], Field(min_length=1, max_length=FAN_OUT_LIMIT)],
    _ONE_OR_MORE,
    Field(description="A list joins several"),
]
Cursors = Annotated[
    str | Annotated[list[str], Field(min_length=1, max_length=FAN_OUT_LIMIT)] | None,
    _ONE_OR_MORE,
    Field(description="From the last call"),
]


# A wake runs no turn: the way to the last turn's final message that a follow-up (a new, billed turn) is not.
READ_ASLEEP = (
    "To read its final message without a new turn: get_replica with wake=true, then wait_for_replica, "
    "then get_replica_result."
)
_NEXT = {
    # Asleep, only the list is read (reads never wake): the report has status and PRs, no final message.
    "sleeping": (
        f"Asleep: get_replica_result shows its PRs. {READ_ASLEEP} For more work: send_replica_message."
    ),
    "archived": "Archived: get_replica_result shows its PRs.",
    "error": "Terminal error: get_replica_result shows it; delete_replica, then delegate again.",
    "deleted": "The replica no longer exists.",
}


def _answer(ctx: ToolContext) -> str:
    """How to answer a question, on this server: a read-only one (or one without send_replica_message)
    can only pass it on."""
    how = served(ctx)
    if how.has("send_replica_message"):
        return "answer with send_replica_message."
    why = "answering needs a server that can write" if how.read_only else "this server cannot answer it"
    return f"relay the question to the user; {why}."


def _next_step(row: Row, ctx: ToolContext) -> str:
    if row.state == "waiting_for_input":
        return f"The agent asked something: {_answer(ctx)}"
    if row.state in _NEXT:
        return _NEXT[row.state]
    if row.done and row.state in ("working", "preparing"):
        # until=turn_completed: a turn ended but the agent goes on (queued messages, another chat)
        return "A turn completed, more is running or queued: wait_for_replica again to wait for all of it."
    if row.done:
        return "Done: get_replica_result gives the hand-off report."
    return "Not done yet: call wait_for_replica with this cursor."


# --- helpers ------------------------------------------------------------------------------------------


def _reporter(ctx: ToolContext) -> d.Progress:
    async def sink(progress: float, total: float | None, message: str) -> None:
        await ctx.report_progress(progress, total, message)

    # The heartbeat runs in the server's lifespan task group: a result then goes out without joining it.
    return d.Progress(sink, background=app_state(ctx).background)


def _cursor(text: str, replica_id: str | None) -> d.Cursor:
    try:
        return d.Cursor.decode(text, replica_id=replica_id)
    except d.CursorError as exc:
        raise ToolError(f"Invalid cursor: {exc}. Omit it to wait from now on.") from None


def _name_hold(ctx: ToolContext) -> d.NameHold:
    """The caller's lock on a replica name, shared by every instance of a fleet (state/shared.py)."""
    locks, caller = app_state(ctx).shared.name_locks, current_caller()
    return lambda name: locks.hold(f"{caller}:{name}")


def _memory(ctx: ToolContext) -> Memory:
    """What delegation remembers per replica (tasks, failure reasons), shared by every instance of a fleet."""
    return app_state(ctx).shared.memory


async def _report(ctx: ToolContext, replica_id: str, chat_id: str | None = None) -> ReportResult:
    client = client_of(ctx)
    try:
        report = await unless_changed(  # a report just returned is not read again while nothing happened
            client,
            replica_id,
            ("report", chat_id),
            lambda: d.build_report(
                client, replica_id, lines=event_lines, chat_id=chat_id, memory=_memory(ctx)
            ),
        )
    except d.ReplicaGone:
        raise ToolError(replica_not_found_message(replica_id)) from None
    return report_result(report)


async def _names(ctx: ToolContext, ids: Sequence[str]) -> dict[str, str]:
    """The names of these replicas, from one list page (newest first); a name not found stays out."""
    try:
        page = await client_of(ctx).replicas.list(limit=100)
    except ReplicasError:
        return {}
    return {item.id: item.name for item in page.replicas if item.id in ids}


# --- tools --------------------------------------------------------------------------------------------


@tools.tool(title="Delegate tasks", read_only=False, idempotent=True, timeout=TOOL_TIMEOUT)
async def delegate_task(
    ctx: ToolContext,
    environment_id: TaskEnvironmentId,
    task: Tasks,
    name: Name = None,
    coding_agent: CodingAgent | None = None,
    model: str | None = None,
    thinking_level: Thinking | None = None,
    plan_mode: bool = False,
    max_parallel: Annotated[int, Field(ge=1, le=FAN_OUT_LIMIT, description="Lists: agents at once")] = 5,
    wait_s: Seconds = 40,
) -> DelegateResult:
    """Hand coding tasks to cloud agents (a replica each), wait up to wait_s: returns the report, or
    cursors for wait_for_replica. Never starts a task twice."""
    if isinstance(task, list):
        names = [f"{name}-{n}" for n in range(1, len(task) + 1)] if name else [None] * len(task)
        specs = [
            d.TaskSpec(environment_id, text, each, coding_agent, model, thinking_level, plan_mode)
            for text, each in zip(task, names, strict=True)
        ]
        return await _delegate_many(ctx, specs, max_parallel=max_parallel, wait_s=wait_s)
    client = client_of(ctx)
    spec = d.TaskSpec(environment_id, task, name, coding_agent, model, thinking_level, plan_mode)
    try:
        item, created = await d.launch(client, spec, _name_hold(ctx), _memory(ctx))
    except d.NameTaken as exc:
        raise ToolError(_name_taken(exc)) from None
    outcome = await d.wait_for_replica(
        client,
        item.id,
        within=wait_s,
        cursor=d.Cursor.start(item.id) if created else None,
        policy=POLICY,
        progress=_reporter(ctx),
        memory=_memory(ctx),
        launched=time.monotonic() if created else None,
    )
    row = row_of(outcome, Launch, name=item.name, created=created)
    report = await _report(ctx, item.id) if row.done and row.state != "deleted" else None
    if report is not None:  # the report shows the errors: the row does not repeat them. Its question stays
        # in news, as in wait_for_replica's rows, for clients that read only the rows (the text shows the
        # report instead of the row).
        row.news = [item for item in row.news if not item.startswith("error: ")]
    if report is not None and report.outcome == "sleeping":
        row.state = report._status  # asleep since the wait saw the turn end: one state, the newest
        report.notes = [note for note in report.notes if note != d.WAKE_TO_READ]  # the Next: says it
    return DelegateResult(
        replicas=[row],
        report=report.to_text() if report else None,
        next=_after_report(report, ctx) if report else _next_step(row, ctx),
    )


def _after_report(report: ReportResult, ctx: ToolContext) -> str:
    if report.outcome == "completed":
        review = "Review the PRs; " if report.prs else ""
        return f"{review}send_replica_message for follow-ups, delete_replica when finished."
    if report.outcome == "waiting_for_input":
        return f"The agent asked something: {_answer(ctx)}"
    if report.outcome == "sleeping":  # its PRs were just shown: only the way to the rest is left
        return f"{READ_ASLEEP} For more work: send_replica_message."
    return _NEXT.get(report._status, "send_replica_message to correct it, then wait_for_replica.")


def _name_taken(exc: d.NameTaken) -> str:
    existing = exc.existing
    return (
        f"Replica {existing.name} ({existing.id}, {existing.status}) already exists with {exc.difference}; "
        "nothing was started. Give this task another name, or send it to that replica with "
        f"send_replica_message(replica_id={existing.id!r})."
    )


def _launch_row(row: d.Launched) -> Launch:
    if row.outcome is not None:
        return row_of(row.outcome, Launch, name=row.name, created=row.created)
    if row.taken is not None:  # its replica_id stays empty: the one named in the error is another task's
        return Launch(name=row.name, state="name_taken", news=[f"error: {_name_taken(row.taken)}"])
    state = "pending" if row.pending else "failed_to_start"
    news = [f"error: {describe(row.error)}"] if row.error else []
    return Launch(name=row.name, state=state, news=news)


async def _delegate_many(
    ctx: ToolContext, specs: list[d.TaskSpec], *, max_parallel: int, wait_s: int
) -> DelegateResult:
    try:
        launched = await d.delegate_many(
            client_of(ctx),
            specs,
            max_parallel=max_parallel,
            wait=wait_s,
            policy=POLICY,
            progress=_reporter(ctx),
            hold=_name_hold(ctx),
            memory=_memory(ctx),
        )
    except ValueError as exc:
        raise ToolError(f"{exc}. Give those tasks distinct names, or drop the duplicates.") from None
    rows = [_launch_row(row) for row in launched]
    not_started = [row.name for row in rows if row.state in ("name_taken", "failed_to_start")]
    done = all(row.done for row in rows if row.name not in not_started)
    if any(row.state == "pending" for row in rows):
        step = "Call delegate_task again with the same tasks: it joins these and starts the pending ones."
    elif len(not_started) == len(rows):  # "all done" would be vacuously true
        return DelegateResult(
            replicas=rows, next=f"Nothing was started: {', '.join(not_started)} (see their errors)."
        )
    elif not done:
        step = "Join with wait_for_replica(replica_id=[ids], cursor=[cursors])."
    else:
        asking = any(row.state == "waiting_for_input" for row in rows)
        step = f"All done{' or asking' if asking else ''}: {_reports(rows)}"
    step += _answer_the_asking(rows, ctx)
    if not_started:
        step += f" Not started: {', '.join(not_started)} (see their errors)."
    return DelegateResult(replicas=rows, next=step)


def _reports(rows: Sequence[Row]) -> str:
    """Which of these (done) rows have a report to read: not an asking one (it is not done) nor a deleted
    one (nothing is left to read)."""
    ready = [row for row in rows if row.done and row.state not in ("waiting_for_input", "deleted")]
    gone = [row.label() for row in rows if row.state == "deleted"]
    if not ready:
        step = "" if gone else "no report to read."
    elif len(ready) == len(rows):
        step = "get_replica_result for each replica's report."
    else:
        step = f"get_replica_result for the reports of {', '.join(row.label() for row in ready)}."
    deleted = f"{', '.join(gone)}: deleted, no report." if gone else ""
    return " ".join(part for part in (step, deleted) if part)


def _join_step(rows: Sequence[Row], mode: d.JoinMode, ctx: ToolContext) -> str:
    """A join's next step: the reports of the rows that are done; with mode=any, waiting on the others."""
    answer = _answer_the_asking(rows, ctx)
    finished = [row for row in rows if row.done]
    if len(finished) == len(rows):
        return f"{'Over' if answer else 'Done'}: {_reports(rows)}{answer}"
    ready = [row for row in finished if row.state != "waiting_for_input"]
    if mode == "any" and ready:  # the others go on: one done is not the batch done
        return (
            f"Some done: {_reports(rows)} The others are still running: call wait_for_replica again with "
            f"their ids and cursors to wait for them.{answer}"
        )
    return f"Not done yet: call wait_for_replica again with these cursors.{answer}"


def _answer_the_asking(rows: Sequence[Row], ctx: ToolContext) -> str:
    """A sentence naming the replicas that wait on a question: a join never ends their wait for them."""
    asking = ", ".join(str(row.name or row.replica_id) for row in rows if row.state == "waiting_for_input")
    return f" {asking} asked something: {_answer(ctx)}" if asking else ""


@tools.tool(title="Wait for replicas", read_only=True, timeout=TOOL_TIMEOUT)
async def wait_for_replica(
    ctx: ToolContext,
    replica_id: Ids,
    until: Annotated[d.Until, Field(description="idle: nothing running or queued, or asking")] = "idle",
    mode: Annotated[d.JoinMode, Field(description="Several: any or all done")] = "all",
    timeout_s: Annotated[int, Field(ge=1, le=55)] = 40,
    cursor: Cursors = None,
) -> WaitResult:
    """Wait (bounded, with progress) until `until` holds. Per replica: state, queued, news (PRs, errors,
    questions), a cursor to pass back."""
    ids = [replica_id] if isinstance(replica_id, str) else list(dict.fromkeys(replica_id))
    single = ids[0] if len(ids) == 1 else None
    cursors: dict[str, d.Cursor] = {}
    for text in [cursor] if isinstance(cursor, str) else cursor or []:
        parsed = _cursor(text, single)
        if parsed.replica_id not in ids:
            raise ToolError("A cursor belongs to a replica that is not in replica_id.")
        cursors[parsed.replica_id] = parsed
    if single is not None:
        outcome = await d.wait_for_replica(
            client_of(ctx),
            single,
            until=until,
            within=timeout_s,
            cursor=cursors.get(single),
            policy=POLICY,
            progress=_reporter(ctx),
            memory=_memory(ctx),
        )
        if outcome.state == "deleted" and not cursors and not outcome.digest.events:
            raise ToolError(replica_not_found_message(single))
        row = row_of(outcome, Row)
        result = WaitResult(replicas=[row], next=_next_step(row, ctx))
        result._timed_out = outcome.timed_out
        return result
    names = await _names(ctx, ids)  # before the wait: its progress messages name each replica
    outcomes = await d.wait_many(
        client_of(ctx),
        [(rid, cursors.get(rid)) for rid in ids],
        mode=mode,
        until=until,
        within=timeout_s,
        policy=POLICY,
        progress=_reporter(ctx),
        memory=_memory(ctx),
        names=names,
    )
    rows = [row_of(outcome, Row, name=names.get(outcome.replica_id)) for outcome in outcomes]
    return WaitResult(replicas=rows, next=_join_step(rows, mode, ctx))


@tools.tool(title="Get replica result", read_only=True)
async def get_replica_result(ctx: ToolContext, replica_id: Id, chat_id: Id | None = None) -> ReportResult:
    """Hand-off report: outcome, final message, PRs, diff stats, canvas, errors, questions. Never wakes
    it."""
    return await _report(ctx, replica_id, chat_id)
