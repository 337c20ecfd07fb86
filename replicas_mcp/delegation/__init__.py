"""Delegating coding work to replicas: bounded resumable waits, hand-off reports, fan-out and join.

Pure workflow logic over `replicas_mcp.client` (it never imports `mcp`); the MCP tools in
`replicas_mcp.server.toolsets.delegation` are thin wrappers around it.

- `cursor`: the opaque resume point of a wait (last event id, busy flag, PRs already reported).
- `phase`: what observed facts mean (working, idle, asking, stopped) and whether a wait is over; pure.
- `questions`: the questions an agent asks (interactive tool calls) and the one it is paused on.
- `snapshot`: one REST look at a replica's chats with the questions its busy chats are paused on.
- `tracking`: what a wait saw (state, digest), and whether its condition holds.
- `waiting`: one replica's wait: event stream first, list-endpoint polling when it is unavailable.
- `fanout`: many replicas: join in `any`/`all` mode; start a batch with a parallelism limit.
- `launch`: stable names and create-once; a chosen name is reused only for the same task.
- `steering`: correcting a busy agent through its queue (append, next, replace_queue).
- `report`: the hand-off report (outcome, final message, PRs, diff stats, canvas, failed hooks, questions).
- `progress`: numbered progress with a heartbeat for quiet stretches.
"""

from __future__ import annotations

from replicas_mcp.delegation.cursor import Cursor, CursorError
from replicas_mcp.delegation.fanout import JoinMode, Launched, delegate_many, wait_many
from replicas_mcp.delegation.launch import NameHold, NameTaken, TaskSpec, launch, stable_name
from replicas_mcp.delegation.phase import DEFAULT_UNTIL, ChatFacts, phase, wait_over
from replicas_mcp.delegation.progress import Progress
from replicas_mcp.delegation.report import (
    MESSAGE_LIMIT,
    WAKE_TO_READ,
    ReplicaGone,
    RepoResult,
    Report,
    build_report,
)
from replicas_mcp.delegation.snapshot import ChatsSnapshot, read_chats
from replicas_mcp.delegation.steering import Steered, SteerMode, steer
from replicas_mcp.delegation.tracking import Digest, State, Until
from replicas_mcp.delegation.waiting import (
    DEFAULT_POLICY,
    MAX_TIMEOUT,
    WaitOutcome,
    WaitPolicy,
    wait_for_replica,
)

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_UNTIL",
    "MAX_TIMEOUT",
    "MESSAGE_LIMIT",
    "WAKE_TO_READ",
    "ChatFacts",
    "ChatsSnapshot",
    "Cursor",
    "CursorError",
    "Digest",
    "JoinMode",
    "Launched",
    "NameHold",
    "NameTaken",
    "Progress",
    "ReplicaGone",
    "RepoResult",
    "Report",
    "State",
    "SteerMode",
    "Steered",
    "TaskSpec",
    "Until",
    "WaitOutcome",
    "WaitPolicy",
    "build_report",
    "delegate_many",
    "launch",
    "phase",
    "read_chats",
    "stable_name",
    "steer",
    "wait_for_replica",
    "wait_many",
    "wait_over",
]
