"""Simulated GitHub and GitLab events that fire matching automations, so they can be tried offline.

`POST /_sandbox/events/{github|gitlab}` (a control route: no key, never subject to faults) takes
`{"event", "repository", "number", "actor", "title", "comment"}`: `event` is one of the provider's trigger
events (or `push` / `comment`, read as `pull_request.synchronize` / `pull_request.command` on GitHub and
`merge_request.updated` on GitLab); `repository` is a repository id or its `owner/name`; a command event
needs the `comment` that carries the command. The repository's organization is the one whose automations
are considered: every enabled automation with a trigger of that provider and event fires, unless its
`repository_ids` leave the repository out or its `excluded_actors` name the actor (case-insensitive,
a leading `@` ignored). `group_pr_events` is not simulated: each event starts a new run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from replicas_mcp.sandbox.automations.records import AutomationRecord
from replicas_mcp.sandbox.automations.store import AutomationStore, launch_message
from replicas_mcp.sandbox.automations.triggers import GITHUB_EVENTS, GITLAB_EVENTS
from replicas_mcp.sandbox.environments.records import RepositoryRecord
from replicas_mcp.sandbox.errors import bad_request, not_found
from replicas_mcp.sandbox.http import (
    expect_choice,
    expect_int,
    expect_optional_str,
    expect_str,
    require,
)

PROVIDER_EVENTS = {"github": GITHUB_EVENTS, "gitlab": GITLAB_EVENTS}
ALIASES = {
    ("github", "push"): "pull_request.synchronize",
    ("github", "comment"): "pull_request.command",
    ("gitlab", "push"): "merge_request.updated",
}
COMMAND_EVENTS = ("pull_request.command",)


@dataclass(frozen=True)
class RepoEvent:
    provider: str
    event: str
    repository: RepositoryRecord
    number: int
    actor: str
    title: str
    comment: str | None

    def payload(self) -> dict[str, Any]:
        """The execution's `trigger_payload` (and the context written into the agent's prompt)."""
        path = "pull" if self.provider == "github" else "-/merge_requests"
        body: dict[str, Any] = {
            "source": self.provider,
            "event": self.event,
            "repository_id": self.repository.id,
            "repository": self.repository.name,
            "number": self.number,
            "url": f"{self.repository.url.rstrip('/')}/{path}/{self.number}",
            "title": self.title,
            "actor": self.actor,
        }
        if self.comment is not None:
            body["comment"] = self.comment
        return body


def parse_event(
    provider: str, body: dict[str, Any], repositories: Iterable[tuple[AutomationStore, RepositoryRecord]]
) -> tuple[AutomationStore, RepoEvent]:
    """The event described by a control-route body, and the automations of the repository's organization.

    `repositories` pairs every repository with its organization's automation store.
    """
    if provider not in PROVIDER_EVENTS:
        raise not_found("Event provider", provider)
    events = PROVIDER_EVENTS[provider]
    raw_event = expect_str(require(body, "event"), "event")
    event = expect_choice(ALIASES.get((provider, raw_event), raw_event), "event", events)
    wanted = expect_str(require(body, "repository"), "repository")
    found = next(
        ((store, repo) for store, repo in repositories if wanted in (repo.id, repo.name, repo.full_name)),
        None,
    )
    if found is None:
        raise bad_request(
            "Unknown repository", f"No organization has a repository {wanted!r} (id or owner/name)."
        )
    store, repository = found
    comment = expect_optional_str(body.get("comment"), "comment")
    if event in COMMAND_EVENTS and not comment:
        raise bad_request(
            "Missing required field 'comment'", "A command event needs the comment with the command."
        )
    return store, RepoEvent(
        provider=provider,
        event=event,
        repository=repository,
        number=expect_int(body.get("number", 1), "number", minimum=1, maximum=10**9),
        actor=expect_optional_str(body.get("actor"), "actor") or "sandbox-dev",
        title=expect_optional_str(body.get("title"), "title") or "Sandbox change",
        comment=comment,
    )


def matches(automation: AutomationRecord, event: RepoEvent) -> bool:
    actor = event.actor.lower().lstrip("@")
    for trigger in automation.triggers:
        config = trigger["config"]
        if trigger["type"] != event.provider or config["event"] != event.event:
            continue
        if event.repository.id not in config.get("repository_ids", [event.repository.id]):
            continue
        if actor in (excluded.lower().lstrip("@") for excluded in config.get("excluded_actors", [])):
            continue
        return True
    return False


def deliver(store: AutomationStore, event: RepoEvent) -> list[dict[str, Any]]:
    """Fire every matching automation of the store; one entry per run started."""
    fired = []
    payload = event.payload()
    pr = {"repository_id": event.repository.id, "number": event.number}
    for automation in store.enabled():
        if matches(automation, event):
            execution = store.launch(automation, payload, launch_message(automation, payload, pr))
            fired.append(
                {
                    "automation_id": automation.id,
                    "execution_id": execution.id,
                    "workspace_id": execution.workspace_id,
                }
            )
    return fired
