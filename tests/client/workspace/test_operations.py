"""Every workspace operation of the client against the sandbox (replicas, chats, queue, history, canvas,
hooks, repositories), other organizations kept apart, and both 409 branches: sleeping vs. error state."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import (
    ConflictError,
    NotFoundError,
    WorkspaceErrorStateError,
    WorkspaceSleepingError,
)
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_OTHER_ORG_KEY

from ...helpers import force_status
from .helpers import (
    CHATS,
    CREATE,
    DEADLINE,
    HISTORY,
    active_replica,
    assert_no_canary,
    stats,
    wait_for_status,
    wait_idle,
)

# --- every operation ---------------------------------------------------------------------------------------


async def test_repositories_and_sets(client: ReplicasClient) -> None:
    with anyio.fail_after(DEADLINE):
        repositories = await client.repositories.list()
        sets = await client.repositories.list_sets()
    assert repositories
    assert all(repo.id and repo.name for repo in repositories)
    assert all(isinstance(repo_set.repositories, list) for repo_set in sets)


async def test_replica_lifecycle(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    with anyio.fail_after(DEADLINE):
        bound = next(env for env in await client.environments.list() if env.repository_id)
        created = await client.replicas.create(
            environment_id=bound.id, name="lifecycle", message="Fix the login timeout [[pr]]"
        )
    assert created.name == "lifecycle"
    assert created.status == "preparing"  # the dated API version answers at once
    assert stats(canary_sandbox, "POST", CREATE) == 1

    with anyio.fail_after(DEADLINE):
        page = await client.replicas.list(limit=1)
        assert page.total >= 1
        assert [item.id async for item in client.replicas.iter(page_size=1)].count(created.id) == 1
        found = await client.replicas.find_by_name("lifecycle")
        assert found is not None
        assert found.id == created.id
        assert await client.replicas.find_by_name("no-such-replica") is None
    await wait_for_status(client, created.id, "active")
    await wait_idle(client, created.id)

    with anyio.fail_after(DEADLINE):
        details = await client.replicas.get(created.id, include=("environment", "diffs"))
        assert details.id == created.id
        assert details.repository_statuses
        result = await client.replicas.send_message(created.id, "Also add tests")
        assert result.status in ("sent", "queued")
        await client.replicas.delete(created.id)
        await client.replicas.delete(created.id)  # idempotent
        assert await client.replicas.status(created.id) is None
        with pytest.raises(NotFoundError):
            await client.replicas.get("00000000-0000-0000-0000-000000000000")


async def test_chats_queue_history_canvas_hooks(client: ReplicasClient) -> None:
    replica = await active_replica(client, "workbench", "Write notes [[canvas:markdown]]")
    await wait_idle(client, replica.id)
    with anyio.fail_after(DEADLINE):
        chats = await client.chats.list(replica.id)
        assert chats
        main_chat = chats[0]

        # Keep the agent busy so the next messages queue up.
        await client.replicas.send_message(replica.id, "Long job [[slow:30]]", chat_id=main_chat.id)
        first = await client.replicas.send_message(replica.id, "queued one", chat_id=main_chat.id)
        second = await client.replicas.send_message(replica.id, "queued two", chat_id=main_chat.id)
        third = await client.replicas.send_message(replica.id, "queued three", chat_id=main_chat.id)
        assert first.status == second.status == third.status == "queued"
        assert first.message_id
        assert second.message_id
        assert third.message_id

        queue = await client.queue.get(replica.id, main_chat.id)
        assert [item.id for item in queue.queue] == [first.message_id, second.message_id, third.message_id]
        reordered = await client.queue.reorder(replica.id, main_chat.id, third.message_id, 0)
        assert reordered.queue[0].id == third.message_id
        removed = await client.queue.remove(replica.id, main_chat.id, first.message_id)
        assert first.message_id not in [item.id for item in removed.queue]
        cleared = await client.queue.clear(replica.id, main_chat.id)
        assert cleared.queue == []
    await wait_idle(client, replica.id)  # the history stops growing
    with anyio.fail_after(DEADLINE):
        history = await client.history.read(replica.id, chat_id=main_chat.id, limit=2)
        assert history.total >= 2
        assert len(history.events) == 2
        newest_first = [
            event
            async for event in client.history.iter_from_end(replica.id, chat_id=main_chat.id, page_size=3)
        ]
        assert len(newest_first) == history.total
        assert [event.timestamp for event in newest_first] == sorted(
            (event.timestamp for event in newest_first), key=lambda ts: ts or "", reverse=True
        )
        assert newest_first[:2] == list(reversed(history.events))

        side = await client.chats.create(replica.id, provider="codex", title="Side quest")
        assert side.provider == "codex"
        assert side.id in [chat.id for chat in await client.chats.list(replica.id)]
        await client.chats.delete(replica.id, side.id)
        assert side.id not in [chat.id for chat in await client.chats.list(replica.id)]

        items = await client.canvas.list(replica.id)
        note = next(item for item in items if item.kind == "markdown")
        content = await client.canvas.get(replica.id, note.filename)
        assert content.content
        assert not content.tooLarge
        with pytest.raises(NotFoundError):
            await client.canvas.get(replica.id, "../../etc/passwd")

        hooks = await client.hooks.get(replica.id)
        assert isinstance(hooks.warm_hooks, dict)
        assert isinstance(hooks.start_hooks, dict)


async def test_other_organization_sees_nothing(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "private")
    other = client.with_api_key(DEFAULT_OTHER_ORG_KEY)
    with anyio.fail_after(DEADLINE):
        assert await other.replicas.status(replica.id) is None
        with pytest.raises(NotFoundError):
            await other.chats.list(replica.id)


# --- 409: sleeping vs. error state ---------------------------------------------------------------------


async def test_a_sleeping_workspace_read_then_wake_and_wait(
    client: ReplicasClient, canary_sandbox: RunningSandbox, wake_reads: WakeReads
) -> None:
    replica = await active_replica(client, "sleepy")
    await force_status(canary_sandbox, replica.id, "sleeping")
    with anyio.fail_after(DEADLINE):
        status = await client.replicas.status(replica.id)  # list-based: does not wake it
        assert status is not None
        assert status.status == "sleeping"
        if wake_reads == "guide":  # 409, never retried
            with pytest.raises(WorkspaceSleepingError) as info:
                await client.chats.list(replica.id)
            assert_no_canary(info.value)
        else:  # 200 with waking: true, and the read started the wake
            chats = await client.chats.list(replica.id)
            assert chats.waking
            history = await client.history.read(replica.id)
            assert history.waking
        assert stats(canary_sandbox, "GET", CHATS) == 1
        woken = await client.replicas.wake_and_wait(replica.id, timeout=DEADLINE, poll_interval=0.02)
    assert woken.status == "active"
    with anyio.fail_after(DEADLINE):
        assert await client.chats.list(replica.id)


async def test_wake_and_wait_wakes_even_when_the_wake_endpoint_answers_409_sleeping(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    # The guide lists `POST /wake` among the calls that answer 409 while the workspace is sleeping (the
    # contract has no such endpoint). The contract's way then wakes it: reading its details.
    replica = await active_replica(client, "stubborn")
    await force_status(canary_sandbox, replica.id, "sleeping")
    canary_sandbox.faults.inject_status(409, route="/v1/replica/{id}/wake", method="POST")
    with anyio.fail_after(DEADLINE):
        woken = await client.replicas.wake_and_wait(replica.id, timeout=DEADLINE / 2, poll_interval=0.02)
    assert woken.status == "active"


async def test_409_error_state_is_terminal(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    replica = await active_replica(client, "doomed")
    await force_status(canary_sandbox, replica.id, "error")
    with anyio.fail_after(DEADLINE):
        with pytest.raises(WorkspaceErrorStateError) as info:
            await client.history.read(replica.id)
        assert_no_canary(info.value)
        with pytest.raises(WorkspaceErrorStateError):
            await client.replicas.wake_and_wait(replica.id, timeout=DEADLINE, poll_interval=0.02)


@pytest.mark.parametrize(
    ("status", "error_type"), [("sleeping", WorkspaceSleepingError), ("error", WorkspaceErrorStateError)]
)
async def test_409_without_telling_text_is_classified_by_list_status(
    client: ReplicasClient, canary_sandbox: RunningSandbox, status: str, error_type: type[ConflictError]
) -> None:
    replica = await active_replica(client, f"vague-{status}")
    await force_status(canary_sandbox, replica.id, status)
    # An injected 409 says only "Injected 409": the client asks the list endpoint (which never wakes).
    canary_sandbox.faults.inject_status(409, route=HISTORY, method="GET")
    with anyio.fail_after(DEADLINE), pytest.raises(error_type) as info:
        await client.history.read(replica.id)
    assert "workspace status" in str(info.value)
    assert stats(canary_sandbox, "GET", "/v1/replica/{id}", handled=True) == 0  # never woken by a GET
