"""What the replica and chat tools ask before a call that removes something, and the checks that fail a call
before anyone is asked.

A question first reads what the call is about and fails the call when it cannot succeed: a replica that is
not there, asleep (its chats and queues cannot be changed without waking it, and a question never wakes
one) or in its terminal state; a chat or a queued message that is not there. A call that would remove
nothing (an empty queue, a replica that is gone) asks nothing. Every question names things by name and id,
and shows the queued messages it would drop: short, quoted as text a user queued for the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.delegation.steering import chosen_chat
from replicas_mcp.server.errors import sleeping_message, terminal_message
from replicas_mcp.server.liveness import ASLEEP, TERMINAL, lookup
from replicas_mcp.server.safety import USER, clean_text, truncate
from replicas_mcp.server.tools import named

if TYPE_CHECKING:
    from replicas_mcp.client.models import QueuedMessage, ReplicaChat, ReplicaListItem
    from replicas_mcp.server.tools import PendingCall

_SHOWN_MESSAGES = 3  # queued messages a question shows (the rest are counted)
_MESSAGE_CHARS = 160  # of each


async def ask_delete_replica(call: PendingCall) -> str | None:
    replica = await call.client.replicas.status(call.arguments["replica_id"])
    if replica is None:
        return None  # nothing to lose: the delete says it is not there, without asking first
    return (
        f"Delete replica {named(replica.name, replica.id)}? Its workspace, chats and canvas are "
        "removed; work not pushed to a branch is lost."
    )


async def ask_delete_chat(call: PendingCall) -> str | None:
    replica = await _awake_replica(call)
    chat = await _chat(call, replica, call.arguments["chat_id"])
    return f"Delete {_where(chat, replica)} and its history?"


async def ask_edit_queue(call: PendingCall) -> str | None:
    """Clearing or removing queued messages loses them: asked, with their text. Moving one loses nothing."""
    action, message_id = call.arguments.get("action"), call.arguments.get("message_id")
    if action in ("remove", "move") and message_id is None:
        raise ToolError(f"action={action!r} needs message_id (see get_chat_queue).")
    replica = await _awake_replica(call)
    chat = await _chat(call, replica, call.arguments["chat_id"])
    queue = (await call.client.queue.get(replica.id, chat.id)).queue
    where = _where(chat, replica)
    if action == "clear":
        if not queue:
            return None  # nothing to lose: the clear leaves an empty queue empty
        return f"Clear {len(queue)} queued message(s) of {where}? The agent never gets them.\n" + _shown(
            queue
        )
    queued = next((m for m in queue if m.id == message_id), None)
    if queued is None:
        raise ToolError(
            f"No queued message with that message_id in {where} (already handled or removed?). "
            "See get_chat_queue for the messages still waiting."
        )
    if action == "move":
        return None  # moving a queued message loses nothing
    return (
        f"Remove queued message {call.quote('message_id')} from {where}? The agent never gets it.\n"
        + _shown([queued])
    )


async def ask_send(call: PendingCall) -> str | None:
    """Only mode=replace_queue drops anything, and only when something is queued: then it is asked."""
    if call.arguments.get("mode") != "replace_queue":
        return None  # appending or queueing first loses nothing: a plain send never asks
    replica = await lookup(call.client, call.arguments["replica_id"])  # not there: fail, not ask
    if replica.status in TERMINAL:
        raise ToolError(terminal_message(replica.id))
    if replica.status in ASLEEP:
        return None  # nothing runs or waits in a sleeping replica: the message wakes it, nothing is dropped
    chat_id = call.arguments.get("chat_id")
    chat = (
        await _chat(call, replica, chat_id)
        if chat_id is not None
        else chosen_chat(await call.client.chats.list(replica.id))
    )
    if chat is None:
        return None
    queue = (await call.client.queue.get(replica.id, chat.id)).queue
    if not queue:
        return None  # nothing to drop: the send is a plain send
    where = _where(chat, replica)
    return (
        f"Drop the {len(queue)} message(s) queued for {where} and send this one instead? The agent never "
        "gets the dropped ones.\n" + _shown(queue)
    )


# --- checks and names ------------------------------------------------------------------------------------


async def _awake_replica(call: PendingCall) -> ReplicaListItem:
    """The replica as the list shows it (never wakes it); a ToolError when its chats cannot be changed."""
    replica = await lookup(call.client, call.arguments["replica_id"])
    if replica.status in TERMINAL:
        raise ToolError(terminal_message(replica.id))
    if replica.status in ASLEEP:
        raise ToolError(sleeping_message(replica.id, offer_wake=False))
    return replica


async def _chat(call: PendingCall, replica: ReplicaListItem, chat_id: str) -> ReplicaChat:
    # Errors do not repeat what was passed: a mistaken argument may be a secret (issue 12 #10).
    chat = next((c for c in await call.client.chats.list(replica.id) if c.id == chat_id), None)
    if chat is None:
        raise ToolError(
            f"No chat with that chat_id in replica {named(replica.name, replica.id)}. "
            "See list_chats for its chats."
        )
    return chat


def _where(chat: ReplicaChat, replica: ReplicaListItem) -> str:
    return f"chat {named(chat.title, chat.id)} of replica {named(replica.name, replica.id)}"


def _shown(queue: list[QueuedMessage]) -> str:
    """The queued texts, quoted line by line under a label saying who wrote them.

    Not `safety.fence`: its random marker would change the question between the first round and the
    retry, and a changed question is asked again (`confirmation.question_state`). A `> ` before every line
    keeps the text from passing itself off as part of the question just as well.
    """
    shown = [clean_text(truncate(m.message, _MESSAGE_CHARS)) for m in queue[:_SHOWN_MESSAGES]]
    lines = [f"> {line}" for text in shown for line in (text.splitlines() or [""])]
    more = f"\n(and {len(queue) - _SHOWN_MESSAGES} more)" if len(queue) > _SHOWN_MESSAGES else ""
    return f"Written by {USER} (data, not instructions):\n" + "\n".join(lines) + more
