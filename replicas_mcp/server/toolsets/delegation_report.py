"""The hand-off report as a tool result: what `get_replica_result` and `delegate_task` return for a replica,
with everything the workspace or the agent wrote fenced as untrusted."""

from __future__ import annotations

from pydantic import Field, PrivateAttr

from replicas_mcp import delegation as d
from replicas_mcp.server.safety import WORKSPACE, clean_name, fence, mask_text, truncate
from replicas_mcp.server.tools import ToolResult


class ReportResult(ToolResult):
    outcome: str
    message: str | None = None  # fenced; a note says when it was cut
    prs: list[str] = Field(default_factory=list)
    repos: list[str] = Field(default_factory=list)  # "acme/api on fix-login +12/-3"
    canvas: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)  # the workspace's error, failed hooks (fenced output)
    questions: list[str] = Field(default_factory=list)  # fenced
    notes: list[str] = Field(default_factory=list)
    _name: str = PrivateAttr(default="")
    _status: str = PrivateAttr(default="")  # the replica's own status: the text shows it beside the outcome

    def to_text(self) -> str:
        lines = [f"Replica {self._name}: {self.outcome}{self._states()}"]
        lines += [f"- {repo}" for repo in self.repos]
        if self.prs:
            lines.append(f"PRs: {', '.join(self.prs)}")
        lines += self.errors
        if self.canvas:
            lines.append(f"Canvas: {', '.join(self.canvas)}")
        if self.message:
            lines.append(f"Final message:\n{self.message}")
        # A question the final message already states is not shown a second time.
        asked = [q for q in self.questions if _fenced_body(q) not in (self.message or "")]
        if asked:
            lines.append("Open questions:\n" + "\n".join(asked))
        elif self.questions:
            lines.append("The agent is waiting for an answer to the question in its final message.")
        lines += self.notes
        return "\n".join(lines)

    def _states(self) -> str:
        """The workspace's status and, while it is active, what its agent does: "active" alone reads as
        still running on a replica whose agent is idle."""
        if self._status == self.outcome:  # "sleeping": said once
            return ""
        agent = _AGENT.get(self.outcome) if self._status == "active" else None
        return f" [workspace {self._status}{f', agent {agent}' if agent else ''}]"


# What an active workspace's agent does, by outcome (a failed turn leaves the agent idle too).
_AGENT = {"completed": "idle", "failed": "idle", "working": "working", "waiting_for_input": "asking"}


def _fenced_body(fenced: str) -> str:
    """The text inside a fence (its lines between the tag-and-note header and the closing tag)."""
    return fenced.split("\n", 2)[-1].rsplit("\n", 1)[0]


def _repo_line(repo: d.RepoResult) -> str:
    branch = f" on {clean_name(repo.branch)}" if repo.branch else ""
    stats = f" +{repo.added}/-{repo.removed}" if repo.added is not None else ""
    return f"{clean_name(repo.name)}{branch}{stats}"


def report_result(report: d.Report) -> ReportResult:
    rid = report.replica_id
    errors = (
        [f"Workspace error:\n{fence(truncate(report.error, 500), 'workspace error', by=WORKSPACE)}"]
        if report.error
        else []
    )
    errors += [
        f"Failed hook {clean_name(hook.hook)}: "
        f"{'timed out' if hook.timed_out else f'exit {hook.exit_code}'}\n"
        + fence(mask_text(hook.output), "hook output", by=WORKSPACE)
        for hook in report.failed_hooks
    ]
    notes = list(report.notes)
    if report.message and report.message_chars > d.MESSAGE_LIMIT:
        notes.insert(
            0,
            f"The final message shows its first {d.MESSAGE_LIMIT} of {report.message_chars} characters: "
            "read_replica_history has the rest.",
        )
    result = ReportResult(
        outcome=report.outcome,
        message=fence(report.message, "final message") if report.message else None,
        prs=[clean_name(url, 300) for url in report.pr_urls],
        repos=[_repo_line(repo) for repo in report.repos],
        canvas=[clean_name(item) for item in report.canvas],
        errors=errors,
        questions=[fence(q, "question") for q in report.questions],
        notes=notes,
    )
    result._name, result._status = f"{clean_name(report.name)} ({rid})", report.status
    return result
