"""Wire shapes of the workspace records: the spec's JSON objects (REST answers, events, webhooks).

Outside strict mode some carry the sandbox's extensions (see docs/sandbox.md, "Extensions").
"""

from __future__ import annotations

from typing import Any

from replicas_mcp.sandbox.workspaces.records import Chat, ChatMessage, Replica, RepoState


def queued_message(message: ChatMessage) -> dict[str, Any]:
    """QueuedMessageInfo."""
    body: dict[str, Any] = {"id": message.id, "message": message.text, "queuedAt": message.queued_at}
    if message.sender_user_id:
        body["senderUserId"] = message.sender_user_id
    if message.sender_display_name:
        body["senderDisplayName"] = message.sender_display_name
    return body


def chat_json(chat: Chat, *, strict: bool) -> dict[str, Any]:
    """ReplicaChat; outside strict mode also `awaitingInput` and `lastMessageText` (extensions)."""
    body: dict[str, Any] = {
        "id": chat.id,
        "provider": chat.provider,
        "title": chat.title,
        "created_at": chat.created_at,
        "updated_at": chat.updated_at,
        "processing": chat.processing,
    }
    if not strict:
        body.update(awaitingInput=chat.awaiting_input, lastMessageText=chat.last_message_text)
    return body


def chat_summary(chat: Chat) -> dict[str, Any]:
    """EngineChatSummary (the engine's camelCase shape, used in events)."""
    return {
        "id": chat.id,
        "provider": chat.provider,
        "title": chat.title,
        "createdAt": chat.created_at,
        "updatedAt": chat.updated_at,
        "processing": chat.processing,
        "awaitingInput": chat.awaiting_input,
        "parentChatId": chat.parent_chat_id,
        "lastMessageText": chat.last_message_text,
    }


def repo_reference(repo: RepoState) -> dict[str, Any]:
    """RepositoryReference."""
    return {"id": repo.id, "name": repo.name, "url": repo.url}


def repo_status(repo: RepoState, *, full_diff: bool) -> dict[str, Any]:
    """RepositoryStatus; `full_diff` only with include=diffs (the text can be long)."""
    git_diff = None
    if repo.diff:
        git_diff = {"added": repo.added, "removed": repo.removed, "full_diff": repo.diff if full_diff else ""}
    return {
        "repository": repo.name,
        "branch": repo.branch,
        "default_branch": repo.default_branch,
        "pr_urls": list(repo.pr_urls),
        "start_hooks_completed": repo.start_hooks_completed,
        "git_diff": git_diff,
    }


def repo_engine_state(repo: RepoState) -> dict[str, Any]:
    """EngineRepoState."""
    return {
        "name": repo.name,
        "path": f"/home/replicas/workspaces/{repo.name}",
        "defaultBranch": repo.default_branch,
        "currentBranch": repo.branch,
        "prUrls": list(repo.pr_urls),
        "gitDiff": {"added": repo.added, "removed": repo.removed, "fullDiff": repo.diff}
        if repo.diff
        else None,
        "startHooksCompleted": repo.start_hooks_completed,
        "provider": "gitlab" if "gitlab" in repo.url else "github",
    }


def list_item(replica: Replica, *, strict: bool) -> dict[str, Any]:
    """ReplicaListItem; outside strict mode also `user_id` and `environment_id` (extensions)."""
    body = {
        "id": replica.id,
        "name": replica.name,
        "status": replica.status,
        "source": replica.source,
        "created_at": replica.created_at,
        "last_activity_at": replica.last_activity_at,
        "repositories": [repo_reference(repo) for repo in replica.repos],
        "pull_requests": [dict(pr) for pr in replica.pull_requests],
    }
    if not strict:
        body.update(user_id=replica.user_id, environment_id=replica.environment_id)
    return body


def webhook_summary(replica: Replica) -> dict[str, Any]:
    """The `replica` object of a webhook delivery."""
    return {
        "id": replica.id,
        "name": replica.name,
        "status": replica.status,
        "source": replica.source,
        "created_at": replica.created_at,
    }
