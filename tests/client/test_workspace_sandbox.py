"""The workspace side of the client against the sandbox over real loopback HTTP.

Every operation of replicas, chats, queue, history, canvas, hooks, events and repositories, then the
faults: 429 with Retry-After, bursts of 503, dropped connections, a create that times out after it was
handled, an SSE drop and resume, and both 409 branches. The sandbox is strict (the vendor contract's
fields and rules only) and every test runs under both documents' answers to a sleeping workspace's reads
(the guide's 409, the contract's 200 with `waking: true`). The sandbox's organization key here is a
canary: no exception text, repr or log record of any test in this module may contain it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import (
    ConflictError,
    CreateOutcomeUnknownError,
    NotFoundError,
    RateLimitedError,
    ReplicasError,
    ServerError,
    TransportError,
    WorkspaceErrorStateError,
    WorkspaceSleepingError,
)
from replicas_mcp.client.models import EngineEvent, ReplicaListItem
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_NAME, DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, ApiKey

from ..helpers import force_status
from .client_helpers import CANARY_KEY

# Each await talks to a local sandbox whose simulated time runs 50x fast.
DEADLINE = 10
TIME_SCALE = 0.02

LIST = "/v1/replica"
CREATE = "/v1/replica"
MESSAGES = "/v1/replica/{id}/messages"
CHATS = "/v1/replica/{id}/chats"
HISTORY = "/v1/replica/{id}/history"


@pytest.fixture(params=["guide", "contract"])
def wake_reads(request: pytest.FixtureRequest) -> WakeReads:
    """How reads of a sleeping workspace are answered: the guide's 409 or the contract's 200 + waking."""
    value: WakeReads = request.param
    return value


@pytest.fixture
async def canary_sandbox(wake_reads: WakeReads) -> AsyncIterator[RunningSandbox]:
    """A strict sandbox of its own whose organization key is the canary (the shared fixture's is not)."""
    keys = (
        ApiKey(CANARY_KEY, DEFAULT_ORG_NAME, "org"),
        ApiKey(DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, "org"),
    )
    async with running_sandbox(
        time_scale=TIME_SCALE, keys=keys, strict=True, wake_reads=wake_reads
    ) as running:
        yield running


@pytest.fixture
async def client(canary_sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=CANARY_KEY, base_url=canary_sandbox.base_url, timeout=5.0) as api:
        api.replicas.reconcile_delays = (0.0, 0.05)
        yield api


@pytest.fixture(autouse=True)
def canary_never_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at DEBUG and check none of them carries the key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        rendered = record.getMessage() + (record.exc_text or "")
        assert CANARY_KEY not in rendered, f"{record.name} logged the API key"


def assert_no_canary(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "details", "")), str(error.__cause__)):
        assert CANARY_KEY not in text


def stats(canary_sandbox: RunningSandbox, method: str, route: str, *, handled: bool = False) -> int:
    return canary_sandbox.faults.stats.count(method, route, handled=handled)


async def wait_for_status(client: ReplicasClient, replica_id: str, wanted: str) -> ReplicaListItem:
    with anyio.fail_after(DEADLINE):
        while True:
            item = await client.replicas.status(replica_id)
            assert item is not None
            if item.status == wanted:
                return item
            await anyio.sleep(0.02)


async def active_replica(client: ReplicasClient, name: str, message: str = "Say hello") -> ReplicaListItem:
    with anyio.fail_after(DEADLINE):
        created = await client.replicas.create(environment_id="global", name=name, message=message)
    return await wait_for_status(client, created.id, "active")


async def wait_idle(client: ReplicasClient, replica_id: str) -> None:
    """Until no chat of the replica is processing a turn."""
    with anyio.fail_after(DEADLINE):
        while any(chat.processing for chat in await client.chats.list(replica_id)):
            await anyio.sleep(0.02)


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


# --- retries and faults ----------------------------------------------------------------------------------


async def test_429_with_retry_after_is_retried(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "throttled")
    canary_sandbox.faults.inject_status(429, route=LIST, method="GET", retry_after=0.05)
    canary_sandbox.faults.inject_status(429, route=MESSAGES, method="POST", retry_after=0.05)
    before = stats(canary_sandbox, "GET", LIST)
    with anyio.fail_after(DEADLINE):
        await client.replicas.list()
        result = await client.replicas.send_message(replica.id, "hello again")
    assert result.status in ("sent", "queued")
    assert stats(canary_sandbox, "GET", LIST) - before == 2
    assert stats(canary_sandbox, "POST", MESSAGES) == 2
    assert stats(canary_sandbox, "POST", MESSAGES, handled=True) == 1


async def test_retry_after_over_the_cap_raises_with_the_wait(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    canary_sandbox.faults.inject_status(429, route=LIST, method="GET", retry_after=600)
    with anyio.fail_after(DEADLINE), pytest.raises(RateLimitedError) as info:
        await client.replicas.list()
    assert info.value.retry_after == 600
    assert stats(canary_sandbox, "GET", LIST) == 1
    assert_no_canary(info.value)


async def test_bursts_of_503(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    canary_sandbox.faults.inject_status(503, route=LIST, method="GET", times=2)
    with anyio.fail_after(DEADLINE):
        await client.replicas.list()
    assert stats(canary_sandbox, "GET", LIST) == 3  # two retries, then success

    canary_sandbox.faults.inject_status(503, route=LIST, method="GET", times=3)
    with anyio.fail_after(DEADLINE), pytest.raises(ServerError) as info:
        await client.replicas.list()
    assert stats(canary_sandbox, "GET", LIST) == 6  # at most two retries
    assert_no_canary(info.value)


async def test_post_is_not_retried_on_503_without_retry_after(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "unretried")
    canary_sandbox.faults.inject_status(503, route=MESSAGES, method="POST")
    with anyio.fail_after(DEADLINE), pytest.raises(ServerError):
        await client.replicas.send_message(replica.id, "hello")
    assert stats(canary_sandbox, "POST", MESSAGES) == 1


async def test_dropped_connections(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    replica = await active_replica(client, "flaky")
    canary_sandbox.faults.drop_connection(route=CHATS, method="GET")
    with anyio.fail_after(DEADLINE):
        assert await client.chats.list(replica.id)  # a GET is retried
    assert stats(canary_sandbox, "GET", CHATS) == 2

    canary_sandbox.faults.drop_connection(route=MESSAGES, method="POST")
    with anyio.fail_after(DEADLINE), pytest.raises(TransportError) as info:
        await client.replicas.send_message(replica.id, "hello")  # a POST may have been received: not retried
    assert stats(canary_sandbox, "POST", MESSAGES) == 1
    assert_no_canary(info.value)


async def test_create_that_times_out_after_sending_is_reconciled(canary_sandbox: RunningSandbox) -> None:
    # The sandbox creates the replica, then answers late; the client gives up after 0.3 s.
    canary_sandbox.faults.add_latency(1.0, route=CREATE, method="POST", when="after", times=1)
    async with ReplicasClient(api_key=CANARY_KEY, base_url=canary_sandbox.base_url, timeout=0.3) as client:
        with anyio.fail_after(DEADLINE):
            found = await client.replicas.create(environment_id="global", name="slow-create", message="hello")
            listed = await client.replicas.find_by_name("slow-create")
    assert listed is not None
    assert found.id == listed.id
    assert stats(canary_sandbox, "POST", CREATE) == 1
    assert stats(canary_sandbox, "POST", CREATE, handled=True) == 1
    assert (
        len(
            [
                item
                for item in canary_sandbox.world.org(DEFAULT_ORG_NAME).workspaces.replicas.values()
                if item.name == "slow-create"
            ]
        )
        == 1
    )


@pytest.mark.parametrize("fault", ["status-500", "drop"])
async def test_create_with_unknown_outcome_and_no_replica(
    client: ReplicasClient, canary_sandbox: RunningSandbox, fault: str
) -> None:
    if fault == "drop":
        canary_sandbox.faults.drop_connection(route=CREATE, method="POST")
    else:
        canary_sandbox.faults.inject_status(500, route=CREATE, method="POST")
    with anyio.fail_after(DEADLINE), pytest.raises(CreateOutcomeUnknownError) as info:
        await client.replicas.create(environment_id="global", name="ghost", message="hello")
    assert info.value.name == "ghost"
    assert stats(canary_sandbox, "POST", CREATE) == 1  # never sent twice
    assert_no_canary(info.value)


async def test_create_retries_429_with_retry_after(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    canary_sandbox.faults.inject_status(429, route=CREATE, method="POST", retry_after=0.05)
    with anyio.fail_after(DEADLINE):
        created = await client.replicas.create(environment_id="global", name="patient", message="hello")
    assert created.name == "patient"
    assert stats(canary_sandbox, "POST", CREATE) == 2
    assert stats(canary_sandbox, "POST", CREATE, handled=True) == 1


# --- events --------------------------------------------------------------------------------------------


async def test_event_stream_resumes_after_a_drop(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "streamer")
    await wait_idle(client, replica.id)
    canary_sandbox.faults.drop_sse_after(2, replica_id=replica.id)
    received: list[EngineEvent] = []
    stream = client.events.stream(replica.id)
    with anyio.fail_after(DEADLINE):
        async with stream as events:
            await client.replicas.send_message(replica.id, "Refactor the parser")
            async for event in events:
                received.append(event)
                if event.type == "chat.turn.completed":
                    break
    assert stream.reconnects == 1
    assert stats(canary_sandbox, "GET", "/v1/replica/{id}/events") == 2
    ids = [event.id for event in received]
    assert len(ids) == len(set(ids)), "an event was repeated"
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    logged = [event.id for event in found[1].events.since(0)]
    start = logged.index(ids[0])
    assert ids == logged[start : start + len(ids)], "an event was lost"
    assert len(ids) > 2  # some came after the drop
    assert all(isinstance(event.payload, dict) for event in received)


async def test_event_stream_replays_from_last_event_id(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "replayer")
    await wait_idle(client, replica.id)
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    logged = [event.id for event in found[1].events.since(0)]
    with anyio.fail_after(DEADLINE):
        async with client.events.stream(replica.id, last_event_id=logged[0]) as events:
            replayed = [await anext(events) for _ in logged[1:]]
    assert [event.id for event in replayed] == logged[1:]


async def test_event_stream_stops_on_404_and_409(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    with anyio.fail_after(DEADLINE), pytest.raises(NotFoundError):
        async with client.events.stream("00000000-0000-0000-0000-000000000000"):
            pass
    replica = await active_replica(client, "napper")
    await force_status(canary_sandbox, replica.id, "sleeping")
    with anyio.fail_after(DEADLINE), pytest.raises(WorkspaceSleepingError):
        async with client.events.stream(replica.id):
            pass


async def test_event_stream_ends_when_the_workspace_sleeps(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "dozer")
    await wait_idle(client, replica.id)
    opened = anyio.Event()

    async def read_all() -> None:
        async with client.events.stream(replica.id) as events:
            opened.set()
            async for _event in events:
                pass

    async def consume() -> None:
        # The server ends the stream; the reconnect is answered 409, which ends the iteration.
        with pytest.raises(WorkspaceSleepingError):
            await read_all()

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await opened.wait()
            await force_status(canary_sandbox, replica.id, "sleeping")


async def test_cancelling_a_stream_closes_its_connection(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "cancelled")
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    log = found[1].events
    with anyio.move_on_after(0.3):
        async with client.events.stream(replica.id) as events:
            async for _event in events:
                pass
    with anyio.fail_after(DEADLINE):
        while log.subscribers:
            await anyio.sleep(0.02)


async def test_errors_from_every_fault_keep_the_key_out(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    collected: list[ReplicasError] = []
    for status in (400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504):
        canary_sandbox.faults.inject_status(
            status, route=LIST, method="GET", times=3, retry_after=600 if status == 429 else None
        )
        try:
            with anyio.fail_after(DEADLINE):
                await client.replicas.list()
        except ReplicasError as error:
            collected.append(error)
        canary_sandbox.faults.clear()
    assert len(collected) == 11
    for collected_error in collected:
        assert_no_canary(collected_error)
    assert CANARY_KEY not in repr(client)
