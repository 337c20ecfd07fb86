"""Models keep unknown fields and accept unknown enum values; the package exports are stable."""

from __future__ import annotations

import replicas_mcp.client as client_package
import replicas_mcp.client.errors as errors_module
import replicas_mcp.client.models as models_package
from replicas_mcp.client.models import (
    EngineEvent,
    HistoryPage,
    ReplicaDetails,
    ReplicaListItem,
    SendMessageResult,
)


def test_unknown_fields_and_enum_values_are_kept() -> None:
    item = ReplicaListItem.model_validate(
        {"id": "r1", "name": "n", "status": "hibernating", "source": "cli", "new_field": {"x": 1}}
    )
    assert item.status == "hibernating"
    assert item.model_extra == {"new_field": {"x": 1}}


def test_details_parse_nested_wire_shapes() -> None:
    details = ReplicaDetails.model_validate(
        {
            "id": "r1",
            "name": "n",
            "status": "active",
            "coding_agent": "claude",
            "repository_statuses": [
                {
                    "repository": "monorepo",
                    "branch": "fix",
                    "default_branch": "main",
                    "pr_urls": [],
                    "start_hooks_completed": True,
                    "git_diff": {"added": 3, "removed": 1, "full_diff": None},
                }
            ],
            "chats": [{"id": "c1", "provider": "claude", "processing": True, "lastMessageText": "hi"}],
            "waking": False,
            "environment": None,
            "lastChatMessage": {"text": "hi", "agent": "claude"},
        }
    )
    assert details.repository_statuses[0].git_diff is not None
    assert details.repository_statuses[0].git_diff.added == 3
    assert details.chats[0].lastMessageText == "hi"


def test_small_models() -> None:
    assert SendMessageResult.model_validate({"status": "waking"}).message_id is None
    page = HistoryPage.model_validate(
        {"thread_id": None, "events": [{"type": "x", "payload": {}}], "total": 1}
    )
    assert page.events[0].type == "x"
    assert page.has_more is False
    assert (
        EngineEvent.model_validate({"type": "chat.created", "payload": {"chat": {"id": "c"}}}).chat_id == "c"
    )


def test_exports_are_unique_and_resolvable() -> None:
    # Their order is kept by ruff (RUF022); here: no duplicates, and every name exists.
    for module in (client_package, errors_module, models_package):
        names = list(module.__all__)
        assert len(names) == len(set(names)), module.__name__
        assert all(hasattr(module, name) for name in names), module.__name__


def test_error_tree_shape() -> None:
    from replicas_mcp.client.errors import (
        APIStatusError,
        ConflictError,
        ConnectError,
        InvalidIdentifierError,
        RateLimitedError,
        ReplicasError,
        RequestTimeoutError,
        TransportError,
        WakeTimeoutError,
        WorkspaceErrorStateError,
        WorkspaceSleepingError,
    )

    assert issubclass(ConnectError, TransportError)
    assert issubclass(RequestTimeoutError, TransportError)
    assert issubclass(WorkspaceSleepingError, ConflictError)
    assert issubclass(WorkspaceErrorStateError, ConflictError)
    assert issubclass(RateLimitedError, APIStatusError)
    assert issubclass(InvalidIdentifierError, ValueError)
    assert issubclass(WakeTimeoutError, TimeoutError)
    for name in errors_module.__all__:
        value = getattr(errors_module, name)
        if isinstance(value, type):
            assert issubclass(value, ReplicasError)
