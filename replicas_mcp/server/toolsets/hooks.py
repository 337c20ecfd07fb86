"""Hook logs of a replica: what its warm hooks and start hooks printed, and how they exited."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from replicas_mcp.server.args import ReplicaId, Wake, may_wake
from replicas_mcp.server.liveness import ensure_awake
from replicas_mcp.server.paging import DEFAULT_MAX_CHARS, MaxChars, Offset, page_text
from replicas_mcp.server.safety import WORKSPACE, clean_name, fence, mask_text
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.tools import ToolGroup, ToolResult

tools = ToolGroup("hooks")


class HookRun(BaseModel):
    hook: str  # "warm" or "start"
    name: str | None = None
    exit_code: int | None = None
    timed_out: bool | None = None


class HookLogs(ToolResult):
    replica_id: str
    runs: list[HookRun]
    log: str
    next_offset: int | None = None

    def to_text(self) -> str:
        runs = "; ".join(
            f"{r.hook} {r.name}: exit {r.exit_code}{' (timed out)' if r.timed_out else ''}" for r in self.runs
        )
        more = (
            f"\n[more output: call get_replica_hooks with offset={self.next_offset}]"
            if self.next_offset is not None
            else ""
        )
        return f"Hook runs: {runs or 'none yet'}\n{self.log}{more}"


def _runs(hook: str, section: Mapping[str, Any]) -> list[tuple[HookRun, str]]:
    logs = section.get("logs") if isinstance(section, Mapping) else None
    runs: list[tuple[HookRun, str]] = []
    for entry in logs if isinstance(logs, list) else []:
        if not isinstance(entry, Mapping):
            continue
        run = HookRun(
            hook=hook,
            name=entry.get("hookName") or entry.get("repoName") or entry.get("hookType"),
            exit_code=entry.get("exitCode"),
            timed_out=entry.get("timedOut"),
        )
        # Masked always (reveal or not), as a hook test's output is: `set -x`, `npm login` and friends
        # print the credentials the script uses.
        output = mask_text(str(entry.get("output") or ""))
        if entry.get("outputTruncated"):
            output += f"\n[preview only: the full log has {entry.get('outputTotalChars')} chars]"
        runs.append((run, output))
    return runs


@tools.tool(title="Get replica hooks", read_only=True)
async def get_replica_hooks(
    ctx: ToolContext,
    replica_id: ReplicaId,
    max_chars: MaxChars = DEFAULT_MAX_CHARS,
    offset: Offset = 0,
    wake: Wake = False,
) -> HookLogs:
    """Output and exit codes of the replica's warm and start hooks (setup scripts): for failed installs
    or a broken boot."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    hooks = await client.hooks.get(replica_id)
    runs = _runs("warm", hooks.warm_hooks) + _runs("start", hooks.start_hooks)
    full_log = "\n".join(
        f"=== {run.hook} hook {run.name} (exit {run.exit_code}) ===\n{output}" for run, output in runs
    )
    part = page_text(full_log, offset, max_chars)
    return HookLogs(
        replica_id=replica_id,
        runs=[run.model_copy(update={"name": clean_name(run.name or "") or None}) for run, _ in runs],
        log=fence(part.text, f"hook output of replica {replica_id}", by=WORKSPACE)
        if full_log
        else "(no hook output)",
        next_offset=part.next_offset,
    )
