"""The rows and results of the delegation tools (`toolsets/delegation.py`): one row per replica as a wait
or a launch left it, and the text a model reads of them. Output schemas hold what an agent acts on; the text
(`to_text`) says a little more."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, PrivateAttr

from replicas_mcp import delegation as d
from replicas_mcp.server.errors import describe
from replicas_mcp.server.safety import WORKSPACE, clean_name, fence, truncate
from replicas_mcp.server.tools import ToolResult


class Row(BaseModel):
    """One replica as a wait (or a launch) left it; its text also counts the events read."""

    replica_id: str | None = None  # None: a task of a list not started yet
    name: str | None = None
    state: str  # preparing|working|idle|waiting_for_input|sleeping|archived|error|deleted
    # (lists also: pending, failed_to_start, name_taken)
    done: bool = False  # the condition holds, or the replica stopped (asleep, error, gone)
    queued: int = 0  # messages waiting for the agent (a default wait is never done while any are)
    news: list[str] = []  # "PR <url>" opened, "error: …", "asked: <fenced question>"
    cursor: str | None = None
    _events: int = PrivateAttr(default=0)
    _turns: int = PrivateAttr(default=0)  # turns completed

    def label(self) -> str:
        return self.name or self.replica_id or "-"

    def line(self, label: str | None = None) -> str:
        # An asking replica's wait is over too, but "done" would read as finished: its state says it.
        finished = self.done and self.state != "waiting_for_input"
        parts = [f"{label or self.label()}: {self.state}{' (done)' if finished else ''}"]
        if self._events:
            parts.append(f"{self._events} events")
        if self._turns:
            parts.append(f"{self._turns} turn(s) completed")
        if self.queued:
            parts.append(f"{self.queued} queued")
        asked = [item for item in self.news if item.startswith(ASKED)]
        text = " · ".join(parts + [item for item in self.news if not item.startswith(ASKED)])
        return "\n".join([text, *asked])


class Launch(Row):
    name: str
    created: bool = False  # False: a replica of that name existed already (or the task is pending)


R = TypeVar("R", bound=Row)
ASKED = "asked: "


def row_of(outcome: d.WaitOutcome, kind: type[R], **extra: Any) -> R:
    if extra.get("name") is None:  # the name the wait saw in the list, beside the id
        extra["name"] = outcome.name
    digest = outcome.digest
    rid = outcome.replica_id
    news = [f"PR {clean_name(url, 300)}" for url in digest.prs]
    news += [
        f"error: {fence(truncate(text, 300), f'error of replica {rid}', by=WORKSPACE)}"
        for text in digest.errors
    ]
    if digest.failed_turns:
        news.append(f"error: {digest.failed_turns} turn(s) failed")
    if outcome.error is not None:
        news.append(f"error: could not follow it: {describe(outcome.error)}")
    asked = list(dict.fromkeys([*digest.questions, *outcome.questions]))
    news += [ASKED + fence(q, f"question from replica {rid}") for q in asked]
    row = kind(
        replica_id=outcome.replica_id,
        state=outcome.state,
        done=outcome.satisfied or outcome.stopped,
        queued=outcome.queued,
        news=news,
        cursor=outcome.cursor.encode(),
        **extra,
    )
    row._events, row._turns = digest.events, digest.turns
    return row


def table(rows: Sequence[Row]) -> str:
    """One line per replica: name | id | state and news (names beside ids)."""
    return "\n".join(
        f"- {row.name or '-'} | {row.replica_id or '-'} | {row.line().split(': ', 1)[1]}"
        + (f"\n  cursor: {row.cursor}" if row.cursor and not row.done else "")
        for row in rows
    )


def tally(rows: Sequence[Row]) -> str:
    """E.g. "2/4 done, 1 asking": a replica waiting on a question is counted apart, not as done."""
    asking = sum(row.state == "waiting_for_input" for row in rows)
    done = sum(row.done for row in rows) - asking
    return f"{done}/{len(rows)} done" + (f", {asking} asking" if asking else "")


def next_line(step: str) -> str:
    """The "Next:" line, left out when nothing is left to say (a narrow tool selection dropped it all)."""
    return f"\nNext: {step}" if step.strip() else ""


class WaitResult(ToolResult):
    replicas: list[Row]
    next: str
    _timed_out: bool = PrivateAttr(default=False)

    def to_text(self) -> str:
        if len(self.replicas) == 1:
            row = self.replicas[0]
            status = "Timed out" if self._timed_out else "Returned"
            named = f"{row.name} ({row.replica_id})" if row.name and row.replica_id else None
            return f"{status}: {row.line(named)}\ncursor: {row.cursor}{next_line(self.next)}"
        return f"{tally(self.replicas)}:\n{table(self.replicas)}{next_line(self.next)}"


class DelegateResult(ToolResult):
    replicas: list[Launch]
    report: str | None = None  # one task: get_replica_result's report as text, once its turn is over
    next: str

    def to_text(self) -> str:
        if len(self.replicas) == 1:
            row = self.replicas[0]
            verb = "Created" if row.created else "Found existing"
            if self.report:  # the report names the replica and its state: said once
                body = f"{verb} r{self.report[1:]}" if self.report.startswith("R") else self.report
            else:
                body = f"{verb} replica {row.name} ({row.replica_id}).\n{row.line()}"
            return f"{body}\ncursor: {row.cursor}{next_line(self.next)}"
        rows = self.replicas
        started = sum(row.created for row in rows)
        pending = sum(row.state == "pending" for row in rows)
        counts = f"{started} started now, {tally(rows)}, {pending} pending"
        return f"{counts}\n{table(rows)}{next_line(self.next)}"
